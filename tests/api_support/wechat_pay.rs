//! A fake WeChat Pay on loopback: JSAPI prepay, the order query, closing an order, refunds and
//! the refund query. Each checks our request's merchant signature and fields, and answers signed
//! with the sandbox platform key, as WeChat Pay does; a refund it accepts is made a moment later
//! and announced to the service by signed, encrypted refund notifications. The test steers it
//! through [`FakeWechatPay`]: hold prepay answers, have orders paid without a notification,
//! forge the answers about an order, refuse refunds, repeat notifications, count the questions.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, HttpRequest, HttpResponse};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use chrono::Utc;
use rsa::pkcs1v15::SigningKey as RsaSigningKey;
use rsa::pkcs1v15::{Signature as RsaSignature, VerifyingKey as RsaVerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};
use sha2::Sha256;

use super::{fixture, API_V3_KEY, MCHID, MERCHANT_SERIAL, NOTIFY_URL, PLATFORM_SERIAL};

/// A student whose prepay finds WeChat Pay down.
pub const PAY_DOWN_OPENID: &str = "openid-wxpay-down";
/// A student whose prepay WeChat Pay answers only when the test lets it
/// ([`FakeWechatPay::release_prepays`]).
pub const PAY_HELD_OPENID: &str = "openid-wxpay-held";

/// How WeChat Pay holds an order the test settled.
#[derive(Clone, Copy)]
enum Paid {
    /// Paid, and answered about truthfully.
    Truly(u64),
    /// Paid, but the answers about it are signed with a key that is not the platform's.
    Forged(u64),
    /// Closed unpaid (the merchant or WeChat Pay closed it): never to be paid.
    Closed,
}

/// A refund the fake accepted.
#[derive(Clone, Debug)]
pub struct FakeRefund {
    pub transaction_id: String,
    pub amount_fen: u64,
    pub refund_id: String,
    pub status: &'static str,
}

struct State {
    held: AtomicUsize,
    permits: tokio::sync::Semaphore,
    paid: Mutex<HashMap<String, Paid>>,
    queries: Mutex<HashMap<String, usize>>,
    closes: Mutex<HashMap<String, usize>>,
    /// Accepted refunds by `out_refund_no`.
    refunds: Mutex<HashMap<String, FakeRefund>>,
    /// Refund requests by `out_refund_no`, refused ones included.
    refund_requests: Mutex<HashMap<String, usize>>,
    /// Refund queries by `out_refund_no`.
    refund_queries: Mutex<HashMap<String, usize>>,
    refuse_refunds: std::sync::atomic::AtomicBool,
    /// How many times each refund notification is delivered.
    refund_notifications: AtomicUsize,
    /// Where notifications go: the service's notify route.
    notify_to: Mutex<Option<String>>,
    /// The fake's own address.
    base: Mutex<String>,
}

#[derive(Clone)]
pub struct FakeWechatPay(Arc<State>);

impl Default for FakeWechatPay {
    fn default() -> Self {
        Self(Arc::new(State {
            held: AtomicUsize::new(0),
            permits: tokio::sync::Semaphore::new(0),
            paid: Mutex::default(),
            queries: Mutex::default(),
            closes: Mutex::default(),
            refunds: Mutex::default(),
            refund_requests: Mutex::default(),
            refund_queries: Mutex::default(),
            refuse_refunds: std::sync::atomic::AtomicBool::new(false),
            refund_notifications: AtomicUsize::new(1),
            notify_to: Mutex::default(),
            base: Mutex::default(),
        }))
    }
}

/// The transaction id WeChat Pay gives the payment of an order (`out_trade_no`): the same in
/// notifications and in answers to order queries.
pub fn transaction_id(out_trade_no: &str) -> String {
    format!("4200{}", &out_trade_no[..24])
}

fn out_trade_no(order_id: &str) -> String {
    order_id.replace('-', "")
}

