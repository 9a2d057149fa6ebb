//! The REST API over real HTTP, on SQLite and PostgreSQL: signing in, the one error shape,
//! the student, reviewer, print-staff and admin flows, idempotent retries and who may call what.

mod api_support;
#[macro_use]
mod support;

use api_support::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::Backend;

on_both_stores!(
    students_and_staff_sign_in_and_tokens_are_checked,
    wechat_sign_in_goes_through_jscode2session,
    malformed_input_gets_the_one_error_shape,
    the_three_proofs_open_a_capture_and_verifying_again_returns_it,
    a_paid_collection_is_rejected_then_approved_and_delivered,
    a_withdrawal_while_in_review_and_a_resubmission,
    paper_prints_are_mailed_and_shipped_by_print_staff,
    a_retried_post_returns_the_first_response,
    concurrent_posts_with_one_key_act_once,
    payment_notifications_are_verified_and_recorded_once,
    orders_carry_wechat_pay_parameters_from_jsapi_prepay,
    a_payment_whose_notification_never_comes_is_found_by_order_query,
    the_exam_photo_flow_free_by_student_number_on_grey,
    a_photo_is_uploaded_standardised_and_submitted,
    a_capture_full_of_photos_refuses_more_before_standardising,
    status_reads_in_one_batch_each_get_their_own_capture,
    photos_are_kept_in_an_s3_compatible_bucket,
    admins_set_up_a_school_batch_and_roster_over_http,
    every_route_checks_the_callers_role_and_ownership,
);

async fn students_and_staff_sign_in_and_tokens_are_checked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let student = app.student("openid-a").await;
    let (status, body) = app.get("/api/v1/captures", &student).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["captures"], json!([]));

    let reviewer = app.staff("reviewer").await;
    assert_eq!(app.get("/api/v1/review/reasons", &reviewer).await.0, 200);

    let wrong = app
        .call(
            Method::POST,
            "/api/v1/auth/staff",
            None,
            Some(json!({"username": "reviewer", "password": "not the password"})),
        )
        .await;
    assert_error(&wrong, 401, "auth.bad_credentials");
    let unknown = app
        .call(
            Method::POST,
            "/api/v1/auth/staff",
            None,
            Some(json!({"username": "nobody", "password": STAFF_PASSWORD})),
        )
        .await;
    assert_error(&unknown, 401, "auth.bad_credentials");

    let missing = app.call(Method::GET, "/api/v1/captures", None, None).await;
    assert_error(&missing, 401, "auth.missing_token");
    let mut forged = student.clone();
    forged.pop();
    forged.push(if student.ends_with('A') { 'B' } else { 'A' });
    assert_error(
        &app.get("/api/v1/captures", &forged).await,
        401,
        "auth.invalid_token",
    );
    assert_error(
        &app.get("/api/v1/captures", "garbage").await,
        401,
        "auth.invalid_token",
    );

    // A token signed with another secret, and one that expired, are refused.
    let other = photo_ledger::http::token::TokenKeys::new(&[9; 32]).unwrap();
    let now = chrono::Utc::now();
    let foreign = other.issue(
        "openid-a",
        photo_ledger::http::token::Role::Admin,
        chrono::Duration::hours(1),
        now,
    );
    assert_error(
        &app.get("/api/v1/admin/schools", &foreign.token).await,
        401,
        "auth.invalid_token",
    );
    let ours =
        photo_ledger::http::token::TokenKeys::new(b"a test token secret of at least 32 bytes")
            .unwrap();
    let expired = ours.issue(
        "openid-a",
        photo_ledger::http::token::Role::Student,
        chrono::Duration::seconds(-1),
        now,
    );
    assert_error(
        &app.get("/api/v1/captures", &expired.token).await,
        401,
        "auth.token_expired",
    );
    let fresh = ours.issue(
        "openid-a",
        photo_ledger::http::token::Role::Student,
        chrono::Duration::hours(1),
        now,
    );
    assert_eq!(app.get("/api/v1/captures", &fresh.token).await.0, 200);

    // Without --dev there is no development sign-in.
    let production = TestApp::spawn_with(backend, |s| s.dev = false).await;
    let dev = production
        .call(
            Method::POST,
            "/api/v1/auth/dev",
            None,
            Some(json!({"openid": "x"})),
        )
        .await;
    assert_error(&dev, 404, "http.not_found");
}

async fn wechat_sign_in_goes_through_jscode2session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/auth/wechat",
            None,
            Some(json!({"code": "good-wx-openid-1"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["expires_at"].is_string(), "{body}");
    assert_eq!(body["role"], "student");
    let token = body["token"].as_str().unwrap();
    // The token is the openid's: the capture opened with it belongs to that openid.
    let capture = app.open_capture(token, &WU).await;
    let same = app.student("wx-openid-1").await;
    assert_eq!(
        app.get(&format!("/api/v1/captures/{capture}"), &same)
            .await
            .0,
        200
    );

    let used = app
        .call(
            Method::POST,
            "/api/v1/auth/wechat",
            None,
            Some(json!({"code": "used"})),
        )
        .await;
    assert_error(&used, 401, "auth.wechat_code_invalid");
    let outage = app
        .call(
            Method::POST,
            "/api/v1/auth/wechat",
            None,
            Some(json!({"code": "anything"})),
        )
        .await;
    assert_error(&outage, 502, "auth.wechat_unavailable");
    let empty = app
        .call(
            Method::POST,
            "/api/v1/auth/wechat",
            None,
            Some(json!({"code": ""})),
        )
        .await;
    assert_error(&empty, 422, "request.invalid");

    let unconfigured = TestApp::spawn_with(backend, |s| s.api.wechat.app_secret = None).await;
    let refused = unconfigured
        .call(
            Method::POST,
            "/api/v1/auth/wechat",
            None,
            Some(json!({"code": "good-x"})),
        )
        .await;
    assert_error(&refused, 503, "auth.wechat_not_configured");
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

async fn the_three_proofs_open_a_capture_and_verifying_again_returns_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = app.student("openid-a").await;
    let (status, opened) = app
        .post(
            "/api/v1/captures",
            &a,
            json!({"school": SCHOOL, "education_type": FULL_TIME, "collection_code": app.collection_code(&WU), "id_last4": WU.last4()}),
        )
        .await;
    assert_eq!(status, 201, "{opened}");
    assert_eq!(opened["created"], true);
    assert_eq!(opened["status"], "awaiting_payment");
    assert_eq!(opened["status_label"], "待支付");
    assert_eq!(opened["student"]["school"], SCHOOL);
    assert_eq!(opened["student"]["education_type"], FULL_TIME);
    let masked = opened["student"]["id_masked"].as_str().unwrap();
    assert!(!masked.contains("20040815"), "{masked}");
    assert_ne!(opened["student"]["name_masked"], WU.name);
    assert_eq!(
        opened["capture"]["next_actions"],
        json!(["pay", "order_prints"])
    );
    let capture = opened["capture_id"].as_str().unwrap();

    // The same record by student number from the same account: the same capture, 200.
    let (status, again) = app
        .post(
            "/api/v1/captures",
            &a,
            json!({"school": SCHOOL, "student_number": WU.number}),
        )
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["capture_id"], capture);
    assert_eq!(again["created"], false);

    // Another account cannot take it.
    let b = app.student("openid-b").await;
    let taken = app
        .post(
            "/api/v1/captures",
            &b,
            json!({"school": SCHOOL, "student_number": WU.number}),
        )
        .await;
    assert_error(&taken, 409, "eligibility.claimed_by_another");

    // The batch's feature code with a picture of the collection code.
    let png = photo_ledger::eligibility::qr::render_png(&app.collection_code(&OUYANG)).unwrap();
    let (status, by_feature) = app
        .post(
            "/api/v1/captures",
            &b,
            json!({"feature_code": app.batch.feature_code.as_str(), "collection_code_image": data_encoding::BASE64.encode(&png), "id_last4": OUYANG.last4()}),
        )
        .await;
    assert_eq!(status, 201, "{by_feature}");
    let wrong_last4 = app
        .post(
            "/api/v1/captures",
            &b,
            json!({"feature_code": app.batch.feature_code.as_str(), "collection_code": app.collection_code(&OUYANG), "id_last4": "9999"}),
        )
        .await;
    assert_error(&wrong_last4, 422, "eligibility.last4_mismatch");
    let not_listed = app
        .post(
            "/api/v1/captures",
            &b,
            json!({"school": SCHOOL, "student_number": "1999000000"}),
        )
        .await;
    assert_error(&not_listed, 422, "eligibility.not_on_roster");

    // Each student lists only their own.
    let (_, mine) = app.get("/api/v1/captures", &a).await;
    let ids: Vec<&Value> = mine["captures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["capture_id"])
        .collect();
    assert_eq!(ids, vec![&json!(capture)]);
    let (_, theirs) = app.get("/api/v1/captures", &b).await;
    assert_eq!(
        theirs["captures"][0]["capture_id"],
        by_feature["capture_id"]
    );
}

/// Opens WU's capture for `student` and pays the collection fee; returns the capture id.
/// Where a student asks for an upload on another background.
fn background_path(capture: &str, photo_id: &str) -> String {
    format!("/api/v1/captures/{capture}/photos/{photo_id}/background")
}

async fn paid_capture(app: &TestApp, student: &str) -> String {
    let capture = app.open_capture(student, &WU).await;
    pay_fee(app, student, &capture).await;
    capture
}

/// Orders the collection fee and pays it through WeChat Pay's notification.
async fn pay_fee(app: &TestApp, student: &str, capture: &str) {
    let order_id = order_fee(app, student, capture).await;
    app.pay(&order_id, FEE_FEN).await;
}

/// Orders the collection fee; returns the order's id.
async fn order_fee(app: &TestApp, student: &str, capture: &str) -> String {
    let (status, order) = app
        .order(student, capture, json!({"purpose": "collection"}))
        .await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["amount_fen"], FEE_FEN);
    assert_eq!(order["state"], "awaiting_payment");
    order["order_id"].as_str().unwrap().to_string()
}

