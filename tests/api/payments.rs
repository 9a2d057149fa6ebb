//! WeChat Pay: orders with JSAPI parameters, verified notifications recorded once, and the
//! order query for a notification that never comes.

use crate::api_support::*;
use crate::support::Backend;
use serde_json::{json, Value};

on_both_stores!(
    payment_notifications_are_verified_and_recorded_once,
    orders_carry_wechat_pay_parameters_from_jsapi_prepay,
    a_payment_whose_notification_never_comes_is_found_by_order_query,
    a_collection_order_placed_while_one_is_unpaid_is_that_order,
);

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
    ];
    for (what, notice, status) in spoiled {
        let (got, body) = app.notify(&notice).await;
        assert_eq!((got.as_u16(), &body), (status, &fail), "{what}");
    }
    // A wrong amount was still paid: it is recorded and given back, and pays nothing.
    // (Another transaction: one transaction's notifications always carry one amount.)
    let wrong_amount = Notice {
        amount_fen: FEE_FEN - 1,
        transaction_id: "4200000000000000000000000001".into(),
        ..good.clone()
    };
    assert_eq!(app.notify(&wrong_amount).await.0, 204);
    let (_, view) = app
        .get(&format!("/api/v1/captures/{capture}"), &student)
        .await;
    assert_eq!(view["fee_paid"], false, "{view}");
    assert_eq!(view["status"], "awaiting_payment");
    assert_eq!(view["refunds"][0]["reason"], "amount_mismatch", "{view}");
    assert_eq!(view["refunds"][0]["amount_fen"], FEE_FEN - 1);

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
    for (token, capture, _) in &orders[1..3] {
        assert_eq!(order_state(token, capture).await, "awaiting_payment");
    }
    let (closed_token, closed_capture, _) = &orders[3];
    assert_eq!(
        order_state(closed_token, closed_capture).await,
        "closed",
        "an order WeChat Pay closed is closed here too"
    );
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

/// Two taps, two keys or two devices: the fee has one order, so it can be paid once.
async fn a_collection_order_placed_while_one_is_unpaid_is_that_order(backend: Backend) {
    use photo_ledger_store::on_db;
    let app = TestApp::spawn(backend).await;
    let student = app.student("openid-a").await;
    let capture = app.open_capture(&student, &WU).await;
    let first = order_fee(&app, &student, &capture).await;
    let (status, again) = app
        .order(&student, &capture, json!({"purpose": "collection"}))
        .await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(
        again["order_id"],
        first.as_str(),
        "the unpaid order is answered"
    );
    assert!(
        again["payment"]["package"].as_str().is_some(),
        "with fresh payment parameters: {again}"
    );
    assert_eq!(again["capture"]["orders"].as_array().unwrap().len(), 1);
    // Only the order that exists is remembered for notifications and the order query; a
    // refused order leaves nothing behind either.
    let (status, refused) = app
        .order(&student, &capture, json!({"purpose": "reprint"}))
        .await;
    assert!(status.is_client_error(), "{refused}");
    let remembered: i64 = on_db!(app.ledger.db(), pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM payment_orders WHERE capture_id = $1")
        .bind(&capture)
        .fetch_one(pool)
        .await)
    .unwrap();
    assert_eq!(remembered, 1);

    app.pay(&first, FEE_FEN).await;
    let (status, paid) = app
        .order(&student, &capture, json!({"purpose": "collection"}))
        .await;
    assert_error(&(status, paid), 409, "capture.fee_already_paid");
}
