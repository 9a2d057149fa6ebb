//! Malformed requests on every route group get the one error shape.

use crate::api_support::*;
use crate::support::Backend;
use reqwest::Method;
use serde_json::json;

on_both_stores!(malformed_input_gets_the_one_error_shape,);

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