/// 毕业照片: the collection code and the last four, the fee paid through WeChat Pay's
/// notification, a real photo rejected with reasons, a new photo approved, delivered to 学信网.
async fn a_paid_collection_is_rejected_then_approved_and_delivered(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_photos).await;
    let student = app.student("openid-a").await;
    let (status, opened) = app
        .post(
            "/api/v1/captures",
            &student,
            json!({"school": SCHOOL, "education_type": FULL_TIME, "collection_code": app.collection_code(&WU), "id_last4": WU.last4()}),
        )
        .await;
    assert_eq!(status, 201, "{opened}");
    let capture = opened["capture_id"].as_str().unwrap().to_string();
    let early = app.upload(&capture, &student, astronaut(), "camera").await;
    assert_error(&early, 409, "capture.payment_required");
    // Refused before any standardisation.
    let metrics = app.metrics().await;
    assert!(
        !metrics.contains("photo_ledger_photo_standardisation_seconds_count"),
        "{metrics}"
    );
    pay_fee(&app, &student, &capture).await;
    let (_, view) = app
        .get(&format!("/api/v1/captures/{capture}"), &student)
        .await;
    assert_eq!(view["status"], "awaiting_photo", "{view}");

    let photo = app.standard_photo_of(&capture, &student).await;
    let (status, submitted) = app
        .post(
            &format!("/api/v1/captures/{capture}/submit"),
            &student,
            json!({"standard_photo_id": photo}),
        )
        .await;
    assert_eq!(status, 200, "{submitted}");
    assert_eq!(submitted["status"], "in_review");

    let reviewer = app.staff("reviewer").await;
    let (_, reasons) = app.get("/api/v1/review/reasons", &reviewer).await;
    assert!(reasons["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["code"] == "blurred" && r["label"] == "照片模糊"));
    let (_, queue) = app
        .get(
            &format!("/api/v1/review/queue?school={}", app.school_id),
            &reviewer,
        )
        .await;
    assert_eq!(queue["items"][0]["capture_id"], capture.as_str(), "{queue}");
    let (_, elsewhere) = app
        .get("/api/v1/review/queue?school=another-school", &reviewer)
        .await;
    assert_eq!(elsewhere["items"], json!([]));

    let (status, claimed) = app
        .post(
            &format!("/api/v1/review/captures/{capture}/claim"),
            &reviewer,
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{claimed}");
    let admin = app.staff("admin").await;
    let held = app
        .post(
            &format!("/api/v1/review/captures/{capture}/approve"),
            &admin,
            json!({}),
        )
        .await;
    assert_error(&held, 409, "capture.claimed_by_another");
    let unknown = app
        .post(
            &format!("/api/v1/review/captures/{capture}/reject"),
            &reviewer,
            json!({"reasons": ["ugly"], "note": ""}),
        )
        .await;
    assert_error(&unknown, 422, "capture.unknown_reject_reason");
    let (status, rejected) = app
        .post(
            &format!("/api/v1/review/captures/{capture}/reject"),
            &reviewer,
            json!({"reasons": ["blurred", "too_dark"], "note": "请在光线充足处重拍"}),
        )
        .await;
    assert_eq!(status, 200, "{rejected}");

    let (_, seen) = app
        .get(&format!("/api/v1/captures/{capture}"), &student)
        .await;
    assert_eq!(seen["status"], "rejected");
    assert_eq!(
        seen["reject_reasons"],
        json!([{"code": "blurred", "label": "照片模糊"}, {"code": "too_dark", "label": "照片过暗"}])
    );
    assert_eq!(seen["reject_note"], "请在光线充足处重拍");
    let (_, queue) = app.get("/api/v1/review/queue", &reviewer).await;
    assert_eq!(queue["items"], json!([]));

    let photo = app.standard_photo_of(&capture, &student).await;
    app.post(
        &format!("/api/v1/captures/{capture}/submit"),
        &student,
        json!({"standard_photo_id": photo}),
    )
    .await;
    let (status, approved) = app
        .post(
            &format!("/api/v1/review/captures/{capture}/approve"),
            &reviewer,
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["status"], "approved");
    let locked = app
        .post(
            &format!("/api/v1/captures/{capture}/withdraw"),
            &student,
            json!({}),
        )
        .await;
    assert_error(&locked, 409, "capture.locked");

    let (status, delivered) = app
        .post(
            &format!("/api/v1/admin/captures/{capture}/delivered"),
            &admin,
            json!({"stage": "completed"}),
        )
        .await;
    assert_eq!(status, 200, "{delivered}");
    assert_eq!(delivered["status"], "delivered");
    assert_eq!(delivered["chsi_stage"], "已完成");

    let (status, audit) = app
        .get(&format!("/api/v1/admin/captures/{capture}/events"), &admin)
        .await;
    assert_eq!(status, 200, "{audit}");
    let types: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(types.first(), Some(&"QualificationVerified"), "{types:?}");
    assert_eq!(types.last(), Some(&"DeliveredToChsi"), "{types:?}");
    assert!(
        types.contains(&"Rejected") && types.contains(&"Approved"),
        "{types:?}"
    );
    let rejected_event = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_type"] == "Rejected")
        .unwrap();
    assert_eq!(
        rejected_event["metadata"]["actor"],
        json!({"kind": "reviewer", "id": "reviewer"})
    );
}

/// 集中采集: the batch's feature code with the collection code, a real photo withdrawn while
/// pending and submitted again.
async fn a_withdrawal_while_in_review_and_a_resubmission(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_photos).await;
    let student = app.student("openid-a").await;
    let (status, opened) = app
        .post(
            "/api/v1/captures",
            &student,
            json!({"feature_code": app.batch.feature_code.as_str(), "collection_code": app.collection_code(&WU), "id_last4": WU.last4()}),
        )
        .await;
    assert_eq!(status, 201, "{opened}");
    let capture = opened["capture_id"].as_str().unwrap().to_string();
    pay_fee(&app, &student, &capture).await;
    let photo = app.standard_photo_of(&capture, &student).await;
    let submit = json!({"standard_photo_id": photo});
    app.post(
        &format!("/api/v1/captures/{capture}/submit"),
        &student,
        submit.clone(),
    )
    .await;
    let twice = app
        .post(
            &format!("/api/v1/captures/{capture}/submit"),
            &student,
            submit.clone(),
        )
        .await;
    assert_error(&twice, 409, "capture.already_in_review");
    let (status, withdrawn) = app
        .post(
            &format!("/api/v1/captures/{capture}/withdraw"),
            &student,
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{withdrawn}");
    assert_eq!(withdrawn["status"], "awaiting_submission");
    let reviewer = app.staff("reviewer").await;
    let (_, queue) = app.get("/api/v1/review/queue", &reviewer).await;
    assert_eq!(queue["items"], json!([]));
    let again = app
        .post(
            &format!("/api/v1/captures/{capture}/withdraw"),
            &student,
            json!({}),
        )
        .await;
    assert_error(&again, 409, "capture.not_in_review");
    let (status, resubmitted) = app
        .post(
            &format!("/api/v1/captures/{capture}/submit"),
            &student,
            submit,
        )
        .await;
    assert_eq!(status, 200, "{resubmitted}");
    assert_eq!(resubmitted["status"], "in_review");
    let (_, queue) = app.get("/api/v1/review/queue?limit=1", &reviewer).await;
    assert_eq!(queue["items"][0]["capture_id"], capture.as_str());
    assert!(queue.get("next").is_none(), "{queue}");
    // The metrics count requests by route pattern (never an id) and commands by outcome code.
    let text = app.metrics().await;
    for line in [
        r#"photo_ledger_ledger_commands_total{command="submit",outcome="ok"} 2"#,
        r#"photo_ledger_ledger_commands_total{command="submit",outcome="capture.already_in_review"} 1"#,
        r#"photo_ledger_ledger_commands_total{command="withdraw",outcome="capture.not_in_review"} 1"#,
        r#"photo_ledger_http_requests_total{method="POST",route="/api/v1/captures/{capture_id}/submit",status="409"} 1"#,
        r#"photo_ledger_verifications_total{outcome="created"} 1"#,
        "photo_ledger_projection_lag_events 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line} missing from\n{text}"
        );
    }
    assert!(text.contains("photo_ledger_http_request_duration_seconds_bucket"));
    assert!(!text.contains(&capture), "ids stay out of metric labels");
}

async fn paper_prints_are_mailed_and_shipped_by_print_staff(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let student = app.student("openid-a").await;
    let capture = app.open_capture(&student, &WU).await;

    let (status, address) = app
        .post("/api/v1/me/addresses", &student, json!({"recipient": "吴晓兰", "phone": "138 0000 0000", "address": "江苏省无锡市蠡湖大道1800号"}))
        .await;
    assert_eq!(status, 201, "{address}");
    assert_eq!(address["phone"], "13800000000");
    let address_id = address["address_id"].as_str().unwrap();
    let (_, spare) = app
        .post(
            "/api/v1/me/addresses",
            &student,
            json!({"recipient": "吴晓兰", "phone": "13800000001", "address": "江苏省无锡市梁溪区"}),
        )
        .await;
    let spare_id = spare["address_id"].as_str().unwrap();
    let (_, book) = app.get("/api/v1/me/addresses", &student).await;
    assert_eq!(book["addresses"].as_array().unwrap().len(), 2);
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/me/addresses/{spare_id}"),
            Some(&student),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let gone = app
        .call(
            Method::DELETE,
            &format!("/api/v1/me/addresses/{spare_id}"),
            Some(&student),
            None,
        )
        .await;
    assert_error(&gone, 404, "address.not_found");

    // Another student's address book is not theirs to use.
    let other = app.student("openid-b").await;
    let (_, book) = app.get("/api/v1/me/addresses", &other).await;
    assert_eq!(book["addresses"], json!([]));

    let no_address = app
        .order(
            &student,
            &capture,
            json!({"purpose": "collection", "layout": "one"}),
        )
        .await;
    assert_error(&no_address, 422, "request.invalid");
    let (status, order) = app
        .order(&student, &capture, json!({"purpose": "collection", "layout": "one", "sheets": 2, "address_id": address_id}))
        .await;
    assert_eq!(status, 201, "{order}");
    // The fee and two sheets.
    assert_eq!(order["amount_fen"], FEE_FEN + 2 * SHEET_FEN);
    let order_id = order["order_id"].as_str().unwrap().to_string();

    let courier = app.staff("courier").await;
    let (_, to_print) = app
        .get("/api/v1/courier/orders?status=to_print", &courier)
        .await;
    assert_eq!(
        to_print["orders"],
        json!([]),
        "unpaid orders are not printed"
    );
    app.pay(&order_id, FEE_FEN + 2 * SHEET_FEN).await;
    let (_, to_print) = app
        .get("/api/v1/courier/orders?status=to_print", &courier)
        .await;
    assert_eq!(
        to_print["orders"][0]["order_id"],
        order_id.as_str(),
        "{to_print}"
    );
    assert_eq!(
        to_print["orders"][0]["address"],
        "江苏省无锡市蠡湖大道1800号"
    );
    assert_eq!(to_print["orders"][0]["sheets"], 2);

    // Nothing is printed before a reviewer approves the photo.
    let early = app
        .post(
            &format!("/api/v1/courier/orders/{order_id}/printed"),
            &courier,
            json!({}),
        )
        .await;
    assert_error(&early, 409, "capture.not_approved");
    let photo = app.standard_photo(&capture).await;
    app.post(
        &format!("/api/v1/captures/{capture}/submit"),
        &student,
        json!({"standard_photo_id": photo}),
    )
    .await;
    let reviewer = app.staff("reviewer").await;
    let (status, _) = app
        .post(
            &format!("/api/v1/review/captures/{capture}/approve"),
            &reviewer,
            json!({}),
        )
        .await;
    assert_eq!(status, 200);

    let (status, printed) = app
        .post(
            &format!("/api/v1/courier/orders/{order_id}/printed"),
            &courier,
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{printed}");
    assert_eq!(printed["status"], "to_ship");
    assert_eq!(printed["approved_photo_id"], photo.as_str());
    let (_, to_print) = app
        .get("/api/v1/courier/orders?status=to_print", &courier)
        .await;
    assert_eq!(to_print["orders"], json!([]));
    let untracked = app
        .post(
            &format!("/api/v1/courier/orders/{order_id}/shipped"),
            &courier,
            json!({"carrier": "顺丰", "tracking_no": " "}),
        )
        .await;
    assert_error(&untracked, 422, "capture.tracking_required");
    let garbled = app
        .post(
            &format!("/api/v1/courier/orders/{order_id}/shipped"),
            &courier,
            json!({"carrier": "顺丰", "tracking_no": "SF12\u{7}34"}),
        )
        .await;
    assert_error(&garbled, 422, "request.invalid");
    let (status, shipped) = app
        .post(
            &format!("/api/v1/courier/orders/{order_id}/shipped"),
            &courier,
            json!({"carrier": "顺丰", "tracking_no": "SF1234567890"}),
        )
        .await;
    assert_eq!(status, 200, "{shipped}");
    assert_eq!(shipped["status"], "shipped");
    let (_, done) = app
        .get("/api/v1/courier/orders?status=shipped", &courier)
        .await;
    assert_eq!(done["orders"][0]["order_id"], order_id.as_str());
    let (_, seen) = app
        .get(&format!("/api/v1/captures/{capture}"), &student)
        .await;
    assert_eq!(seen["orders"][0]["tracking_no"], "SF1234567890", "{seen}");
    assert_eq!(seen["orders"][0]["state"], "shipped");

    // A reprint (加洗) of the approved photo, 版式一, one sheet, to the same address.
    let (status, reprint) = app
        .order(
            &student,
            &capture,
            json!({"purpose": "reprint", "layout": "one", "address_id": address_id}),
        )
        .await;
    assert_eq!(status, 201, "{reprint}");
    assert_eq!(reprint["amount_fen"], SHEET_FEN);
    let reprint_id = reprint["order_id"].as_str().unwrap();
    app.pay(reprint_id, SHEET_FEN).await;
    let (_, to_print) = app
        .get("/api/v1/courier/orders?status=to_print", &courier)
        .await;
    let queued = &to_print["orders"][0];
    assert_eq!(queued["order_id"], reprint_id, "{to_print}");
    assert_eq!(queued["purpose"], "reprint");
    assert_eq!(queued["layout"], "one");
    assert_eq!(queued["approved_photo_id"], photo.as_str());
}

async fn a_retried_post_returns_the_first_response(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let student = app.student("openid-a").await;
    let post = |token: &str, key: &str, body: Value| {
        app.keyed_post("/api/v1/me/addresses", token, key)
            .json(&body)
            .send()
    };
    let body = json!({"recipient": "吴晓兰", "phone": "13800000000", "address": "江苏省无锡市蠡湖大道1800号"});
    let first = post(&student, "key-1", body.clone()).await.unwrap();
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotency-replayed").is_none());
    let first = read(first).await.1;
    let retry = post(&student, "key-1", body.clone()).await.unwrap();
    assert_eq!(retry.status(), 201);
    assert_eq!(retry.headers()["idempotency-replayed"], "true");
    assert_eq!(read(retry).await.1, first);
    let (_, book) = app.get("/api/v1/me/addresses", &student).await;
    assert_eq!(
        book["addresses"].as_array().unwrap().len(),
        1,
        "the retry added nothing"
    );

    let reused = read(
        post(
            &student,
            "key-1",
            json!({"recipient": "别人", "phone": "13800000000", "address": "江苏省无锡市蠡湖大道"}),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_error(&reused, 422, "idempotency.key_reused");
    // Once purged (after http.idempotency_ttl_hours), the key acts again.
    let purged = photo_ledger::http::idempotency::purge(
        app.ledger.db(),
        chrono::Utc::now() + chrono::Duration::seconds(1),
    )
    .await
    .unwrap();
    assert!(purged >= 1);
    let fresh = post(&student, "key-1", body.clone()).await.unwrap();
    assert_eq!(fresh.status(), 201);
    assert!(fresh.headers().get("idempotency-replayed").is_none());
    let (_, book) = app.get("/api/v1/me/addresses", &student).await;
    assert_eq!(book["addresses"].as_array().unwrap().len(), 2);

    // Keys are per caller.
    let other = app.student("openid-b").await;
    let theirs = read(post(&other, "key-1", body).await.unwrap()).await;
    assert_eq!(theirs.0, 201);
    assert_ne!(theirs.1["address_id"], first["address_id"]);

    // Sign-in answers carry tokens and are never stored, even for a signed-in caller.
    for _ in 0..2 {
        let signed_in = app
            .keyed_post("/api/v1/auth/dev", &student, "sign-in-1")
            .json(&json!({"openid": "openid-a"}))
            .send()
            .await
            .unwrap();
        assert_eq!(signed_in.status(), 200);
        assert!(signed_in.headers().get("idempotency-replayed").is_none());
    }

    // A retried order is one order.
    let capture = app.open_capture(&student, &WU).await;
    let order = || {
        app.keyed_post(
            &format!("/api/v1/captures/{capture}/orders"),
            &student,
            "order-1",
        )
        .json(&json!({"purpose": "collection"}))
        .send()
    };
    let (status, placed) = read(order().await.unwrap()).await;
    assert_eq!(status, 201, "{placed}");
    let (status, again) = read(order().await.unwrap()).await;
    assert_eq!(status, 201);
    assert_eq!(again["order_id"], placed["order_id"]);
    let (_, view) = app
        .get(&format!("/api/v1/captures/{capture}"), &student)
        .await;
    assert_eq!(view["orders"].as_array().unwrap().len(), 1);
    // A refusal is a response too: its retry is the same refusal.
    let refused = || {
        app.keyed_post(
            &format!("/api/v1/captures/{capture}/withdraw"),
            &student,
            "withdraw-1",
        )
        .send()
    };
    let first = read(refused().await.unwrap()).await;
    assert_error(&first, 409, "capture.not_in_review");
    assert_eq!(read(refused().await.unwrap()).await.1, first.1);
}

async fn concurrent_posts_with_one_key_act_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let student = app.student(PAY_HELD_OPENID).await;
    let capture = app.open_capture(&student, &WU).await;
    let place = || {
        app.keyed_post(
            &format!("/api/v1/captures/{capture}/orders"),
            &student,
            "fee-held",
        )
        .json(&json!({"purpose": "collection"}))
        .send()
    };
    // The first request places the order and then waits inside its handler for WeChat Pay's
    // prepay answer, which the fake holds.
    let first = tokio::spawn(place());
    app.wechat_pay.held_prepays(1).await;
    let second = tokio::time::timeout(std::time::Duration::from_secs(10), place())
        .await
        .expect("the second request is answered while the first is still running")
        .unwrap();
    assert_error(&read(second).await, 409, "idempotency.in_progress");

    app.wechat_pay.release_prepays(1);
    let first = first.await.unwrap().unwrap();
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotency-replayed").is_none());
    let first = read(first).await.1;
    assert!(first["payment"]["package"].is_string(), "{first}");
    let replayed = place().await.unwrap();
    assert_eq!(replayed.status(), 201);
    assert_eq!(replayed.headers()["idempotency-replayed"], "true");
    assert_eq!(read(replayed).await.1, first);
    let (_, view) = app
        .get(&format!("/api/v1/captures/{capture}"), &student)
        .await;
    assert_eq!(view["orders"].as_array().unwrap().len(), 1, "{view}");
}

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
        (Method::POST, format!("/api/v1/review/captures/{capture}/approve"), json!({}), reviewers),
        (Method::POST, format!("/api/v1/review/captures/{capture}/reject"), json!({"reasons": ["blurred"]}), reviewers),
        (Method::GET, "/api/v1/courier/orders?status=to_print".into(), none.clone(), couriers),
        (Method::GET, format!("/api/v1/courier/orders/{order}/sheet"), none.clone(), couriers_missing),
        (Method::POST, format!("/api/v1/courier/orders/{order}/printed"), json!({}), couriers_missing),
        (Method::POST, format!("/api/v1/courier/orders/{order}/shipped"), json!({"carrier": "顺丰", "tracking_no": "SF1"}), couriers_missing),
        (Method::GET, format!("/api/v1/admin/captures/{capture}/events"), none.clone(), admins),
        (Method::POST, format!("/api/v1/admin/captures/{capture}/delivered"), json!({}), admins),
        (Method::GET, "/api/v1/admin/verification-failures".into(), none.clone(), admins),
        (Method::GET, "/api/v1/admin/schools".into(), none.clone(), admins),
        (Method::GET, "/api/v1/admin/batches".into(), none.clone(), admins),
        (Method::POST, "/api/v1/admin/schools".into(), json!({"name": "", "categories": []}), admins),
        (Method::POST, "/api/v1/admin/batches".into(), json!({"school": SCHOOL, "education_type": FULL_TIME, "price_fen": 0}), admins),
        (Method::POST, format!("/api/v1/admin/rosters?school={SCHOOL}&file_name=r.csv"), json!({}), admins),
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

    // The OpenAPI document describes exactly these routes, sign-in and WeChat Pay's notifications.
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
                .replace(&photo.to_string(), "{photo_id}");
            format!("{method} {path}")
        })
        .chain(["wechat", "staff", "dev"].map(|r| format!("POST /api/v1/auth/{r}")))
        // Signed by WeChat Pay rather than a token; tested on its own.
        .chain(["POST /api/v1/payments/wechat/notify".to_string()])
        .collect();
    documented.sort();
    tested.sort();
    assert_eq!(documented, tested);
}

