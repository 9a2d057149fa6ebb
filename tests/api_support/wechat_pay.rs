//! A fake WeChat Pay on loopback: JSAPI prepay and the order query. Each checks our request's
//! merchant signature and fields, and answers signed with the sandbox platform key, as WeChat
//! Pay does. The test steers it through [`FakeWechatPay`]: hold prepay answers, have orders paid
//! without a notification, forge the answers about an order, count the questions.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use rsa::pkcs1v15::SigningKey as RsaSigningKey;
use rsa::pkcs1v15::{Signature as RsaSignature, VerifyingKey as RsaVerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};
use sha2::Sha256;

use super::{fixture, MCHID, MERCHANT_SERIAL, NOTIFY_URL, PLATFORM_SERIAL};

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

struct State {
    held: AtomicUsize,
    permits: tokio::sync::Semaphore,
    paid: Mutex<HashMap<String, Paid>>,
    queries: Mutex<HashMap<String, usize>>,
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
            );
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
        let queries = self.0.queries.lock().unwrap();
        queries.get(&out_trade_no(order_id)).copied().unwrap_or(0)
    }
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
    *fake
        .0
        .queries
        .lock()
        .unwrap()
        .entry(out_trade_no.clone())
        .or_default() += 1;
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
