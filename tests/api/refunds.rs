//! Refunds: a payment the capture cannot keep is recorded and given back once, through WeChat
//! Pay's refund API, however often its notifications come; a refund WeChat Pay refuses is asked
//! again and then shown failed to staff; staff refund by hand, with a reason, over HTTP and the
//! command line; forged refund notifications are refused.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::api_support::*;
use crate::support::Backend;
use serde_json::{json, Value};

on_both_stores!(
    a_closed_order_paid_after_all_is_refunded_once_however_often_it_is_reported,
    a_refund_wechat_pay_refuses_is_asked_again_then_shown_failed_and_staff_can_retry_it,
    staff_refund_a_kept_payment_with_a_reason_over_http_and_the_command_line,
    forged_refund_notifications_are_refused,
    the_fake_wechat_pay_refuses_a_refund_request_we_did_not_sign,
    a_refund_whose_notification_never_comes_is_found_by_asking_about_it,
);

/// Waits (at most 30 s) until `done` holds.
async fn until<F: Future<Output = bool>>(what: &str, mut done: impl FnMut() -> F) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done().await {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn events_named(trail: &Value, name: &str) -> Vec<Value> {
    trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_type"] == name)
        .cloned()
        .collect()
}

async fn status(app: &TestApp, token: &str, capture: &str) -> Value {
    app.get(&format!("/api/v1/captures/{capture}"), token)
        .await
        .1
}

/// The student asks for the fee with prints after an unpaid order without: the first order is
/// replaced and closed at WeChat Pay, but they had paid it on another phone a moment before.
/// That payment comes by notification, again by the order query, and the refund's notification
/// comes three times: one fee is kept, the other given back once.
async fn a_closed_order_paid_after_all_is_refunded_once_however_often_it_is_reported(
    backend: Backend,
) {
    let app = TestApp::spawn_with(backend, |s| s.api.wechat_pay.query_after_secs = 1).await;
    app.wechat_pay.repeat_refund_notifications(3);
    let student = app.student("openid-a").await;
    let capture = app.open_capture(&student, &WU).await;
    let first = order_fee(&app, &student, &capture).await;
    let (_, address) = app
        .post("/api/v1/me/addresses", &student, json!({"recipient": "吴晓兰", "phone": "13800000000", "address": "江苏省无锡市蠡湖大道1800号"}))
        .await;
    let (status_code, second) = app
        .order(&student, &capture, json!({"purpose": "collection", "layout": "one", "sheets": 2, "address_id": address["address_id"]}))
        .await;
    assert_eq!(status_code, 201, "{second}");
    let second_id = second["order_id"].as_str().unwrap().to_string();
    assert_ne!(second_id, first, "other prints make a new order");
    let with_prints = FEE_FEN + 2 * SHEET_FEN;
    assert_eq!(second["amount_fen"], with_prints);
    let orders = &second["capture"]["orders"];
    let state_of = |id: &str| {
        orders
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["order_id"] == id)
            .unwrap()["state"]
            .clone()
    };
    assert_eq!(state_of(&first), "closed", "{orders}");
    assert_eq!(app.wechat_pay.closes(&first), 1, "closed at WeChat Pay too");
    assert_error(
        &app.post(
            &format!("/api/v1/captures/{capture}/orders/{first}/payment"),
            &student,
            json!({}),
        )
        .await,
        409,
        "capture.order_closed",
    );

    app.pay(&second_id, with_prints).await;
    // Paid just before the close: reported by notification, and found by the order query.
    app.wechat_pay.pay(&first, FEE_FEN);
    app.pay(&first, FEE_FEN).await;
    until("the first order is asked about again", || async {
        app.wechat_pay.queries(&first) >= 1
    })
    .await;
    until("the refund is made and recorded", || async {
        status(&app, &student, &capture).await["refunds"][0]["state"] == "refunded"
    })
    .await;
    app.pay(&first, FEE_FEN).await;

    let view = status(&app, &student, &capture).await;
    assert_eq!(view["fee_paid"], true);
    let refunds = view["refunds"].as_array().unwrap();
    assert_eq!(refunds.len(), 1, "{view}");
    assert_eq!(refunds[0]["order_id"], first.as_str());
    assert_eq!(refunds[0]["amount_fen"], FEE_FEN);
    assert_eq!(refunds[0]["reason"], "order_closed");
    assert!(refunds[0]["reason_label"]
        .as_str()
        .unwrap()
        .contains("退回"));
    let made = app.wechat_pay.refunds();
    assert_eq!(made.len(), 1, "one refund asked of WeChat Pay: {made:?}");
    let (out_refund_no, refund) = made.iter().next().unwrap();
    assert_eq!(
        refund.transaction_id,
        transaction_id(&first.replace('-', ""))
    );
    assert_eq!(refund.amount_fen, FEE_FEN);
    assert_eq!(
        out_refund_no.replace('-', ""),
        refunds[0]["refund_id"].as_str().unwrap().replace('-', "")
    );

    // Every notification has been answered (the third after the refund was recorded).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let trail = app.events_of(&capture).await;
    assert_eq!(events_named(&trail, "Paid").len(), 1, "{trail}");
    assert_eq!(events_named(&trail, "PaidInExcess").len(), 1, "{trail}");
    assert_eq!(events_named(&trail, "RefundRequested").len(), 1, "{trail}");
    assert_eq!(events_named(&trail, "Refunded").len(), 1, "{trail}");
    let metrics = app.metrics().await;
    for outcome in ["requested", "refunded"] {
        assert!(
            metrics.contains(&format!(
                "photo_ledger_refunds_total{{outcome=\"{outcome}\"}} 1"
            )),
            "{outcome} counted once:\n{metrics}"
        );
    }
}