async fn admins_set_up_a_school_batch_and_roster_over_http(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.api.http.roster_limit_bytes = 4096).await;
    let admin = app.staff("admin").await;
    let school = "太湖学院";
    let (status, added) = app
        .post(
            "/api/v1/admin/schools",
            &admin,
            json!({"name": school, "categories": ["开放教育"]}),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    let (status, widened) = app
        .post(
            "/api/v1/admin/schools",
            &admin,
            json!({"name": school, "categories": ["网络教育"]}),
        )
        .await;
    assert_eq!(status, 200, "{widened}");
    assert_eq!(widened["categories"], json!(["开放教育", "网络教育"]));

    let (status, batch) = app
        .post(
            "/api/v1/admin/batches",
            &admin,
            json!({"school": school, "education_type": "开放教育", "price_fen": 0, "deadline": "2099-06-30"}),
        )
        .await;
    assert_eq!(status, 201, "{batch}");
    assert_eq!(batch["feature_code"].as_str().unwrap().len(), 6);
    let unknown = app
        .post(
            "/api/v1/admin/batches",
            &admin,
            json!({"school": "无此学校", "education_type": "开放教育", "price_fen": 0}),
        )
        .await;
    assert_error(&unknown, 404, "eligibility.unknown_school");

    let roster = "学号,姓名,证件类型,证件号码,学历类别\n\
        2023000001,李明,居民身份证,320203200408151226,开放教育\n\
        2023000002,王芳,居民身份证,123,开放教育\n";
    let upload = |file_name: &str, body: Vec<u8>| {
        app.client
            .post(app.url("/api/v1/admin/rosters"))
            .query(&[("school", school), ("file_name", file_name)])
            .bearer_auth(&admin)
            .body(body)
            .send()
    };
    let (status, report) = read(
        upload("roster.csv", roster.as_bytes().to_vec())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["inserted"], 1, "{report}");
    assert_eq!(report["problems"][0]["line"], 3, "{report}");
    let unreadable = read(upload("roster.pdf", b"%PDF-1.4".to_vec()).await.unwrap()).await;
    assert_error(&unreadable, 422, "eligibility.roster_unreadable");
    let too_big = read(upload("roster.csv", vec![b'x'; 5000]).await.unwrap()).await;
    assert_error(&too_big, 413, "http.payload_too_large");

    // A student on the new roster verifies by student number; the collection is free.
    let student = app.student("openid-li").await;
    let (status, opened) = app
        .post(
            "/api/v1/captures",
            &student,
            json!({"school": school, "student_number": "2023000001"}),
        )
        .await;
    assert_eq!(status, 201, "{opened}");
    assert_eq!(opened["feature_code"], batch["feature_code"]);
    assert_eq!(opened["status"], "awaiting_photo");
    let (_, schools) = app.get("/api/v1/admin/schools", &admin).await;
    assert_eq!(schools["schools"].as_array().unwrap().len(), 2);
    let (_, batches) = app.get("/api/v1/admin/batches", &admin).await;
    assert_eq!(batches["batches"].as_array().unwrap().len(), 2);
}

