//! Signing in: development, staff and WeChat sign-in, and the tokens they hand out.

use crate::api_support::*;
use crate::support::Backend;
use reqwest::Method;
use serde_json::json;

on_both_stores!(
    students_and_staff_sign_in_and_tokens_are_checked,
    wechat_sign_in_goes_through_jscode2session,
    wrong_staff_passwords_lock_the_account_and_the_address_until_an_admin_lifts_it,
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
    // The token is the openid's: its consent, and the capture opened with it, are that openid's.
    app.consent(token).await;
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
            Some(json!({"code": "outage"})),
        )
        .await;
    assert_error(&outage, 502, "auth.wechat_unavailable");
    let invalid = app
        .call(
            Method::POST,
            "/api/v1/auth/wechat",
            None,
            Some(json!({"code": "anything"})),
        )
        .await;
    assert_error(&invalid, 401, "auth.wechat_code_invalid");
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

async fn wrong_staff_passwords_lock_the_account_and_the_address_until_an_admin_lifts_it(
    backend: Backend,
) {
    let app = TestApp::spawn_with(backend, |s| {
        s.api.auth.staff_sign_in.per_account = 3;
        s.api.auth.staff_sign_in.per_address = 6;
    })
    .await;
    let admin = app.staff("admin").await;
    let sign_in = |username: &str, password: &str| {
        app.call(
            Method::POST,
            "/api/v1/auth/staff",
            None,
            Some(json!({"username": username, "password": password})),
        )
    };
    for _ in 0..3 {
        assert_error(
            &sign_in("reviewer", "not the password").await,
            401,
            "auth.bad_credentials",
        );
    }
    // The account is locked: even its right password is refused, and says until when.
    let locked = sign_in("reviewer", STAFF_PASSWORD).await;
    assert_error(&locked, 429, "auth.sign_in_locked");
    assert!(
        locked.1["details"]["locked_until"].is_string(),
        "{locked:?}"
    );
    // Another account from the same address is not.
    assert_eq!(sign_in("courier", STAFF_PASSWORD).await.0, 200);

    let (status, body) = app.get("/api/v1/admin/locks", &admin).await;
    assert_eq!(status, 200, "{body}");
    let keys: Vec<&str> = body["locks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["staff:reviewer"]);

    // Lifting needs a reason, is recorded, and lifting again is harmless.
    let lift = |reason: &str| {
        app.post(
            "/api/v1/admin/locks/lift",
            &admin,
            json!({"key": "staff:reviewer", "reason": reason}),
        )
    };
    assert_error(&lift("  ").await, 422, "request.invalid");
    let (status, body) = lift("李老师来电确认是本人").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["lifted"]["key"], "staff:reviewer", "{body}");
    assert_eq!(lift("again").await.1["lifted"], serde_json::Value::Null);
    let reviewer = app.staff("reviewer").await;
    assert_error(
        &app.get("/api/v1/admin/locks", &reviewer).await,
        403,
        "auth.forbidden",
    );
    let lifts: i64 = photo_ledger_store::on_db!(app.ledger.db(), pool => sqlx::query_scalar(
        "SELECT count(*) FROM guess_lock_lifts WHERE lock_key = 'staff:reviewer' AND lifted_by = 'admin'")
        .fetch_one(pool)
        .await)
    .unwrap();
    assert_eq!(lifts, 1);

    // Wrong passwords for names that do not exist count against the address: at six, every
    // sign-in from it is refused, whoever it names.
    for n in 0..3 {
        assert_error(
            &sign_in(&format!("nobody-{n}"), "not the password").await,
            401,
            "auth.bad_credentials",
        );
    }
    assert_error(
        &sign_in("courier", STAFF_PASSWORD).await,
        429,
        "auth.sign_in_locked",
    );
}
