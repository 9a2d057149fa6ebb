//! Signing in: development, staff and WeChat sign-in, and the tokens they hand out.

use crate::api_support::*;
use crate::support::Backend;
use reqwest::Method;
use serde_json::json;

on_both_stores!(
    students_and_staff_sign_in_and_tokens_are_checked,
    wechat_sign_in_goes_through_jscode2session,
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
