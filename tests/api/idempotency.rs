//! Idempotent retries: a repeated key returns the first response and acts once.

use crate::api_support::*;
use crate::support::Backend;
use serde_json::{json, Value};

on_both_stores!(
    a_retried_post_returns_the_first_response,
    concurrent_posts_with_one_key_act_once,
    a_retry_means_what_it_says_not_its_bytes,
    a_photo_form_built_again_with_a_new_boundary_replays_the_first_answer,
    a_claim_whose_holder_stopped_renewing_is_taken_over_once,
    a_service_killed_mid_upload_leaves_a_key_its_restart_lets_the_retry_take,
    a_service_killed_mid_prepay_leaves_a_key_its_restart_lets_the_retry_take,
);

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
    // Once purged (after http.idempotency_ttl_hours), the key is forgotten and the request runs
    // again; what it creates is named from the key, so it finds the entry it made before.
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
    assert_eq!(read(fresh).await.1, first);
    let (_, book) = app.get("/api/v1/me/addresses", &student).await;
    assert_eq!(book["addresses"].as_array().unwrap().len(), 1);
    let another = post(&student, "key-2", body.clone()).await.unwrap();
    assert_eq!(another.status(), 201);
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

async fn a_retry_means_what_it_says_not_its_bytes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let student = app.student("openid-a").await;
    let post = |key: &str, body: &'static str| {
        app.keyed_post("/api/v1/me/addresses", &student, key)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let first = post(
        "key-json",
        r#"{"recipient": "吴晓兰", "phone": "13800000000", "address": "江苏省无锡市蠡湖大道1800号"}"#,
    )
    .await
    .unwrap();
    assert_eq!(first.status(), 201);
    let first = read(first).await.1;
    // The same value, its keys in another order and spaced otherwise.
    let retry = post(
        "key-json",
        r#"{"address":"江苏省无锡市蠡湖大道1800号","phone":"13800000000",
            "recipient":"吴晓兰"}"#,
    )
    .await
    .unwrap();
    assert_eq!(retry.headers()["idempotency-replayed"], "true");
    assert_eq!(read(retry).await.1, first);
    // Another value under the same key is another request.
    let other = post(
        "key-json",
        r#"{"recipient": "吴晓兰", "phone": "13800000001", "address": "江苏省无锡市蠡湖大道1800号"}"#,
    )
    .await
    .unwrap();
    assert_error(&read(other).await, 422, "idempotency.key_reused");
}

async fn a_photo_form_built_again_with_a_new_boundary_replays_the_first_answer(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_photos).await;
    let student = app.student("openid-a").await;
    let capture = paid_capture(&app, &student).await;
    let path = format!("/api/v1/captures/{capture}/photos");
    let upload = |form: (String, Vec<u8>)| {
        app.keyed_post(&path, &student, "upload-1")
            .header("content-type", form.0)
            .body(form.1)
            .send()
    };
    let photo = astronaut();
    let first = upload(photo_form(&photo, "camera")).await.unwrap();
    assert_eq!(first.status(), 201);
    let first = read(first).await.1;
    let before = app.standardisations().await;
    // wx.uploadFile builds the body again: another boundary, another temporary file name.
    let rebuilt = photo_form_with(&photo, "camera", "wx-boundary-7e2f", "tmp_91ab.png");
    let retry = upload(rebuilt).await.unwrap();
    assert_eq!(retry.status(), 201);
    assert_eq!(retry.headers()["idempotency-replayed"], "true");
    assert_eq!(read(retry).await.1, first);
    assert_eq!(
        app.standardisations().await,
        before,
        "the retry standardised nothing"
    );
    // A different photo under the same key is another request.
    let mut other = photo.clone();
    other.extend_from_slice(b"trailing bytes make another file");
    let reused = upload(photo_form(&other, "camera")).await.unwrap();
    assert_error(&read(reused).await, 422, "idempotency.key_reused");
}