async fn payment_notifications_are_verified_and_recorded_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let student = app.student("openid-a").await;
    let capture = app.open_capture(&student, &WU).await;
    let (_, order) = app
        .order(&student, &capture, json!({"purpose": "collection"}))
        .await;
    let order_id = order["order_id"].as_str().unwrap();
    let good = Notice::paid(order_id, FEE_FEN);
    let fail = json!({"code": "FAIL", "message": "失败"});

    let spoiled = [
        (
            "a tampered body",
            Notice {
                tamper: true,
                ..good.clone()
            },
            401,
        ),
        (
            "a probe signature",
            Notice {
                probe: true,
                ..good.clone()
            },
            401,
        ),
        (
            "a stale timestamp",
            Notice {
                clock_offset: chrono::Duration::minutes(-10),
                ..good.clone()
            },
            401,
        ),
        (
            "a timestamp from the future",
            Notice {
                clock_offset: chrono::Duration::minutes(10),
                ..good.clone()
            },
            401,
        ),
        (
            "an unknown platform key",
            Notice {
                serial: "PUB_KEY_ID_UNKNOWN".into(),
                ..good.clone()
            },
            401,
        ),
        (
            "another merchant",
            Notice {
                mchid: "1900000002".into(),
                ..good.clone()
            },
            400,
        ),
        (
            "an unknown order",
            Notice::paid(&uuid::Uuid::new_v4().to_string(), FEE_FEN),
            404,
        ),
        (
            "a wrong amount",
            // Another transaction: one transaction's notifications always carry one amount.
            Notice {
                amount_fen: FEE_FEN - 1,
                transaction_id: "4200000000000000000000000001".into(),
                ..good.clone()
            },
            400,
        ),
    ];
    for (what, notice, status) in spoiled {
        let (got, body) = app.notify(&notice).await;
        assert_eq!((got.as_u16(), &body), (status, &fail), "{what}");
    }
    let (_, view) = app
        .get(&format!("/api/v1/captures/{capture}"), &student)
        .await;
    assert_eq!(view["fee_paid"], false, "{view}");
    assert_eq!(view["status"], "awaiting_payment");

    // WeChat delivers the same notification more than once: each is answered 204, one is recorded.
    for _ in 0..3 {
        let (status, body) = app.notify(&good).await;
        assert_eq!(status, 204, "{body}");
        assert_eq!(body, Value::Null);
    }
    let (_, view) = app
        .get(&format!("/api/v1/captures/{capture}"), &student)
        .await;
    assert_eq!(view["fee_paid"], true, "{view}");
    assert_eq!(view["status"], "awaiting_photo");
    assert_eq!(view["orders"][0]["state"], "paid");
    let admin = app.staff("admin").await;
    let (_, audit) = app
        .get(&format!("/api/v1/admin/captures/{capture}/events"), &admin)
        .await;
    let paid: Vec<&Value> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_type"] == "Paid")
        .collect();
    assert_eq!(paid.len(), 1, "{audit}");
    assert_eq!(
        paid[0]["metadata"]["actor"],
        json!({"kind": "system", "id": "wechat-pay"})
    );
    assert_eq!(
        paid[0]["payload"]["Paid"]["amount_fen"], FEE_FEN,
        "{}",
        paid[0]
    );

    // serve --dev pays an order through the same verification with sandbox keys.
    let other = app.student("openid-b").await;
    let (_, opened) = app
        .post(
            "/api/v1/captures",
            &other,
            json!({"school": SCHOOL, "student_number": OUYANG.number}),
        )
        .await;
    let theirs = opened["capture_id"].as_str().unwrap();
    let (_, order) = app
        .post(
            &format!("/api/v1/captures/{theirs}/orders"),
            &other,
            json!({"purpose": "collection"}),
        )
        .await;
    let dev_pay = format!(
        "/api/v1/dev/orders/{}/pay",
        order["order_id"].as_str().unwrap()
    );
    assert_error(
        &app.post(&dev_pay, &student, json!({})).await,
        404,
        "order.not_found",
    );
    let (status, paid) = app.post(&dev_pay, &other, json!({})).await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(paid["fee_paid"], true);
    assert_eq!(paid["status"], "awaiting_photo");
    let production = TestApp::spawn_with(backend, |s| s.dev = false).await;
    let token = production.staff("admin").await;
    let absent = production.post(&dev_pay, &token, json!({})).await;
    assert_error(&absent, 404, "http.not_found");
}

