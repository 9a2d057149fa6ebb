//! Malformed requests on every route group get the one error shape.

use crate::api_support::*;
use crate::support::Backend;
use reqwest::Method;
use serde_json::json;

on_both_stores!(
    malformed_input_gets_the_one_error_shape,
    control_characters_are_refused_before_any_handler,
    every_path_names_its_methods_when_it_answers_405,
);

/// A NUL (which PostgreSQL cannot store in text) or another control character, anywhere in a
/// JSON body or the query string, is refused with 422 on both stores, anonymous sign-in
/// included; tabs and line breaks in a body are kept.
async fn control_characters_are_refused_before_any_handler(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let student = app.student("openid-a").await;
    let reviewer = app.staff("reviewer").await;
    let anonymous_sign_in = app
        .call(
            Method::POST,
            "/api/v1/auth/staff",
            None,
            Some(json!({"username": "admin\u{0}", "password": "x"})),
        )
        .await;
    assert_error(&anonymous_sign_in, 422, "request.invalid");
    assert!(anonymous_sign_in.1["details"]["reason"]
        .as_str()
        .unwrap()
        .contains("U+0000"));
    for (path, body) in [
        (
            "/api/v1/me/addresses",
            json!({"recipient": "吴\u{0}晓兰", "phone": "13800000000", "address": "无锡"}),
        ),
        (
            "/api/v1/me/addresses",
            json!({"recipient": "吴晓兰", "phone": "13800000000", "address": "无锡\u{1b}[2J"}),
        ),
        (
            "/api/v1/captures",
            json!({"school": "江南大学\u{0}", "student_number": "2022010001"}),
        ),
        (
            "/api/v1/captures",
            json!({"school": SCHOOL, "student_number": "2022010001", "extra\u{7}": 1}),
        ),
    ] {
        let answer = app.post(path, &student, body.clone()).await;
        assert_error(&answer, 422, "request.invalid");
    }
    let (_, book) = app.get("/api/v1/me/addresses", &student).await;
    assert_eq!(book["addresses"], json!([]), "nothing was stored");
    let in_query = app.get("/api/v1/review/queue?school=%00", &reviewer).await;
    assert_error(&in_query, 422, "request.invalid");

    // A line break is left to the route: an address refuses it as its own rule says.
    let line_break = app
        .post(
            "/api/v1/me/addresses",
            &student,
            json!({"recipient": "吴晓兰", "phone": "13800000000", "address": "江苏省无锡市\n蠡湖大道1800号"}),
        )
        .await;
    assert_error(&line_break, 422, "address.invalid_address");
    // Invisible characters are refused by the address's rule, and look-alike names are one.
    for (recipient, address) in [
        ("吴\u{200B}晓兰", "江苏省无锡市蠡湖大道1800号"),
        ("吴晓兰", "江苏省无锡市\u{202E}号0081道大湖蠡"),
    ] {
        let answer = app
            .post(
                "/api/v1/me/addresses",
                &student,
                json!({"recipient": recipient, "phone": "13800000000", "address": address}),
            )
            .await;
        assert_eq!(answer.0, 422, "{}", answer.1);
    }
    let admin = app.staff("admin").await;
    for look_alike in ["江南\u{200B}大学", "\u{FEFF}江南大学", "江南大学\u{202E}"] {
        let answer = app
            .post(
                "/api/v1/admin/schools",
                &admin,
                json!({"name": look_alike, "categories": [FULL_TIME]}),
            )
            .await;
        assert_error(&answer, 422, "eligibility.invalid_input");
    }
    let (_, schools) = app.get("/api/v1/admin/schools", &admin).await;
    assert_eq!(schools["schools"].as_array().unwrap().len(), 1, "{schools}");
}