/// WeChat Pay refuses (the merchant's balance is short): the refund is asked again, backing
/// off, and after the configured refusals it is recorded failed with WeChat Pay's reason and
/// listed for staff, and the student sees it failed. Once the balance is topped up, staff refund
/// the same payment again and it is made.
async fn a_refund_wechat_pay_refuses_is_asked_again_then_shown_failed_and_staff_can_retry_it(
    backend: Backend,
) {
    let app = TestApp::spawn_with(backend, |s| {
        s.api.wechat_pay.refund_retry_secs = 1;
        s.api.wechat_pay.refund_max_refusals = 2;
    })
    .await;
    app.wechat_pay.refuse_refunds(true);
    let student = app.student("openid-a").await;
    let capture = app.open_capture(&student, &WU).await;
    let order = order_fee(&app, &student, &capture).await;
    app.pay(&order, FEE_FEN).await;
    // The same order paid a second time, by another transaction.
    let twice = Notice {
        transaction_id: "4200000000000000000000000002".into(),
        ..Notice::paid(&order, FEE_FEN)
    };
    assert_eq!(app.notify(&twice).await.0, 204);

    let admin = app.staff("admin").await;
    until("the refund is shown failed to staff", || async {
        let (_, failed) = app.get("/api/v1/admin/refunds?state=failed", &admin).await;
        failed["refunds"].as_array().is_some_and(|r| r.len() == 1)
    })
    .await;
    let (_, failed) = app.get("/api/v1/admin/refunds?state=failed", &admin).await;
    let refund = &failed["refunds"][0];
    assert_eq!(refund["capture_id"], capture.as_str());
    assert_eq!(refund["transaction_id"], "4200000000000000000000000002");
    assert_eq!(refund["reason"], "order_already_paid");
    assert!(
        refund["failure"]
            .as_str()
            .unwrap()
            .starts_with("NOT_ENOUGH"),
        "{refund}"
    );
    let out_refund_no = refund["refund_id"].as_str().unwrap();
    assert_eq!(app.wechat_pay.refund_requests(out_refund_no), 2);
    assert!(app.wechat_pay.refunds().is_empty());
    let view = status(&app, &student, &capture).await;
    assert_eq!(view["refunds"][0]["state"], "failed");
    assert_eq!(view["fee_paid"], true, "the first payment is kept");
    // A failed refund is not asked for again by itself.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(app.wechat_pay.refund_requests(out_refund_no), 2);

    app.wechat_pay.refuse_refunds(false);
    let (code, again) = app
        .post(
            &format!("/api/v1/admin/captures/{capture}/refunds"),
            &admin,
            json!({"order_id": order, "transaction_id": "4200000000000000000000000002", "reason": "商户余额已补足，重新退款"}),
        )
        .await;
    assert_eq!(code, 200, "{again}");
    until("the second refund is made", || async {
        let refunds = status(&app, &student, &capture).await["refunds"].clone();
        refunds.as_array().unwrap().len() == 2 && refunds[1]["state"] == "refunded"
    })
    .await;
    let made = app.wechat_pay.refunds();
    assert_eq!(made.len(), 1, "{made:?}");
    assert!(
        !made.contains_key(out_refund_no),
        "a new refund, not the failed one"
    );
    let view = status(&app, &student, &capture).await;
    assert_eq!(view["fee_paid"], true, "the kept payment is untouched");
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("photo_ledger_refunds_total{outcome=\"failed\"} 1"),
        "{metrics}"
    );
}

