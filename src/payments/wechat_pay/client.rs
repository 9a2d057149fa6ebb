//! The merchant's client of WeChat Pay's API v3: every request is signed with the merchant's
//! private key (`Authorization: WECHATPAY2-SHA256-RSA2048 …` over method, path with query,
//! timestamp, nonce and body), and every answer is believed only once its platform signature
//! verifies, exactly as a notification's. [`prepay`](super::prepay) and [`query`](super::query)
//! are its calls.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use data_encoding::BASE64;
use reqwest::Method;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::RsaPrivateKey;
use secrecy::ExposeSecret;
use sha2::Sha256;

use super::{NotifyHeaders, NotifyVerifier, WechatPaySettings};
use crate::configuration::SettingError;

#[derive(Debug, thiserror::Error)]
pub enum PayError {
    #[error("WeChat Pay refused the request: {0}")]
    Refused(String),
    #[error("WeChat Pay is unavailable: {0}")]
    Unavailable(String),
}

impl PayError {
    /// What WeChat Pay said, as one line: `CODE: message` for a refusal in its usual shape,
    /// else the answer or fault as it came.
    pub fn reason(&self) -> String {
        match (self, self.refusal()) {
            (_, Some((code, message))) => format!("{code}: {message}"),
            (PayError::Refused(body), None) => body.chars().take(200).collect(),
            (PayError::Unavailable(fault), None) => fault.clone(),
        }
    }

    /// WeChat Pay's refusal code (`NOT_ENOUGH`, `RESOURCE_NOT_EXISTS`, …), for a refusal.
    pub fn refusal_code(&self) -> Option<String> {
        self.refusal().map(|(code, _)| code)
    }

    /// A refusal's `{"code": …, "message": …}`.
    fn refusal(&self) -> Option<(String, String)> {
        let PayError::Refused(body) = self else {
            return None;
        };
        let value: serde_json::Value = serde_json::from_str(body).ok()?;
        let code = value["code"].as_str()?.to_string();
        Some((
            code,
            value["message"].as_str().unwrap_or_default().to_string(),
        ))
    }
}

pub struct PayClient {
    http: reqwest::Client,
    base_url: String,
    pub(super) mchid: String,
    pub(super) appid: String,
    merchant_serial: String,
    pub(super) notify_url: String,
    key: SigningKey<Sha256>,
    pub(super) verifier: Arc<NotifyVerifier>,
}

pub(super) fn nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl PayClient {
    /// `None` when no merchant key is configured: orders then carry no payment parameters.
    pub fn new(
        settings: &WechatPaySettings,
        appid: &str,
        verifier: Arc<NotifyVerifier>,
    ) -> Result<Option<Self>, SettingError> {
        let Some(pem) = &settings.merchant_private_key_pem else {
            return Ok(None);
        };
        if settings.mchid.is_empty() || settings.merchant_serial.is_empty() {
            return Err(SettingError::invalid(
                "wechat_pay.merchant_private_key_pem",
                "needs wechat_pay.mchid and wechat_pay.merchant_serial with it",
            ));
        }
        if settings.notify_url.is_empty() {
            return Err(SettingError::invalid(
                "wechat_pay.notify_url",
                "WeChat Pay needs it to send payment notifications",
            ));
        }
        let key = RsaPrivateKey::from_pkcs8_pem(pem.expose_secret()).map_err(|e| {
            SettingError::unusable(
                "wechat_pay.merchant_private_key_pem",
                "is not a PKCS#8 PEM key",
                e,
            )
        })?;
        Ok(Some(Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_millis(settings.timeout_ms))
                .build()
                .map_err(|e| {
                    SettingError::unusable("wechat_pay.api_base_url", "no HTTP client for it", e)
                })?,
            base_url: settings.api_base_url.trim_end_matches('/').to_string(),
            mchid: settings.mchid.clone(),
            appid: appid.to_string(),
            merchant_serial: settings.merchant_serial.clone(),
            notify_url: settings.notify_url.clone(),
            key: SigningKey::<Sha256>::new(key),
            verifier,
        }))
    }

    /// SHA256withRSA with the merchant key, base64.
    pub(super) fn sign(&self, message: &str) -> String {
        BASE64.encode(&self.key.sign(message.as_bytes()).to_bytes())
    }

    /// Sends a signed request to `path_and_query` under the API's base URL (an empty `body` for
    /// a GET) and returns the answer's body once its signature verifies. A 5xx, a network fault
    /// or an unverified answer is `Unavailable`; another refusal is `Refused` with WeChat's body.
    pub(super) async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        body: &str,
    ) -> Result<Vec<u8>, PayError> {
        let timestamp = Utc::now().timestamp().to_string();
        let nonce_str = nonce();
        let signature = self.sign(&format!(
            "{method}\n{path_and_query}\n{timestamp}\n{nonce_str}\n{body}\n"
        ));
        let authorization = format!(
            "WECHATPAY2-SHA256-RSA2048 mchid=\"{}\",nonce_str=\"{nonce_str}\",signature=\"{signature}\",timestamp=\"{timestamp}\",serial_no=\"{}\"",
            self.mchid, self.merchant_serial
        );
        let mut request = self
            .http
            .request(method, format!("{}{path_and_query}", self.base_url))
            .header("authorization", authorization)
            .header("accept", "application/json");
        if !body.is_empty() {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request
            .send()
            .await
            .map_err(|e| PayError::Unavailable(e.without_url().to_string()))?;
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
            .map_err(|e| PayError::Unavailable(e.without_url().to_string()))?;
        if status.is_server_error() {
            return Err(PayError::Unavailable(format!("status {status}")));
        }
        if !status.is_success() {
            return Err(PayError::Refused(
                String::from_utf8_lossy(&reply).into_owned(),
            ));
        }
        self.verifier
            .verify_signature(&headers, &reply, Utc::now())
            .map_err(|e| PayError::Unavailable(format!("unverified answer: {e}")))?;
        Ok(reply.to_vec())
    }
}