/// A claim left by a request whose process died: its lease runs out, and the retry runs the
/// request, once, whoever retries first.
async fn a_claim_whose_holder_stopped_renewing_is_taken_over_once(backend: Backend) {
    use photo_ledger_store::on_db;
    let app = TestApp::spawn(backend).await;
    let student = app.student("openid-a").await;
    let body = json!({"recipient": "吴晓兰", "phone": "13800000000", "address": "江苏省无锡市蠡湖大道1800号"});
    let post = || {
        app.keyed_post("/api/v1/me/addresses", &student, "key-crash")
            .json(&body)
            .send()
    };
    let first = read(post().await.unwrap()).await;
    assert_eq!(first.0, 201);
    // As if the request had been cut off before answering, by a process that is gone: no
    // stored answer, a lease that is still running, then one that ran out.
    let db = app.ledger.db().clone();
    let abandon = |lease_until: chrono::DateTime<chrono::Utc>| {
        let db = db.clone();
        async move {
            on_db!(&db, pool => sqlx::query(
            "UPDATE idempotency_keys SET status = NULL, content_type = NULL, body = NULL,
                 holder = 'a-stopped-instance', lease_until = $1
             WHERE idempotency_key = 'key-crash'")
            .bind(lease_until)
            .execute(pool)
            .await
            .map(|_| ()))
            .unwrap();
        }
    };
    abandon(chrono::Utc::now() + chrono::Duration::seconds(30)).await;
    assert_error(
        &read(post().await.unwrap()).await,
        409,
        "idempotency.in_progress",
    );

    abandon(chrono::Utc::now() - chrono::Duration::seconds(1)).await;
    let (a, b) = tokio::join!(post(), post());
    let mut answers = Vec::new();
    for response in [a.unwrap(), b.unwrap()] {
        let replayed = response.headers().contains_key("idempotency-replayed");
        answers.push((replayed, read(response).await));
    }
    let ran: Vec<_> = answers
        .iter()
        .filter(|(replayed, (status, _))| !replayed && *status == 201)
        .collect();
    assert_eq!(ran.len(), 1, "one retry runs: {answers:?}");
    assert_eq!(
        ran[0].1 .1, first.1,
        "and finds the entry the first request made"
    );
    // The other either found the claim taken (and waits), or came after the first had
    // answered and gets that answer.
    assert!(
        answers.iter().any(|(replayed, (status, body))| {
            (*status == 409 && body["code"] == "idempotency.in_progress")
                || (*replayed && *body == first.1)
        }),
        "the other waits or replays: {answers:?}"
    );
    let (_, book) = app.get("/api/v1/me/addresses", &student).await;
    assert_eq!(
        book["addresses"].as_array().unwrap().len(),
        1,
        "the effect exists once"
    );
    let replay = post().await.unwrap();
    assert_eq!(replay.headers()["idempotency-replayed"], "true");
}

/// The real service, killed (SIGKILL) while an upload holds its key, mid-standardisation; once
/// restarted, the mini-program's retry with the same key runs and the photo is recorded once.
async fn a_service_killed_mid_upload_leaves_a_key_its_restart_lets_the_retry_take(
    backend: Backend,
) {
    let app = TestApp::spawn_with(backend, with_photos).await;
    let student = app.student("openid-a").await;
    let capture = paid_capture(&app, &student).await;
    let upload = |service: &ServiceProcess| {
        let (content_type, body) = photo_form(&astronaut(), "camera");
        service
            .client
            .post(service.url(&format!("/api/v1/captures/{capture}/photos")))
            .bearer_auth(&student)
            .header("idempotency-key", "upload-before-the-crash")
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let retried = app
        .crash_and_retry("photos.standardise", "upload-before-the-crash", upload)
        .await;
    assert_eq!(retried.0, 201, "{}", retried.1);
    let trail = app.events_of(&capture).await;
    assert_eq!(count_events(&trail, "PhotoUploaded"), 1, "{trail}");
    assert_eq!(count_events(&trail, "Standardised"), 1, "{trail}");
}

/// The same with an order: killed after the order was recorded, before WeChat Pay was asked;
/// the retry answers the order the first attempt placed, and there is one.
async fn a_service_killed_mid_prepay_leaves_a_key_its_restart_lets_the_retry_take(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let student = app.student("openid-a").await;
    let capture = app.open_capture(&student, &WU).await;
    let order = |service: &ServiceProcess| {
        service
            .client
            .post(service.url(&format!("/api/v1/captures/{capture}/orders")))
            .bearer_auth(&student)
            .header("idempotency-key", "order-before-the-crash")
            .json(&json!({"purpose": "collection"}))
            .send()
    };
    let retried = app
        .crash_and_retry("payments.prepay", "order-before-the-crash", order)
        .await;
    assert_eq!(retried.0, 201, "{}", retried.1);
    let trail = app.events_of(&capture).await;
    assert_eq!(count_events(&trail, "OrderPlaced"), 1, "{trail}");
    let placed = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_type"] == "OrderPlaced")
        .unwrap();
    assert_eq!(
        retried.1["order_id"],
        placed["payload"]["OrderPlaced"]["order_id"]
    );
}