impl FakeWechatPay {
    /// Adds the fake's routes and state to the fake WeChat's app.
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        cfg.app_data(web::Data::new(self.clone()))
            .route("/v3/pay/transactions/jsapi", web::post().to(jsapi_prepay))
            .route(
                "/v3/pay/transactions/out-trade-no/{out_trade_no}",
                web::get().to(order_query),
            )
            .route(
                "/v3/pay/transactions/out-trade-no/{out_trade_no}/close",
                web::post().to(close_order),
            )
            .route("/v3/refund/domestic/refunds", web::post().to(refund))
            .route(
                "/v3/refund/domestic/refunds/{out_refund_no}",
                web::get().to(refund_query),
            );
    }

    /// The URL of `path` on the fake, once it listens.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.0.base.lock().unwrap())
    }

    pub(super) fn listens_at(&self, base: &str) {
        *self.0.base.lock().unwrap() = base.to_string();
    }

    /// Where the fake delivers notifications (the service's notify route).
    pub fn deliver_to(&self, url: String) {
        *self.0.notify_to.lock().unwrap() = Some(url);
    }

    /// Refuses every refund request (`403 NOT_ENOUGH`) while `refuse` holds.
    pub fn refuse_refunds(&self, refuse: bool) {
        self.0.refuse_refunds.store(refuse, Ordering::SeqCst);
    }

    /// Delivers each refund notification `times` times, as WeChat Pay may (0: they are lost).
    pub fn repeat_refund_notifications(&self, times: usize) {
        self.0.refund_notifications.store(times, Ordering::SeqCst);
    }

    /// Every refund the fake accepted, by `out_refund_no`.
    pub fn refunds(&self) -> HashMap<String, FakeRefund> {
        self.0.refunds.lock().unwrap().clone()
    }

    /// How often a refund was asked for, refusals included.
    pub fn refund_requests(&self, out_refund_no: &str) -> usize {
        counted(&self.0.refund_requests, out_refund_no)
    }

    /// How often a refund was asked about.
    pub fn refund_queries(&self, out_refund_no: &str) -> usize {
        counted(&self.0.refund_queries, out_refund_no)
    }

    /// How often the order was closed.
    pub fn closes(&self, order_id: &str) -> usize {
        counted(&self.0.closes, &out_trade_no(order_id))
    }

    /// Waits (at most 30 s) until `count` prepay requests for [`PAY_HELD_OPENID`] are held.
    pub async fn held_prepays(&self, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.0.held.load(Ordering::SeqCst) < count {
            assert!(
                Instant::now() < deadline,
                "no held prepay arrived at the fake WeChat Pay"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Lets `count` held prepay requests be answered.
    pub fn release_prepays(&self, count: usize) {
        self.0.permits.add_permits(count);
    }

    /// The student paid the order; WeChat Pay says so when asked (its notification is lost).
    pub fn pay(&self, order_id: &str, amount_fen: u64) {
        self.paid(order_id, Paid::Truly(amount_fen));
    }

    /// Like [`Self::pay`], but every answer about the order carries a forged signature.
    pub fn pay_with_forged_answers(&self, order_id: &str, amount_fen: u64) {
        self.paid(order_id, Paid::Forged(amount_fen));
    }

    /// Closes the order unpaid: order queries answer `CLOSED`.
    pub fn close(&self, order_id: &str) {
        self.paid(order_id, Paid::Closed);
    }

    fn paid(&self, order_id: &str, paid: Paid) {
        self.0
            .paid
            .lock()
            .unwrap()
            .insert(out_trade_no(order_id), paid);
    }

    /// How often the order was asked about.
    pub fn queries(&self, order_id: &str) -> usize {
        counted(&self.0.queries, &out_trade_no(order_id))
    }
}

/// Counts one more request about `key`.
fn count(counts: &Mutex<HashMap<String, usize>>, key: &str) {
    *counts.lock().unwrap().entry(key.to_string()).or_default() += 1;
}

/// How many requests about `key` were counted.
fn counted(counts: &Mutex<HashMap<String, usize>>, key: &str) -> usize {
    counts.lock().unwrap().get(key).copied().unwrap_or(0)
}

/// Whether the request carries our merchant signature (`WECHATPAY2-SHA256-RSA2048` over method,
/// path with query, timestamp, nonce and body) from our merchant.
fn merchant_signed(req: &HttpRequest, body: &[u8]) -> bool {
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("WECHATPAY2-SHA256-RSA2048 "))
        .unwrap_or_default();
    let fields: HashMap<&str, &str> = authorization
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k, v.trim_matches('"')))
        .collect();
    let field = |name: &str| fields.get(name).copied().unwrap_or_default();
    let message = format!(
        "{}\n{}\n{}\n{}\n{}\n",
        req.method(),
        req.uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or_default(),
        field("timestamp"),
        field("nonce_str"),
        String::from_utf8_lossy(body)
    );
    let verifies = data_encoding::BASE64
        .decode(field("signature").as_bytes())
        .ok()
        .and_then(|s| RsaSignature::try_from(s.as_slice()).ok())
        .is_some_and(|signature| {
            let key = RsaPublicKey::from_public_key_pem(&fixture("wechat-pay/merchant-public.pem"))
                .unwrap();
            RsaVerifyingKey::<Sha256>::new(key)
                .verify(message.as_bytes(), &signature)
                .is_ok()
        });
    verifies && field("mchid") == MCHID && field("serial_no") == MERCHANT_SERIAL
}