/// A method a path does not answer gets 405 with `Allow` naming those it does, on every path
/// of the OpenAPI document and on the health routes.
async fn every_path_names_its_methods_when_it_answers_405(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let document: serde_json::Value = reqwest::get(app.url("/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = uuid::Uuid::new_v4().to_string();
    let mut checked = 0;
    for (pattern, operations) in document["paths"].as_object().unwrap() {
        let path: String = pattern
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    id.as_str()
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let mut expected: Vec<String> = operations
            .as_object()
            .unwrap()
            .keys()
            .map(|m| m.to_uppercase())
            .collect();
        expected.sort();
        let answer = app
            .client
            .request(Method::PUT, app.url(&path))
            .send()
            .await
            .unwrap();
        let allow = answer
            .headers()
            .get("allow")
            .map(|v| v.to_str().unwrap().to_string());
        let (status, body) = read(answer).await;
        assert_eq!(status, 405, "PUT {path}: {body}");
        assert_eq!(body["code"], "http.method_not_allowed");
        let mut allowed: Vec<String> = allow
            .unwrap_or_else(|| panic!("PUT {path}: no Allow"))
            .split(", ")
            .map(str::to_string)
            .collect();
        allowed.sort();
        assert_eq!(allowed, expected, "Allow of {pattern}");
        checked += 1;
    }
    assert!(checked > 30, "{checked} paths");
    let health = app
        .client
        .request(Method::POST, app.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 405);
    assert_eq!(health.headers()["allow"], "GET");
}

async fn malformed_input_gets_the_one_error_shape(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let student = app.student("openid-a").await;
    let capture = app.open_capture(&student, &WU).await;
    let raw = |method: Method, path: &str| {
        app.client
            .request(method, app.url(path))
            .bearer_auth(&student)
    };

    let unknown = read(
        raw(Method::GET, "/api/v1/nothing/here")
            .header("x-request-id", "req-7")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(&unknown, 404, "http.not_found");
    assert_eq!(unknown.1["request_id"], "req-7");
    let method = read(
        raw(Method::DELETE, "/api/v1/captures")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(&method, 405, "http.method_not_allowed");
    let malformed = read(
        raw(Method::POST, "/api/v1/captures")
            .header("content-type", "application/json")
            .body("{\"school\": ")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(&malformed, 400, "http.malformed_json");
    let text = read(
        raw(Method::POST, "/api/v1/me/addresses")
            .body("hello")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(&text, 415, "http.unsupported_media_type");
    let huge = read(
        raw(Method::POST, "/api/v1/me/addresses")
            .json(&json!({"recipient": "x".repeat(100_000), "phone": "1", "address": "y"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(&huge, 413, "http.payload_too_large");
    let unknown_field = app
        .post("/api/v1/me/addresses", &student, json!({"recipient": "吴", "phone": "13800000000", "address": "无锡市蠡湖大道", "zip": 1}))
        .await;
    assert_error(&unknown_field, 422, "request.invalid");
    let wrong_type = app
        .post(
            &format!("/api/v1/captures/{capture}/submit"),
            &student,
            json!({"standard_photo_id": 42}),
        )
        .await;
    assert_error(&wrong_type, 422, "request.invalid");
    let bad_id = app.get("/api/v1/captures/not-a-uuid", &student).await;
    assert_error(&bad_id, 404, "http.not_found");
    let missing_capture = app
        .get(
            &format!("/api/v1/captures/{}", uuid::Uuid::new_v4()),
            &student,
        )
        .await;
    assert_error(&missing_capture, 404, "capture.not_found");
    let bad_phone = app
        .post(
            "/api/v1/me/addresses",
            &student,
            json!({"recipient": "吴晓兰", "phone": "12", "address": "无锡市蠡湖大道1800号"}),
        )
        .await;
    assert_error(&bad_phone, 422, "address.invalid_phone");
    let no_proof = app
        .post("/api/v1/captures", &student, json!({"school": SCHOOL}))
        .await;
    assert_error(&no_proof, 422, "request.invalid");
    let bad_image = app
        .post("/api/v1/captures", &student, json!({"school": SCHOOL, "education_type": FULL_TIME, "collection_code_image": "%%%", "id_last4": "1226"}))
        .await;
    assert_error(&bad_image, 422, "request.invalid");
    let bad_purpose = app
        .order(&student, &capture, json!({"purpose": "gift"}))
        .await;
    assert_error(&bad_purpose, 422, "request.invalid");

    let reviewer = app.staff("reviewer").await;
    let bad_limit = app.get("/api/v1/review/queue?limit=0", &reviewer).await;
    assert_error(&bad_limit, 400, "http.invalid_query");
    let not_a_number = app.get("/api/v1/review/queue?limit=many", &reviewer).await;
    assert_error(&not_a_number, 400, "http.invalid_query");
    let bad_cursor = app.get("/api/v1/review/queue?after=xyz", &reviewer).await;
    assert_error(&bad_cursor, 400, "http.invalid_query");
    let unknown_reason = app
        .post(
            &format!("/api/v1/review/captures/{capture}/reject"),
            &reviewer,
            json!({"reasons": ["ugly"]}),
        )
        .await;
    // Not in review yet: the capture's state is checked first.
    assert_error(&unknown_reason, 409, "capture.not_in_review");
    let courier = app.staff("courier").await;
    let bad_status = app
        .get("/api/v1/courier/orders?status=lost", &courier)
        .await;
    assert_error(&bad_status, 400, "http.invalid_query");
    let no_order = app
        .post(
            &format!("/api/v1/courier/orders/{}/printed", uuid::Uuid::new_v4()),
            &courier,
            json!({}),
        )
        .await;
    assert_error(&no_order, 404, "order.not_found");
    let bad_key = read(
        raw(Method::POST, "/api/v1/me/addresses")
            .header("idempotency-key", "")
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(&bad_key, 400, "idempotency.invalid_key");
}
