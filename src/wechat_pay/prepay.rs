//! JSAPI prepay (JSAPI下单): asks WeChat Pay for a `prepay_id` for one of our orders and signs the
//! parameters the mini-program hands to `wx.requestPayment`. Requests are signed with the
//! merchant's private key; answers are believed only once their platform signature verifies.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use data_encoding::BASE64;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::RsaPrivateKey;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::{NotifyHeaders, NotifyVerifier, WechatPaySettings};

const JSAPI_PATH: &str = "/v3/pay/transactions/jsapi";

/// What `wx.requestPayment` takes, named as it names them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PaymentParams {
    #[serde(rename = "timeStamp")]
    pub time_stamp: String,
    #[serde(rename = "nonceStr")]
    pub nonce_str: String,
    /// `prepay_id=…`.
    pub package: String,
    #[serde(rename = "signType")]
    pub sign_type: String,
    #[serde(rename = "paySign")]
    pub pay_sign: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PrepayError {
    #[error("WeChat Pay refused the order: {0}")]
    Refused(String),
    #[error("WeChat Pay is unavailable: {0}")]
    Unavailable(String),
}

/// One order to prepay.
pub struct PrepayRequest<'a> {
    pub out_trade_no: &'a str,
    pub description: &'a str,
    pub amount_fen: u64,
    pub openid: &'a str,
}

pub struct PayClient {
    http: reqwest::Client,
    base_url: String,
    mchid: String,
    appid: String,
    merchant_serial: String,
    notify_url: String,
    key: SigningKey<Sha256>,
    verifier: Arc<NotifyVerifier>,
}

#[derive(Deserialize)]
struct PrepayReply {
    prepay_id: String,
}

fn nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl PayClient {
    /// `None` when no merchant key is configured: orders then carry no payment parameters.
    pub fn new(
        settings: &WechatPaySettings,
        appid: &str,
        verifier: Arc<NotifyVerifier>,
    ) -> anyhow::Result<Option<Self>> {
        let Some(pem) = &settings.merchant_private_key_pem else {
            return Ok(None);
        };
        anyhow::ensure!(
            !settings.mchid.is_empty() && !settings.merchant_serial.is_empty(),
            "WeChat Pay needs mchid and merchant_serial with the merchant key"
        );
        anyhow::ensure!(
            !settings.notify_url.is_empty(),
            "WeChat Pay needs notify_url, where it sends payment notifications"
        );
        let key = RsaPrivateKey::from_pkcs8_pem(pem.expose_secret())
            .map_err(|e| anyhow::anyhow!("the merchant key is not a PKCS#8 PEM key: {e}"))?;
        Ok(Some(Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_millis(settings.timeout_ms))
                .build()?,
            base_url: settings.api_base_url.trim_end_matches('/').to_string(),
            mchid: settings.mchid.clone(),
            appid: appid.to_string(),
            merchant_serial: settings.merchant_serial.clone(),
            notify_url: settings.notify_url.clone(),
            key: SigningKey::<Sha256>::new(key),
            verifier,
        }))
    }

    fn sign(&self, message: &str) -> String {
        BASE64.encode(&self.key.sign(message.as_bytes()).to_bytes())
    }

    /// A prepay id for the order, and the signed parameters for `wx.requestPayment`.
    pub async fn prepay(&self, order: &PrepayRequest<'_>) -> Result<PaymentParams, PrepayError> {
        let body = serde_json::to_string(&serde_json::json!({
            "appid": self.appid,
            "mchid": self.mchid,
            "description": order.description,
            "out_trade_no": order.out_trade_no,
            "notify_url": self.notify_url,
            "amount": {"total": order.amount_fen, "currency": "CNY"},
            "payer": {"openid": order.openid},
        }))
        .expect("the request serialises");
        let timestamp = Utc::now().timestamp().to_string();
        let nonce_str = nonce();
        let signature = self.sign(&format!(
            "POST\n{JSAPI_PATH}\n{timestamp}\n{nonce_str}\n{body}\n"
        ));
        let authorization = format!(
            "WECHATPAY2-SHA256-RSA2048 mchid=\"{}\",nonce_str=\"{nonce_str}\",signature=\"{signature}\",timestamp=\"{timestamp}\",serial_no=\"{}\"",
            self.mchid, self.merchant_serial
        );
        let response = self
            .http
            .post(format!("{}{JSAPI_PATH}", self.base_url))
            .header("authorization", authorization)
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| PrepayError::Unavailable(e.without_url().to_string()))?;
        let status = response.status();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let headers = NotifyHeaders {
            signature: header("wechatpay-signature"),
            timestamp: header("wechatpay-timestamp"),
            nonce: header("wechatpay-nonce"),
            serial: header("wechatpay-serial"),
            signature_type: None,
        };
        let reply = response
            .bytes()
            .await
            .map_err(|e| PrepayError::Unavailable(e.without_url().to_string()))?;
        if status.is_server_error() {
            return Err(PrepayError::Unavailable(format!("status {status}")));
        }
        if !status.is_success() {
            return Err(PrepayError::Refused(
                String::from_utf8_lossy(&reply).into_owned(),
            ));
        }
        self.verifier
            .verify_signature(&headers, &reply, Utc::now())
            .map_err(|e| PrepayError::Unavailable(format!("unverified answer: {e}")))?;
        let PrepayReply { prepay_id } = serde_json::from_slice(&reply)
            .map_err(|e| PrepayError::Unavailable(format!("malformed answer: {e}")))?;
        let time_stamp = Utc::now().timestamp().to_string();
        let nonce_str = nonce();
        let package = format!("prepay_id={prepay_id}");
        let pay_sign = self.sign(&format!(
            "{}\n{time_stamp}\n{nonce_str}\n{package}\n",
            self.appid
        ));
        Ok(PaymentParams {
            time_stamp,
            nonce_str,
            package,
            sign_type: "RSA".into(),
            pay_sign,
        })
    }
}