fn sign_error() -> HttpResponse {
    HttpResponse::Unauthorized().json(json!({"code": "SIGN_ERROR", "message": "签名错误"}))
}

/// `reply` signed as WeChat Pay signs its answers, with the key in `key_fixture`.
fn signed_reply(reply: String, key_fixture: &str) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    for (name, value) in signature_headers(reply.as_bytes(), chrono::Duration::zero(), key_fixture)
    {
        response.insert_header((name, value));
    }
    response.content_type("application/json").body(reply)
}

/// JSAPI prepay: a prepay id for a correctly signed order of ours.
async fn jsapi_prepay(
    req: HttpRequest,
    body: web::Bytes,
    fake: web::Data<FakeWechatPay>,
) -> HttpResponse {
    let order: Value = serde_json::from_slice(&body).unwrap_or_default();
    if !merchant_signed(&req, &body)
        || order["mchid"] != MCHID
        || order["appid"] != "wx-test-app"
        || order["notify_url"] != NOTIFY_URL
    {
        return sign_error();
    }
    if order["payer"]["openid"] == PAY_DOWN_OPENID {
        return HttpResponse::ServiceUnavailable()
            .json(json!({"code": "SYSTEM_ERROR", "message": "系统繁忙"}));
    }
    if order["payer"]["openid"] == PAY_HELD_OPENID {
        fake.0.held.fetch_add(1, Ordering::SeqCst);
        fake.0
            .permits
            .acquire()
            .await
            .expect("the gate is never closed")
            .forget();
    }
    let reply =
        json!({"prepay_id": format!("wx{}", order["out_trade_no"].as_str().unwrap())}).to_string();
    signed_reply(reply, "wechat-pay/platform-key.pem")
}

/// The order query by `out_trade_no`: paid once the test says so, else not paid.
async fn order_query(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<HashMap<String, String>>,
    fake: web::Data<FakeWechatPay>,
) -> HttpResponse {
    if !merchant_signed(&req, b"") || query.get("mchid").map(String::as_str) != Some(MCHID) {
        return sign_error();
    }
    let out_trade_no = path.into_inner();
    count(&fake.0.queries, &out_trade_no);
    let paid = fake.0.paid.lock().unwrap().get(&out_trade_no).copied();
    let mut order = json!({
        "appid": "wx-test-app",
        "mchid": MCHID,
        "out_trade_no": out_trade_no,
        "trade_type": "JSAPI",
        "trade_state": "NOTPAY",
        "trade_state_desc": "订单未支付",
    });
    let key = match paid {
        None => "wechat-pay/platform-key.pem",
        Some(Paid::Closed) => {
            order["trade_state"] = "CLOSED".into();
            order["trade_state_desc"] = "订单已关闭".into();
            "wechat-pay/platform-key.pem"
        }
        Some(Paid::Truly(amount)) | Some(Paid::Forged(amount)) => {
            order["trade_state"] = "SUCCESS".into();
            order["trade_state_desc"] = "支付成功".into();
            order["transaction_id"] = transaction_id(&out_trade_no).into();
            order["success_time"] = "2026-06-01T10:00:00+08:00".into();
            order["payer"] = json!({"openid": "openid-a"});
            order["amount"] = json!({"total": amount, "payer_total": amount, "currency": "CNY", "payer_currency": "CNY"});
            match paid {
                Some(Paid::Forged(_)) => "wechat-pay/merchant-key.pem",
                _ => "wechat-pay/platform-key.pem",
            }
        }
    };
    signed_reply(order.to_string(), key)
}