async fn orders_carry_wechat_pay_parameters_from_jsapi_prepay(backend: Backend) {
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::pkcs8::DecodePublicKey;
    use rsa::signature::Verifier;

    let app = TestApp::spawn(backend).await;
    let student = app.student("openid-a").await;
    let capture = app.open_capture(&student, &WU).await;
    let (status, order) = app
        .order(&student, &capture, json!({"purpose": "collection"}))
        .await;
    assert_eq!(status, 201, "{order}");
    let order_id = order["order_id"].as_str().unwrap();
    let payment = &order["payment"];
    assert_eq!(
        payment["package"],
        format!("prepay_id=wx{}", order_id.replace('-', ""))
    );
    assert_eq!(payment["signType"], "RSA");
    // paySign is the merchant's signature over appId, timeStamp, nonceStr and package.
    let message = format!(
        "wx-test-app\n{}\n{}\n{}\n",
        payment["timeStamp"].as_str().unwrap(),
        payment["nonceStr"].as_str().unwrap(),
        payment["package"].as_str().unwrap()
    );
    let key =
        rsa::RsaPublicKey::from_public_key_pem(&fixture("wechat-pay/merchant-public.pem")).unwrap();
    let signature = data_encoding::BASE64
        .decode(payment["paySign"].as_str().unwrap().as_bytes())
        .unwrap();
    VerifyingKey::<sha2::Sha256>::new(key)
        .verify(
            message.as_bytes(),
            &Signature::try_from(signature.as_slice()).unwrap(),
        )
        .expect("paySign verifies");

    // Fresh parameters for the unpaid order, until it is paid.
    let again = format!("/api/v1/captures/{capture}/orders/{order_id}/payment");
    let (status, fresh) = app.post(&again, &student, json!({})).await;
    assert_eq!(status, 200, "{fresh}");
    assert_eq!(fresh["payment"]["package"], payment["package"]);
    let other = app.student("openid-b").await;
    assert_error(
        &app.post(&again, &other, json!({})).await,
        404,
        "capture.not_found",
    );
    app.pay(order_id, FEE_FEN).await;
    assert_error(
        &app.post(&again, &student, json!({})).await,
        409,
        "capture.order_already_paid",
    );

    // WeChat Pay down: the order stands, the answer is 502, a retry with the key prepays again.
    let down = app.student(PAY_DOWN_OPENID).await;
    let theirs = app.open_capture(&down, &OUYANG).await;
    let place = || {
        app.keyed_post(&format!("/api/v1/captures/{theirs}/orders"), &down, "fee-1")
            .json(&json!({"purpose": "collection"}))
            .send()
    };
    let failed = read(place().await.unwrap()).await;
    assert_error(&failed, 502, "payment.prepay_unavailable");
    let retried = read(place().await.unwrap()).await;
    assert_error(&retried, 502, "payment.prepay_unavailable");
    let (_, view) = app.get(&format!("/api/v1/captures/{theirs}"), &down).await;
    assert_eq!(
        view["orders"].as_array().unwrap().len(),
        1,
        "the retry placed no second order"
    );
}