/// Staff refund the fee a student paid (the student left the collection): a reason is
/// required, only admins may, the refund is recorded with who and why, and the order is shown
/// refunded. The command line does the same for a print order.
async fn staff_refund_a_kept_payment_with_a_reason_over_http_and_the_command_line(
    backend: Backend,
) {
    let app = TestApp::spawn_with(backend, |s| s.api.wechat_pay.refund_retry_secs = 1).await;
    let student = app.student("openid-a").await;
    let capture = app.open_capture(&student, &WU).await;
    let order = order_fee(&app, &student, &capture).await;
    let path = format!("/api/v1/admin/captures/{capture}/refunds");
    let admin = app.staff("admin").await;
    assert_error(
        &app.post(&path, &admin, json!({"order_id": order, "reason": "退学"}))
            .await,
        409,
        "capture.order_unpaid",
    );
    app.pay(&order, FEE_FEN).await;

    let reviewer = app.staff("reviewer").await;
    for token in [&student, &reviewer] {
        assert_error(
            &app.post(&path, token, json!({"order_id": order, "reason": "退学"}))
                .await,
            403,
            "auth.forbidden",
        );
    }
    assert_error(
        &app.post(&path, &admin, json!({"order_id": order, "reason": "  "}))
            .await,
        422,
        "capture.refund_note_required",
    );
    assert_error(
        &app.post(&path, &admin, json!({"order_id": order})).await,
        422,
        "request.invalid",
    );
    let (code, view) = app
        .post(
            &path,
            &admin,
            json!({"order_id": order, "reason": "学生退学，全额退款"}),
        )
        .await;
    assert_eq!(code, 200, "{view}");
    assert_eq!(view["refunds"][0]["reason"], "by_staff");
    assert_error(
        &app.post(
            &path,
            &admin,
            json!({"order_id": order, "reason": "再退一次"}),
        )
        .await,
        409,
        "capture.already_refunded",
    );
    until("the fee is refunded", || async {
        status(&app, &student, &capture).await["refunds"][0]["state"] == "refunded"
    })
    .await;
    let view = status(&app, &student, &capture).await;
    assert_eq!(view["orders"][0]["state"], "refunded");
    assert_eq!(view["fee_paid"], false);
    let trail = app.events_of(&capture).await;
    let requested = &events_named(&trail, "RefundRequested")[0];
    assert_eq!(
        requested["payload"]["RefundRequested"]["note"],
        "学生退学，全额退款"
    );
    assert_eq!(
        requested["metadata"]["actor"],
        json!({"kind": "admin", "id": "admin"})
    );

    // The command line: a reprint-free print order paid on its own, refunded by an admin at
    // the console; the running service makes the refund.
    let (_, address) = app
        .post("/api/v1/me/addresses", &student, json!({"recipient": "吴晓兰", "phone": "13800000000", "address": "江苏省无锡市蠡湖大道1800号"}))
        .await;
    let (_, prints) = app
        .order(&student, &capture, json!({"purpose": "paper_prints", "layout": "one", "sheets": 1, "address_id": address["address_id"]}))
        .await;
    let prints_id = prints["order_id"].as_str().unwrap().to_string();
    app.pay(&prints_id, SHEET_FEN).await;
    let missing_reason = app
        .photo_ledger()
        .args(["refund", &capture, "--order", &prints_id, "--by", "admin"])
        .output()
        .unwrap();
    assert!(!missing_reason.status.success());
    let output = app
        .photo_ledger()
        .args(["refund", &capture, "--order", &prints_id, "--by", "admin"])
        .args(["--reason", "地址无法投递"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed.as_array().unwrap().len(), 2, "{printed}");
    let twice = app
        .photo_ledger()
        .args(["refund", &capture, "--order", &prints_id, "--by", "admin"])
        .args(["--reason", "地址无法投递"])
        .output()
        .unwrap();
    assert!(!twice.status.success());
    assert!(
        String::from_utf8_lossy(&twice.stderr).contains("capture.already_refunded"),
        "{}",
        String::from_utf8_lossy(&twice.stderr)
    );
    until(
        "the service makes the refund recorded at the console",
        || async {
            let view = status(&app, &student, &capture).await;
            view["refunds"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["state"] == "refunded")
        },
    )
    .await;
    assert_eq!(app.wechat_pay.refunds().len(), 2);
}

/// Refund notifications are verified like payment notifications: a tampered or unsigned one, a
/// stale one, another merchant's, or one naming a refund we never asked for records nothing.
async fn forged_refund_notifications_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let student = app.student("openid-a").await;
    let capture = app.open_capture(&student, &WU).await;
    let order = order_fee(&app, &student, &capture).await;
    app.pay(&order, FEE_FEN).await;
    let transaction = transaction_id(&order.replace('-', ""));
    let resource = |mchid: &str, out_refund_no: &str| {
        json!({
            "mchid": mchid,
            "transaction_id": transaction,
            "out_trade_no": order.replace('-', ""),
            "refund_id": "50300000000000000000000001",
            "out_refund_no": out_refund_no,
            "refund_status": "SUCCESS",
            "success_time": "2026-06-02T10:00:00+08:00",
            "user_received_account": "支付用户零钱",
            "amount": {"total": FEE_FEN, "refund": FEE_FEN, "payer_total": FEE_FEN, "payer_refund": FEE_FEN},
        })
    };
    let never_asked = uuid::Uuid::new_v4().simple().to_string();
    let body = |mchid: &str| {
        encrypted_notification(
            "REFUND.SUCCESS",
            "退款成功",
            "refund",
            &resource(mchid, &never_asked),
        )
    };
    let good = Notice::paid(&order, FEE_FEN);
    for (what, notice, body, code) in [
        (
            "tampered",
            Notice {
                tamper: true,
                ..good.clone()
            },
            body(MCHID),
            401,
        ),
        (
            "a probe",
            Notice {
                probe: true,
                ..good.clone()
            },
            body(MCHID),
            401,
        ),
        (
            "stale",
            Notice {
                clock_offset: chrono::Duration::minutes(-10),
                ..good.clone()
            },
            body(MCHID),
            401,
        ),
        (
            "signed by an unknown key",
            Notice {
                serial: "PUB_KEY_ID_UNKNOWN".into(),
                ..good.clone()
            },
            body(MCHID),
            401,
        ),
        ("another merchant's", good.clone(), body("1900000002"), 400),
        ("a refund never asked for", good.clone(), body(MCHID), 404),
    ] {
        let (status, answer) = app.send_notification(&notice, body).await;
        assert_eq!(status, code, "{what}: {answer}");
        assert_eq!(answer["code"], "FAIL", "{what}");
    }
    let trail = app.events_of(&capture).await;
    assert!(events_named(&trail, "Refunded").is_empty(), "{trail}");
    let view = status(&app, &student, &capture).await;
    assert_eq!(view["orders"][0]["state"], "paid");
}