/// Closing an order: it can no longer be paid (a payment the test made stands).
async fn close_order(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    fake: web::Data<FakeWechatPay>,
) -> HttpResponse {
    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
    if !merchant_signed(&req, &body) || request["mchid"] != MCHID {
        return sign_error();
    }
    let out_trade_no = path.into_inner();
    count(&fake.0.closes, &out_trade_no);
    fake.0
        .paid
        .lock()
        .unwrap()
        .entry(out_trade_no)
        .or_insert(Paid::Closed);
    let mut response = HttpResponse::NoContent();
    for (name, value) in
        signature_headers(b"", chrono::Duration::zero(), "wechat-pay/platform-key.pem")
    {
        response.insert_header((name, value));
    }
    response.finish()
}

fn refund_json(out_refund_no: &str, refund: &FakeRefund) -> Value {
    json!({
        "refund_id": refund.refund_id,
        "out_refund_no": out_refund_no,
        "transaction_id": refund.transaction_id,
        "out_trade_no": "",
        "channel": "ORIGINAL",
        "user_received_account": "支付用户零钱",
        "success_time": (refund.status == "SUCCESS").then_some("2026-06-02T10:00:00+08:00"),
        "create_time": "2026-06-02T09:59:59+08:00",
        "status": refund.status,
        "funds_account": "AVAILABLE",
        "amount": {"total": refund.amount_fen, "refund": refund.amount_fen, "payer_total": refund.amount_fen, "payer_refund": refund.amount_fen, "currency": "CNY"},
    })
}

/// A refund: refused while the test says so; else accepted (`PROCESSING`), made a moment later
/// and announced by refund notifications. Asked again with the same `out_refund_no`, it
/// answers the refund it has.
async fn refund(
    req: HttpRequest,
    body: web::Bytes,
    fake: web::Data<FakeWechatPay>,
) -> HttpResponse {
    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
    let amount = &request["amount"];
    if !merchant_signed(&req, &body)
        || request["notify_url"] != NOTIFY_URL
        || amount["refund"] != amount["total"]
        || amount["currency"] != "CNY"
    {
        return sign_error();
    }
    let (Some(out_refund_no), Some(transaction_id), Some(amount_fen)) = (
        request["out_refund_no"].as_str(),
        request["transaction_id"].as_str(),
        amount["refund"].as_u64(),
    ) else {
        return HttpResponse::BadRequest()
            .json(json!({"code": "PARAM_ERROR", "message": "参数错误"}));
    };
    count(&fake.0.refund_requests, out_refund_no);
    if fake.0.refuse_refunds.load(Ordering::SeqCst) {
        return HttpResponse::Forbidden()
            .json(json!({"code": "NOT_ENOUGH", "message": "基本账户余额不足，请充值后重新发起"}));
    }
    let existing = fake.0.refunds.lock().unwrap().get(out_refund_no).cloned();
    let refund = match existing {
        Some(refund) => refund,
        None => {
            let refund = FakeRefund {
                transaction_id: transaction_id.to_string(),
                amount_fen,
                refund_id: format!("5030{}", &out_refund_no.replace('-', "")[..24]),
                status: "PROCESSING",
            };
            fake.0
                .refunds
                .lock()
                .unwrap()
                .insert(out_refund_no.to_string(), refund.clone());
            tokio::spawn(make_refund(
                fake.get_ref().clone(),
                out_refund_no.to_string(),
            ));
            refund
        }
    };
    signed_reply(
        refund_json(out_refund_no, &refund).to_string(),
        "wechat-pay/platform-key.pem",
    )
}