/// WeChat Pay's notification never comes: after `query_after_secs` the order is looked up with
/// the order query, found paid and recorded, and not asked about again. An unpaid order stays
/// unpaid, an answer with a forged signature is not believed, and the notification arriving late
/// records nothing more.
async fn a_payment_whose_notification_never_comes_is_found_by_order_query(backend: Backend) {
    use std::time::{Duration, Instant};
    let app = TestApp::spawn_with(backend, |s| s.api.wechat_pay.query_after_secs = 1).await;
    let mut orders = Vec::new();
    for (openid, student) in [
        ("openid-a", &WU),
        ("openid-b", &OUYANG),
        ("openid-c", &CHEN),
        ("openid-d", &LI),
    ] {
        let token = app.student(openid).await;
        let capture = app.open_capture(&token, student).await;
        let order = order_fee(&app, &token, &capture).await;
        orders.push((token, capture, order));
    }
    let [(paid_token, paid_capture, paid), (_, _, unpaid), (_, _, forged), (_, _, closed)] =
        &orders[..]
    else {
        unreachable!()
    };
    app.wechat_pay.pay(paid, FEE_FEN);
    app.wechat_pay.pay_with_forged_answers(forged, FEE_FEN);
    app.wechat_pay.close(closed);
    let order_state = |token: &str, capture: &str| {
        let path = format!("/api/v1/captures/{capture}");
        let (token, app) = (token.to_string(), &app);
        async move { app.get(&path, &token).await.1["orders"][0]["state"].clone() }
    };

    let deadline = Instant::now() + Duration::from_secs(30);
    while order_state(paid_token, paid_capture).await != "paid" {
        assert!(Instant::now() < deadline, "the paid order was never found");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Rounds run one after another: a third question about an order means every answer of
    // the first two rounds was dealt with.
    while app.wechat_pay.queries(unpaid) < 3 || app.wechat_pay.queries(forged) < 3 {
        assert!(
            Instant::now() < deadline,
            "the unpaid orders were not asked about again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (token, capture, _) in &orders[1..] {
        assert_eq!(order_state(token, capture).await, "awaiting_payment");
    }
    assert_eq!(
        app.wechat_pay.queries(paid),
        1,
        "a paid order is not asked about again"
    );
    assert_eq!(
        app.wechat_pay.queries(closed),
        1,
        "a closed order is not asked about again"
    );
    let metrics = app.metrics().await;
    for answer in ["paid", "closed", "unpaid", "error"] {
        assert!(
            metrics.contains(&format!(
                "photo_ledger_wechat_pay_order_queries_total{{answer=\"{answer}\"}}"
            )),
            "{answer} answers are counted:\n{metrics}"
        );
    }

    app.pay(paid, FEE_FEN).await;
    let admin = app.staff("admin").await;
    let (_, trail) = app
        .get(
            &format!("/api/v1/admin/captures/{paid_capture}/events"),
            &admin,
        )
        .await;
    let payments = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_type"] == "Paid")
        .count();
    assert_eq!(payments, 1, "{trail}");
}

/// With `photos.s3` set, the upload and its standard photo go to the bucket (moto's S3 server on
/// loopback) under their SHA-256, and are read back from it; nothing is kept locally.
async fn photos_are_kept_in_an_s3_compatible_bucket(backend: Backend) {
    use sha2::Digest;
    let Some(s3) = MotoServer::start("photos").await else {
        return;
    };
    let settings = s3.settings();
    let app = TestApp::spawn_with(backend, |s| {
        with_photos(s);
        s.api.photos.s3 = Some(settings);
    })
    .await;
    let student = app.student("openid-a").await;
    let capture = paid_capture(&app, &student).await;
    let (status, uploaded) = app.upload(&capture, &student, astronaut(), "camera").await;
    assert_eq!(status, 201, "{uploaded}");
    let key = |bytes: &[u8]| {
        let sha256 = hex::encode(sha2::Sha256::digest(bytes));
        format!("sha256/{}/{sha256}", &sha256[..2])
    };
    assert!(
        s3.object(&key(&astronaut())).await == Some(astronaut()),
        "the upload is in the bucket under its SHA-256"
    );

    let standard = uploaded["standard_photo_id"].as_str().unwrap();
    let response = app
        .client
        .get(app.url(&format!("/api/v1/photos/{standard}")))
        .bearer_auth(&student)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let jpeg = response.bytes().await.unwrap().to_vec();
    assert!(
        s3.object(&key(&jpeg)).await == Some(jpeg.clone()),
        "the standard photo is in the bucket under its SHA-256"
    );
    let mut keys = s3.keys().await;
    keys.sort();
    let mut expected = vec![key(&astronaut()), key(&jpeg)];
    expected.sort();
    assert_eq!(keys, expected);
    assert!(!app.data_dir().join("photos").exists());
}

/// Reads of different captures, by their owners, by another student and of an unknown capture,
/// all at once: they are read together, and each caller still gets exactly their own answer.
async fn status_reads_in_one_batch_each_get_their_own_capture(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut owned = Vec::new();
    for (openid, student) in [
        ("openid-a", &WU),
        ("openid-b", &OUYANG),
        ("openid-c", &CHEN),
    ] {
        let token = app.student(openid).await;
        let capture = app.open_capture(&token, student).await;
        owned.push((token, capture));
    }
    let unknown = photo_ledger_domain::values::CaptureId::new().to_string();
    let reads = (0..60).map(|n| {
        let (token, capture) = &owned[n % 3];
        let (asked, expected) = match n % 5 {
            0 => (owned[(n + 1) % 3].1.clone(), 404), // another student's
            1 => (unknown.clone(), 404),
            _ => (capture.clone(), 200),
        };
        let app = &app;
        async move {
            let (status, body) = app.get(&format!("/api/v1/captures/{asked}"), token).await;
            (asked, expected, status, body)
        }
    });
    for (asked, expected, status, body) in futures::future::join_all(reads).await {
        assert_eq!(status, expected, "{asked}: {body}");
        if expected == 200 {
            assert_eq!(body["capture_id"], asked.as_str(), "{body}");
        }
    }
}

async fn a_capture_full_of_photos_refuses_more_before_standardising(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_photos).await;
    let student = app.student("openid-a").await;
    let capture = paid_capture(&app, &student).await;
    let (status, uploaded) = app.upload(&capture, &student, astronaut(), "camera").await;
    assert_eq!(status, 201, "{uploaded}");
    // Two photos so far; each standard_photo records two more.
    for _ in 0..(photo_ledger_domain::aggregate::MAX_PHOTOS - 2) / 2 {
        app.standard_photo(&capture).await;
    }
    let more = app.upload(&capture, &student, astronaut(), "camera").await;
    assert_error(&more, 409, "capture.photo_limit_reached");
    let path = background_path(&capture, uploaded["photo_id"].as_str().unwrap());
    let regrey = app
        .post(&path, &student, json!({"background": "grey"}))
        .await;
    assert_error(&regrey, 409, "capture.photo_limit_reached");
}

async fn a_photo_is_uploaded_standardised_and_submitted(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_photos).await;
    let student = app.student("openid-a").await;
    let capture = paid_capture(&app, &student).await;
    let upload =
        |photo: Vec<u8>, source: &'static str| app.upload(&capture, &student, photo, source);
    let (status, uploaded) = upload(astronaut(), "camera").await;
    assert_eq!(status, 201, "{uploaded}");
    assert_eq!(uploaded["verdict"], "accepted", "{uploaded}");
    assert_eq!(uploaded["blocking"], false);
    assert!(uploaded["checks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["code"].is_string() && c["message"].is_string()));
    assert_eq!(
        uploaded["capture"]["status"], "awaiting_submission",
        "{uploaded}"
    );
    let standard = uploaded["standard_photo_id"].as_str().unwrap();
    assert_eq!(uploaded["capture"]["standard_photo_id"], standard);

    let not_a_photo = upload(b"%PDF-1.4 not a photo".to_vec(), "album").await;
    assert_error(&not_a_photo, 422, "photo.not_an_image");
    let bad_source = upload(vec![1, 2, 3], "scanner").await;
    assert_error(&bad_source, 422, "request.invalid");
    let not_multipart = app
        .post(
            &format!("/api/v1/captures/{capture}/photos"),
            &student,
            json!({}),
        )
        .await;
    assert_error(&not_multipart, 400, "http.bad_request");

    // The same upload on grey: a new standard photo, which is the one submitted.
    let background = |photo: &str, body: Value| {
        let path = background_path(&capture, photo);
        let student = student.clone();
        let app = &app;
        async move { app.post(&path, &student, body).await }
    };
    let (status, grey) = background(standard, json!({"background": "grey"})).await;
    assert_eq!(status, 201, "{grey}");
    assert_eq!(
        grey["photo_id"], uploaded["photo_id"],
        "the result of the same upload"
    );
    let standard = grey["standard_photo_id"].as_str().unwrap();
    assert_ne!(standard, uploaded["standard_photo_id"].as_str().unwrap());
    assert_eq!(grey["capture"]["background"], "grey", "{grey}");
    assert_error(
        &background(standard, json!({"background": "green"})).await,
        422,
        "request.invalid",
    );
    let unknown = uuid::Uuid::new_v4().to_string();
    assert_error(
        &background(&unknown, json!({"background": "white"})).await,
        404,
        "photo.not_found",
    );

    let (status, submitted) = app
        .post(
            &format!("/api/v1/captures/{capture}/submit"),
            &student,
            json!({"standard_photo_id": standard}),
        )
        .await;
    assert_eq!(status, 200, "{submitted}");
    assert_eq!(submitted["status"], "in_review");
    let (_, history) = app.get("/api/v1/me/history", &student).await;
    assert_eq!(history["photos"].as_array().unwrap().len(), 3, "{history}");
    let (_, ready) = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(ready["photos"], "models_loaded");
    let metrics = app.metrics().await;
    assert!(
        metrics
            .contains(r#"photo_ledger_photo_standardisation_seconds_count{verdict="accepted"} 2"#),
        "{metrics}"
    );
    assert!(metrics.contains(
        r#"photo_ledger_photo_standardisation_seconds_count{verdict="photo.not_an_image"} 1"#
    ));

    // The files: to the owner and staff only, as stored or as a preview.
    let image = |path: String, token: String| {
        let app = &app;
        async move {
            app.client
                .get(app.url(&path))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    let photo = image(format!("/api/v1/photos/{standard}"), student.clone()).await;
    assert_eq!(photo.status(), 200);
    assert_eq!(photo.headers()["content-type"], "image/jpeg");
    let jpeg = photo.bytes().await.unwrap();
    let decoded = image::load_from_memory(&jpeg).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (480, 640));
    let original = uploaded["photo_id"].as_str().unwrap();
    let png = image(format!("/api/v1/photos/{original}"), student.clone()).await;
    assert_eq!(png.headers()["content-type"], "image/png");
    let thumb = image(
        format!("/api/v1/photos/{standard}?size=thumb"),
        student.clone(),
    )
    .await;
    assert_eq!(thumb.status(), 200);
    let preview = image::load_from_memory(&thumb.bytes().await.unwrap()).unwrap();
    assert_eq!((preview.width(), preview.height()), (180, 240));
    let reviewer = app.staff("reviewer").await;
    assert_eq!(
        image(format!("/api/v1/photos/{standard}"), reviewer.clone())
            .await
            .status(),
        200
    );
    let other = app.student("openid-b").await;
    let hidden = read(image(format!("/api/v1/photos/{standard}"), other).await).await;
    assert_error(&hidden, 404, "photo.not_found");
    let bad_size = read(
        image(
            format!("/api/v1/photos/{standard}?size=huge"),
            student.clone(),
        )
        .await,
    )
    .await;
    assert_error(&bad_size, 400, "http.invalid_query");

    // Approved, reprinted on 版式二 and mailed: print staff get the sheet as JPEG and PDF.
    let (status, _) = app
        .post(
            &format!("/api/v1/review/captures/{capture}/approve"),
            &reviewer,
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, address) = app
        .post("/api/v1/me/addresses", &student, json!({"recipient": "吴晓兰", "phone": "13800000000", "address": "江苏省无锡市蠡湖大道1800号"}))
        .await;
    let (status, reprint) = app
        .order(
            &student,
            &capture,
            json!({"purpose": "reprint", "layout": "two", "address_id": address["address_id"]}),
        )
        .await;
    assert_eq!(status, 201, "{reprint}");
    let order_id = reprint["order_id"].as_str().unwrap();
    app.pay(order_id, SHEET_FEN).await;
    let courier = app.staff("courier").await;
    let sheet = image(
        format!("/api/v1/courier/orders/{order_id}/sheet"),
        courier.clone(),
    )
    .await;
    assert_eq!(sheet.status(), 200);
    assert_eq!(sheet.headers()["content-type"], "image/jpeg");
    let sheet = image::load_from_memory(&sheet.bytes().await.unwrap()).unwrap();
    assert_eq!((sheet.width(), sheet.height()), (1200, 1800));
    let pdf = image(
        format!("/api/v1/courier/orders/{order_id}/sheet?format=pdf"),
        courier.clone(),
    )
    .await;
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    assert!(pdf.bytes().await.unwrap().starts_with(b"%PDF"));
    let bad_format = read(
        image(
            format!("/api/v1/courier/orders/{order_id}/sheet?format=tiff"),
            courier,
        )
        .await,
    )
    .await;
    assert_error(&bad_format, 400, "http.invalid_query");
}

/// 考试照片: a free batch, the student number, a photo moved from blue to grey, approved, and
/// the student's photo history.
async fn the_exam_photo_flow_free_by_student_number_on_grey(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_photos).await;
    let admin = app.staff("admin").await;
    let (status, _) = app
        .post(
            "/api/v1/admin/schools",
            &admin,
            json!({"name": "太湖学院", "categories": ["自学考试"]}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = app
        .post(
            "/api/v1/admin/batches",
            &admin,
            json!({"school": "太湖学院", "education_type": "自学考试", "price_fen": 0, "backgrounds": ["blue", "grey"]}),
        )
        .await;
    assert_eq!(status, 201);
    let roster = "学号,姓名,证件类型,证件号码,学历类别\n2023900001,李明,居民身份证,320203200408151226,自学考试\n";
    let imported = app
        .client
        .post(app.url("/api/v1/admin/rosters"))
        .query(&[("school", "太湖学院"), ("file_name", "exam.csv")])
        .bearer_auth(&admin)
        .body(roster)
        .send()
        .await
        .unwrap();
    assert_eq!(imported.status(), 200);

    let student = app.student("openid-exam").await;
    let (status, opened) = app
        .post(
            "/api/v1/captures",
            &student,
            json!({"school": "太湖学院", "student_number": "2023900001"}),
        )
        .await;
    assert_eq!(status, 201, "{opened}");
    assert_eq!(opened["status"], "awaiting_photo", "free: nothing to pay");
    let capture = opened["capture_id"].as_str().unwrap().to_string();
    let (status, blue) = app.upload(&capture, &student, astronaut(), "album").await;
    assert_eq!(status, 201, "{blue}");
    assert_eq!(blue["capture"]["background"], "blue");
    let path = background_path(&capture, blue["photo_id"].as_str().unwrap());
    let refused = app
        .post(&path, &student, json!({"background": "white"}))
        .await;
    assert_error(&refused, 422, "capture.background_not_offered");
    let (status, grey) = app
        .post(&path, &student, json!({"background": "grey"}))
        .await;
    assert_eq!(status, 201, "{grey}");
    assert_eq!(grey["capture"]["background"], "grey");
    let (status, _) = app
        .post(
            &format!("/api/v1/captures/{capture}/submit"),
            &student,
            json!({"standard_photo_id": grey["standard_photo_id"]}),
        )
        .await;
    assert_eq!(status, 200);
    let reviewer = app.staff("reviewer").await;
    let (status, approved) = app
        .post(
            &format!("/api/v1/review/captures/{capture}/approve"),
            &reviewer,
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["status"], "approved");

    let (_, history) = app.get("/api/v1/me/history", &student).await;
    let photos = history["photos"].as_array().unwrap();
    assert_eq!(
        photos.len(),
        3,
        "the upload and two standard photos: {history}"
    );
    let approved: Vec<&Value> = photos.iter().filter(|p| p["approved"] == true).collect();
    assert_eq!(approved.len(), 1);
    assert_eq!(approved[0]["photo_id"], grey["standard_photo_id"]);
    assert_eq!(approved[0]["school"], "太湖学院");
}
