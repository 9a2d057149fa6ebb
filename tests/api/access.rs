//! Who may call what: every route checks the caller's role and what they own.

use crate::api_support::*;
use crate::support::Backend;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

on_both_stores!(every_route_checks_the_callers_role_and_ownership,);

/// What a caller should get from a route.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// Anything but 401, 403 and 404.
    Allowed,
    Unauthenticated,
    Forbidden,
    /// Not the caller's: answered as if missing.
    Hidden,
}

async fn every_route_checks_the_callers_role_and_ownership(backend: Backend) {
    use Expect::*;
    let app = TestApp::spawn(backend).await;
    let a = app.student("openid-a").await;
    let b = app.student("openid-b").await;
    let reviewer = app.staff("reviewer").await;
    let courier = app.staff("courier").await;
    let admin = app.staff("admin").await;
    let capture = app.open_capture(&a, &WU).await;
    let (_, address) = app
        .post("/api/v1/me/addresses", &a, json!({"recipient": "吴晓兰", "phone": "13800000000", "address": "江苏省无锡市蠡湖大道1800号"}))
        .await;
    let address = address["address_id"].as_str().unwrap().to_string();
    let order = uuid::Uuid::new_v4();
    let photo = uuid::Uuid::new_v4();
    let package = uuid::Uuid::new_v4();
    let privacy = photo_ledger::consent::privacy();

    // Who gets what: [anonymous, student A (the owner), student B, reviewer, courier, admin].
    let own: [Expect; 6] = [
        Unauthenticated,
        Allowed,
        Hidden,
        Forbidden,
        Forbidden,
        Forbidden,
    ];
    let any_student = [
        Unauthenticated,
        Allowed,
        Allowed,
        Forbidden,
        Forbidden,
        Forbidden,
    ];
    let owner_or_staff = [Unauthenticated, Allowed, Hidden, Allowed, Allowed, Allowed];
    let reviewers = [
        Unauthenticated,
        Forbidden,
        Forbidden,
        Allowed,
        Forbidden,
        Allowed,
    ];
    // The order does not exist: print staff pass the role check and find nothing.
    let couriers_missing = [
        Unauthenticated,
        Forbidden,
        Forbidden,
        Forbidden,
        Hidden,
        Hidden,
    ];
    let couriers = [
        Unauthenticated,
        Forbidden,
        Forbidden,
        Forbidden,
        Allowed,
        Allowed,
    ];
    let admins = [
        Unauthenticated,
        Forbidden,
        Forbidden,
        Forbidden,
        Forbidden,
        Allowed,
    ];
    // The package does not exist: admins pass the role check and find nothing.
    let admins_missing = [
        Unauthenticated,
        Forbidden,
        Forbidden,
        Forbidden,
        Forbidden,
        Hidden,
    ];
    let none = Value::Null;
    #[rustfmt::skip]
    let routes: Vec<(Method, String, Value, [Expect; 6])> = vec![
        (Method::GET, "/api/v1/captures".into(), none.clone(), any_student),
        (Method::POST, "/api/v1/captures".into(), json!({"school": SCHOOL, "student_number": "1999000000"}), any_student),
        (Method::GET, format!("/api/v1/captures/{capture}"), none.clone(), owner_or_staff),
        // No ONNX Runtime in this service: the owner gets 503 photo.unavailable.
        (Method::POST, format!("/api/v1/captures/{capture}/photos"), json!({}), own),
        (Method::POST, format!("/api/v1/captures/{capture}/photos/{photo}/background"), json!({"background": "grey"}), own),
        (Method::POST, format!("/api/v1/captures/{capture}/submit"), json!({"standard_photo_id": photo}), own),
        (Method::POST, format!("/api/v1/captures/{capture}/withdraw"), json!({}), own),
        (Method::POST, format!("/api/v1/captures/{capture}/orders"), json!({"purpose": "reprint"}), own),
        (Method::GET, "/api/v1/me/history".into(), none.clone(), any_student),
        (Method::POST, "/api/v1/me/consent".into(), json!({"version": privacy.version, "sha256": privacy.sha256(), "face_images": true}), any_student),
        // The photo does not exist: nobody finds it.
        (Method::GET, format!("/api/v1/photos/{photo}"), none.clone(), [Unauthenticated, Hidden, Hidden, Hidden, Hidden, Hidden]),
        (Method::GET, "/api/v1/me/addresses".into(), none.clone(), any_student),
        (Method::POST, "/api/v1/me/addresses".into(), json!({"recipient": "x", "phone": "1", "address": "y"}), any_student),
        (Method::DELETE, format!("/api/v1/me/addresses/{address}"), none.clone(), own),
        // The order does not exist: its owner finds nothing too.
        (Method::POST, format!("/api/v1/captures/{capture}/orders/{order}/payment"), json!({}), [Unauthenticated, Hidden, Hidden, Forbidden, Forbidden, Forbidden]),
        (Method::POST, format!("/api/v1/dev/orders/{order}/pay"), json!({}), [Unauthenticated, Hidden, Hidden, Forbidden, Forbidden, Forbidden]),
        (Method::GET, "/api/v1/review/queue".into(), none.clone(), reviewers),
        (Method::GET, "/api/v1/review/reasons".into(), none.clone(), reviewers),
        (Method::POST, format!("/api/v1/review/captures/{capture}/claim"), json!({}), reviewers),
        (Method::POST, format!("/api/v1/review/captures/{capture}/release"), json!({}), reviewers),
        (Method::POST, format!("/api/v1/review/captures/{capture}/approve"), json!({}), reviewers),
        (Method::POST, format!("/api/v1/review/captures/{capture}/reject"), json!({"reasons": ["blurred"]}), reviewers),
        (Method::GET, "/api/v1/courier/orders?status=to_print".into(), none.clone(), couriers),
        (Method::GET, format!("/api/v1/courier/orders/{order}/sheet"), none.clone(), couriers_missing),
        (Method::POST, format!("/api/v1/courier/orders/{order}/printed"), json!({}), couriers_missing),
        (Method::POST, format!("/api/v1/courier/orders/{order}/shipped"), json!({"carrier": "顺丰", "tracking_no": "SF1"}), couriers_missing),
        (Method::GET, format!("/api/v1/admin/captures/{capture}/events"), none.clone(), admins),
        (Method::GET, format!("/api/v1/admin/audit/captures/{capture}?at=2099-01-01T00:00:00Z"), none.clone(), admins),
        (Method::GET, "/api/v1/admin/audit/views/review_queue?at=2099-01-01T00:00:00Z".into(), none.clone(), admins),
        (Method::POST, format!("/api/v1/admin/captures/{capture}/delivered"), json!({}), admins),
        // An unknown reason: admins pass the role check and are told the reason is not one we know.
        (Method::POST, format!("/api/v1/admin/captures/{capture}/erasure"), json!({"reason": "x"}), admins),
        (Method::GET, "/api/v1/admin/verification-failures".into(), none.clone(), admins),
        (Method::GET, "/api/v1/admin/schools".into(), none.clone(), admins),
        (Method::GET, "/api/v1/admin/batches".into(), none.clone(), admins),
        (Method::POST, "/api/v1/admin/schools".into(), json!({"name": "", "categories": []}), admins),
        (Method::POST, "/api/v1/admin/batches".into(), json!({"school": SCHOOL, "education_type": FULL_TIME, "price_fen": 0}), admins),
        (Method::POST, format!("/api/v1/admin/rosters?school={SCHOOL}&file_name=r.csv"), json!({}), admins),
        (Method::POST, format!("/api/v1/admin/captures/{capture}/refunds"), json!({"order_id": order, "reason": "x"}), admins),
        (Method::GET, "/api/v1/admin/refunds?state=failed".into(), none.clone(), admins),
        (Method::GET, "/api/v1/admin/locks".into(), none.clone(), admins),
        (Method::POST, "/api/v1/admin/locks/lift".into(), json!({"key": "staff:nobody", "reason": "x"}), admins),
        // No approved capture: admins are told there is nothing to deliver.
        (Method::POST, "/api/v1/admin/deliveries".into(), json!({"school": SCHOOL}), admins),
        (Method::GET, "/api/v1/admin/deliveries".into(), none.clone(), admins),
        (Method::POST, format!("/api/v1/admin/deliveries/{package}/download"), json!({}), admins_missing),
        (Method::POST, format!("/api/v1/admin/deliveries/{package}/completed"), json!({}), admins_missing),
        (Method::GET, format!("/api/v1/admin/progress?school={SCHOOL}"), none.clone(), admins),
        (Method::GET, format!("/api/v1/admin/progress/students?school={SCHOOL}&stage=not_started"), none.clone(), admins),
    ];
    let callers = [
        None,
        Some(&a),
        Some(&b),
        Some(&reviewer),
        Some(&courier),
        Some(&admin),
    ];
    let names = [
        "anonymous",
        "student A",
        "student B",
        "reviewer",
        "courier",
        "admin",
    ];
    let mut failures = vec![];
    // B goes before A so that A's own DELETE of the address runs last.
    for (method, path, body, expected) in &routes {
        for i in [0, 2, 3, 4, 5, 1] {
            let body = (!body.is_null()).then(|| body.clone());
            let (status, answer) = app
                .call(method.clone(), path, callers[i].map(String::as_str), body)
                .await;
            let ok = match expected[i] {
                Allowed => {
                    ![401, 403, 404].contains(&status.as_u16())
                        && status != StatusCode::INTERNAL_SERVER_ERROR
                }
                Unauthenticated => status == 401 && answer["code"] == "auth.missing_token",
                Forbidden => status == 403 && answer["code"] == "auth.forbidden",
                Hidden => status == 404,
            };
            if !ok {
                failures.push(format!(
                    "{method} {path} as {}: expected {:?}, got {status} {answer}",
                    names[i], expected[i]
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The OpenAPI document describes exactly these routes, sign-in, the privacy policy and WeChat
    // Pay's notifications.
    let (status, doc) = app
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let mut documented: Vec<String> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| format!("{} {path}", method.to_uppercase()))
        })
        .collect();
    let mut tested: Vec<String> = routes
        .iter()
        .map(|(method, path, _, _)| {
            let path = path
                .split('?')
                .next()
                .unwrap()
                .replace(&capture, "{capture_id}")
                .replace(&address, "{address_id}")
                .replace(&order.to_string(), "{order_id}")
                .replace(&photo.to_string(), "{photo_id}")
                .replace(&package.to_string(), "{package_id}")
                .replace("/audit/views/review_queue", "/audit/views/{view}");
            format!("{method} {path}")
        })
        .chain(["wechat", "staff", "dev"].map(|r| format!("POST /api/v1/auth/{r}")))
        // Public: what a student reads before anything else; tested on its own.
        .chain(["GET /api/v1/policies/privacy".to_string()])
        // Signed by WeChat Pay rather than a token; tested on its own.
        .chain(["POST /api/v1/payments/wechat/notify".to_string()])
        .collect();
    documented.sort();
    tested.sort();
    assert_eq!(documented, tested);
}