/// Makes an accepted refund and delivers its notification as many times as the test asked.
async fn make_refund(fake: FakeWechatPay, out_refund_no: String) {
    tokio::time::sleep(Duration::from_millis(50)).await;
    let refund = {
        let mut refunds = fake.0.refunds.lock().unwrap();
        let refund = refunds.get_mut(&out_refund_no).unwrap();
        refund.status = "SUCCESS";
        refund.clone()
    };
    let Some(url) = fake.0.notify_to.lock().unwrap().clone() else {
        return;
    };
    // A notification's resource names the state `refund_status`, and names the merchant.
    let mut resource = refund_json(&out_refund_no, &refund);
    let status = resource.as_object_mut().unwrap().remove("status").unwrap();
    resource["refund_status"] = status;
    resource["mchid"] = MCHID.into();
    let body = encrypted_notification("REFUND.SUCCESS", "退款成功", "refund", &resource);
    for _ in 0..fake.0.refund_notifications.load(Ordering::SeqCst) {
        let mut request = reqwest::Client::new()
            .post(&url)
            .header("content-type", "application/json")
            .body(body.clone());
        for (name, value) in platform_signature(&body, chrono::Duration::zero()) {
            request = request.header(name, value);
        }
        let _ = request.send().await;
    }
}

/// The refund query by `out_refund_no`.
async fn refund_query(
    req: HttpRequest,
    path: web::Path<String>,
    fake: web::Data<FakeWechatPay>,
) -> HttpResponse {
    if !merchant_signed(&req, b"") {
        return sign_error();
    }
    let out_refund_no = path.into_inner();
    count(&fake.0.refund_queries, &out_refund_no);
    let refund = fake.0.refunds.lock().unwrap().get(&out_refund_no).cloned();
    match refund {
        Some(refund) => signed_reply(
            refund_json(&out_refund_no, &refund).to_string(),
            "wechat-pay/platform-key.pem",
        ),
        None => HttpResponse::NotFound()
            .json(json!({"code": "RESOURCE_NOT_EXISTS", "message": "退款单不存在"})),
    }
}

/// A WeChat Pay notification's body: `resource` encrypted under the merchant's APIv3 key.
pub fn encrypted_notification(
    event_type: &str,
    summary: &str,
    original_type: &str,
    resource: &Value,
) -> Vec<u8> {
    let nonce = &uuid::Uuid::new_v4().simple().to_string()[..12];
    let cipher = Aes256Gcm::new_from_slice(API_V3_KEY.as_bytes()).unwrap();
    let ciphertext = cipher
        .encrypt(
            Nonce::from_slice(nonce.as_bytes()),
            Payload {
                msg: &serde_json::to_vec(resource).unwrap(),
                aad: original_type.as_bytes(),
            },
        )
        .unwrap();
    serde_json::to_vec(&json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "create_time": "2026-06-01T10:00:01+08:00",
        "event_type": event_type,
        "resource_type": "encrypt-resource",
        "summary": summary,
        "resource": {
            "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": data_encoding::BASE64.encode(&ciphertext),
            "nonce": nonce,
            "associated_data": original_type,
            "original_type": original_type,
        },
    }))
    .unwrap()
}

/// The `Wechatpay-*` headers WeChat Pay signs a body with, using the sandbox platform key.
pub fn platform_signature(
    body: &[u8],
    clock_offset: chrono::Duration,
) -> Vec<(&'static str, String)> {
    signature_headers(body, clock_offset, "wechat-pay/platform-key.pem")
}

/// `Wechatpay-*` headers for `body`, signed with the private key in `key_fixture` and naming the
/// platform key's serial.
fn signature_headers(
    body: &[u8],
    clock_offset: chrono::Duration,
    key_fixture: &str,
) -> Vec<(&'static str, String)> {
    let timestamp = (Utc::now() + clock_offset).timestamp().to_string();
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let mut message = format!("{timestamp}\n{nonce}\n").into_bytes();
    message.extend_from_slice(body);
    message.push(b'\n');
    let key = RsaPrivateKey::from_pkcs8_pem(&fixture(key_fixture)).unwrap();
    let signature =
        data_encoding::BASE64.encode(&RsaSigningKey::<Sha256>::new(key).sign(&message).to_bytes());
    vec![
        ("wechatpay-signature", signature),
        ("wechatpay-timestamp", timestamp),
        ("wechatpay-nonce", nonce),
        ("wechatpay-serial", PLATFORM_SERIAL.to_string()),
        (
            "wechatpay-signature-type",
            "WECHATPAY2-SHA256-RSA2048".to_string(),
        ),
    ]
}