/// The fake checks our merchant signature on refund requests, so every refund the other tests
/// see made was asked for correctly signed.
async fn the_fake_wechat_pay_refuses_a_refund_request_we_did_not_sign(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({
        "transaction_id": "4200000000000000000000000001",
        "out_refund_no": uuid::Uuid::new_v4().to_string(),
        "reason": "x",
        "notify_url": NOTIFY_URL,
        "amount": {"refund": FEE_FEN, "total": FEE_FEN, "currency": "CNY"},
    })
    .to_string();
    for authorization in [
        None,
        Some(format!("WECHATPAY2-SHA256-RSA2048 mchid=\"{MCHID}\",nonce_str=\"n\",signature=\"c2lnbmF0dXJl\",timestamp=\"1\",serial_no=\"{MERCHANT_SERIAL}\"")),
    ] {
        let mut request = app
            .client
            .post(app.wechat_pay.url("/v3/refund/domestic/refunds"))
            .header("content-type", "application/json")
            .body(body.clone());
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        let answer = read(request.send().await.unwrap()).await;
        assert_eq!(answer.0, 401, "{}", answer.1);
        assert_eq!(answer.1["code"], "SIGN_ERROR");
    }
    assert!(app.wechat_pay.refunds().is_empty());
}

/// WeChat Pay accepts the refund but its notifications are lost: the refund is asked about, as
/// a silent order is, and recorded once WeChat Pay says it is made.
async fn a_refund_whose_notification_never_comes_is_found_by_asking_about_it(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.api.wechat_pay.refund_retry_secs = 1).await;
    app.wechat_pay.repeat_refund_notifications(0);
    let student = app.student("openid-a").await;
    let capture = app.open_capture(&student, &WU).await;
    let order = order_fee(&app, &student, &capture).await;
    app.pay(&order, FEE_FEN).await;
    let admin = app.staff("admin").await;
    let (code, view) = app
        .post(
            &format!("/api/v1/admin/captures/{capture}/refunds"),
            &admin,
            json!({"order_id": order, "reason": "重复缴费，线下已核实"}),
        )
        .await;
    assert_eq!(code, 200, "{view}");
    let refund_id = view["refunds"][0]["refund_id"]
        .as_str()
        .unwrap()
        .to_string();
    until("the refund is found made", || async {
        status(&app, &student, &capture).await["refunds"][0]["state"] == "refunded"
    })
    .await;
    assert!(app.wechat_pay.refund_queries(&refund_id) >= 1);
    assert_eq!(
        app.wechat_pay.refund_requests(&refund_id),
        1,
        "asked for once"
    );
    let view = status(&app, &student, &capture).await;
    assert_eq!(view["orders"][0]["state"], "refunded");
}
