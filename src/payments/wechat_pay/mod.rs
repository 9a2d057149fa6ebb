//! WeChat Pay API v3 notifications (支付结果通知 and 退款结果通知), verified before anything is
//! believed:
//!
//! 1. the signature type is `WECHATPAY2-SHA256-RSA2048` and the signature is not a probe
//!    (`WECHATPAY/SIGNTEST/…`, which must fail);
//! 2. the timestamp is within [`MAX_CLOCK_SKEW_SECS`] of ours;
//! 3. SHA256withRSA over `timestamp\nnonce\nraw body\n` verifies with the platform public key
//!    chosen by `Wechatpay-Serial` (several may be live during a key switch);
//! 4. the resource decrypts with AES-256-GCM under the merchant's APIv3 key;
//! 5. the transaction is ours (mchid, appid) and succeeded; a refund is our merchant's.
//!
//! The amount is checked against our order by the capture itself when the payment is recorded.
//! [`sandbox`] signs notifications for `serve --dev`.

pub mod client;
pub mod prepay;
pub mod query;
pub mod refund;
pub mod sandbox;

use std::collections::HashMap;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use chrono::{DateTime, Utc};
use data_encoding::BASE64;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use rsa::RsaPublicKey;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::Sha256;

use crate::configuration::SettingError;
use refund::RefundAnswer;

/// How far a notification's timestamp may be from our clock.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;
const SIGNATURE_TYPE: &str = "WECHATPAY2-SHA256-RSA2048";
const PROBE_PREFIX: &str = "WECHATPAY/SIGNTEST/";

/// A platform public key and the serial WeChat names it by.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformKey {
    /// A platform certificate's serial number or a `PUB_KEY_ID_…` id.
    pub serial: String,
    /// The public key, PEM (`-----BEGIN PUBLIC KEY-----`).
    pub public_key_pem: String,
}

/// The merchant's WeChat Pay settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WechatPaySettings {
    /// The merchant id (商户号).
    pub mchid: String,
    /// The APIv3 key: 32 bytes that decrypt notification resources.
    pub api_v3_key: Option<SecretString>,
    /// Every platform key currently live.
    pub platform_keys: Vec<PlatformKey>,
    /// The merchant's API private key (PKCS#8 PEM), which signs prepay requests; without it
    /// orders carry no payment parameters.
    pub merchant_private_key_pem: Option<SecretString>,
    /// The serial number of the merchant's API certificate.
    pub merchant_serial: String,
    /// Where WeChat Pay sends notifications: our `/api/v1/payments/wechat/notify`, public HTTPS.
    pub notify_url: String,
    /// Base URL of the WeChat Pay API.
    pub api_base_url: String,
    pub timeout_ms: u64,
    /// An order still unpaid this long after it was placed, and after each question since, is
    /// looked up with WeChat Pay's order query, in case its notification was lost.
    pub query_after_secs: u64,
    /// For how long after an order is placed it is looked up; 0 turns the lookups off.
    pub query_for_hours: u64,
    /// How long after a refund is asked for (or refused, or not answered) it is asked about
    /// again; the wait doubles with each question, up to an hour.
    pub refund_retry_secs: u64,
    /// Refusals after which a refund is recorded failed, for staff to look at.
    pub refund_max_refusals: u32,
}

impl Default for WechatPaySettings {
    fn default() -> Self {
        Self {
            mchid: String::new(),
            api_v3_key: None,
            platform_keys: vec![],
            merchant_private_key_pem: None,
            merchant_serial: String::new(),
            notify_url: String::new(),
            api_base_url: "https://api.mch.weixin.qq.com".into(),
            timeout_ms: 5_000,
            query_after_secs: 300,
            query_for_hours: 24,
            refund_retry_secs: 60,
            refund_max_refusals: 5,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NotifyError {
    #[error("WeChat Pay is not configured")]
    NotConfigured,
    #[error("missing or malformed header {0}")]
    BadHeader(&'static str),
    #[error("a signature probe")]
    Probe,
    #[error("timestamp outside the accepted window")]
    Stale,
    #[error("no platform key with serial {0:?}")]
    UnknownSerial(String),
    #[error("signature does not verify")]
    BadSignature,
    #[error("malformed notification: {0}")]
    Malformed(String),
    #[error("resource does not decrypt")]
    Undecryptable,
    #[error("notification for another merchant or app")]
    NotOurs,
}

/// The headers WeChat signs with.
#[derive(Clone, Debug, Default)]
pub struct NotifyHeaders {
    pub signature: Option<String>,
    pub timestamp: Option<String>,
    pub nonce: Option<String>,
    pub serial: Option<String>,
    pub signature_type: Option<String>,
}

#[derive(Deserialize)]
struct Envelope {
    event_type: String,
    resource: Resource,
}

#[derive(Deserialize)]
struct Resource {
    algorithm: String,
    ciphertext: String,
    nonce: String,
    #[serde(default)]
    associated_data: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Amount {
    pub total: u64,
    #[serde(default)]
    pub currency: String,
}

/// The decrypted transaction.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Transaction {
    pub mchid: String,
    pub appid: String,
    pub out_trade_no: String,
    pub transaction_id: String,
    pub trade_state: String,
    pub success_time: Option<DateTime<Utc>>,
    pub amount: Amount,
}

/// A refund result notification's resource (`REFUND.SUCCESS`, `REFUND.ABNORMAL`,
/// `REFUND.CLOSED`), decrypted. Refund notifications name no app, only the merchant.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct RefundNotice {
    pub mchid: String,
    #[serde(flatten)]
    pub refund: RefundAnswer,
}

/// What a verified notification, or an answer to an order query, says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notification {
    /// `TRANSACTION.SUCCESS` with a successful trade.
    Paid(Transaction),
    /// What became of a refund.
    Refund(RefundNotice),
    /// Any other event or trade state: nothing to record.
    Other(String),
}

pub struct NotifyVerifier {
    mchid: String,
    appid: String,
    api_v3_key: Option<SecretString>,
    keys: HashMap<String, VerifyingKey<Sha256>>,
}

impl NotifyVerifier {
    /// In development (`dev`), the sandbox platform key is trusted too, and a missing merchant
    /// or APIv3 key is the sandbox's.
    pub fn new(settings: &WechatPaySettings, appid: &str, dev: bool) -> Result<Self, SettingError> {
        let mut settings = settings.clone();
        if dev {
            settings.platform_keys.push(sandbox::platform_key());
            if settings.mchid.is_empty() {
                settings.mchid = sandbox::MCHID.into();
            }
            if settings.api_v3_key.is_none() {
                settings.api_v3_key = Some(sandbox::API_V3_KEY.into());
            }
        }
        let settings = &settings;
        let mut keys = HashMap::new();
        for key in &settings.platform_keys {
            let public = RsaPublicKey::from_public_key_pem(&key.public_key_pem).map_err(|_| {
                SettingError::invalid(
                    "wechat_pay.platform_keys",
                    format!("key {:?} is not a PEM public key", key.serial),
                )
            })?;
            keys.insert(key.serial.clone(), VerifyingKey::<Sha256>::new(public));
        }
        if let Some(key) = &settings.api_v3_key {
            if key.expose_secret().len() != 32 {
                return Err(SettingError::invalid(
                    "wechat_pay.api_v3_key",
                    "must be 32 bytes",
                ));
            }
        }
        Ok(Self {
            mchid: settings.mchid.clone(),
            appid: appid.to_string(),
            api_v3_key: settings.api_v3_key.clone(),
            keys,
        })
    }

    /// Checks a message WeChat Pay signed (a notification, or an answer to our request): the
    /// signature type, no probe, a fresh timestamp, and SHA256withRSA over
    /// `timestamp\nnonce\nbody\n` with the platform key the serial names.
    pub fn verify_signature(
        &self,
        headers: &NotifyHeaders,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), NotifyError> {
        if self.keys.is_empty() {
            return Err(NotifyError::NotConfigured);
        }
        let header = |value: &Option<String>, name| {
            value
                .clone()
                .filter(|v| !v.is_empty())
                .ok_or(NotifyError::BadHeader(name))
        };
        let signature = header(&headers.signature, "Wechatpay-Signature")?;
        if signature.starts_with(PROBE_PREFIX) {
            return Err(NotifyError::Probe);
        }
        if headers
            .signature_type
            .as_deref()
            .is_some_and(|t| t != SIGNATURE_TYPE)
        {
            return Err(NotifyError::BadHeader("Wechatpay-Signature-Type"));
        }
        let timestamp = header(&headers.timestamp, "Wechatpay-Timestamp")?;
        let nonce = header(&headers.nonce, "Wechatpay-Nonce")?;
        let serial = header(&headers.serial, "Wechatpay-Serial")?;
        let seconds: i64 = timestamp
            .parse()
            .map_err(|_| NotifyError::BadHeader("Wechatpay-Timestamp"))?;
        if (now.timestamp() - seconds).abs() > MAX_CLOCK_SKEW_SECS {
            return Err(NotifyError::Stale);
        }
        let key = self
            .keys
            .get(&serial)
            .ok_or_else(|| NotifyError::UnknownSerial(serial.clone()))?;
        let signature = BASE64
            .decode(signature.as_bytes())
            .ok()
            .and_then(|bytes| Signature::try_from(bytes.as_slice()).ok())
            .ok_or(NotifyError::BadSignature)?;
        let mut message = Vec::with_capacity(body.len() + 64);
        message.extend_from_slice(timestamp.as_bytes());
        message.push(b'\n');
        message.extend_from_slice(nonce.as_bytes());
        message.push(b'\n');
        message.extend_from_slice(body);
        message.push(b'\n');
        key.verify(&message, &signature)
            .map_err(|_| NotifyError::BadSignature)
    }

    /// Verifies and decrypts a notification's raw body.
    pub fn verify(
        &self,
        headers: &NotifyHeaders,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Notification, NotifyError> {
        let api_v3_key = match &self.api_v3_key {
            Some(key) if !self.mchid.is_empty() => key,
            _ => return Err(NotifyError::NotConfigured),
        };
        self.verify_signature(headers, body, now)?;
        let envelope: Envelope =
            serde_json::from_slice(body).map_err(|e| NotifyError::Malformed(e.to_string()))?;
        match envelope.event_type.as_str() {
            "TRANSACTION.SUCCESS" => {
                let transaction: Transaction = decrypt(api_v3_key, &envelope.resource)?;
                self.check_ours(&transaction.mchid, &transaction.appid)?;
                if transaction.trade_state != "SUCCESS" {
                    return Ok(Notification::Other(transaction.trade_state));
                }
                Ok(Notification::Paid(transaction))
            }
            "REFUND.SUCCESS" | "REFUND.ABNORMAL" | "REFUND.CLOSED" => {
                let notice: RefundNotice = decrypt(api_v3_key, &envelope.resource)?;
                if notice.mchid != self.mchid {
                    return Err(NotifyError::NotOurs);
                }
                Ok(Notification::Refund(notice))
            }
            _ => Ok(Notification::Other(envelope.event_type)),
        }
    }

    /// Refuses a transaction of another merchant or mini-program.
    pub fn check_ours(&self, mchid: &str, appid: &str) -> Result<(), NotifyError> {
        if mchid != self.mchid || appid != self.appid {
            return Err(NotifyError::NotOurs);
        }
        Ok(())
    }
}

/// Decrypts a notification's resource with the APIv3 key and reads what it holds.
fn decrypt<T: serde::de::DeserializeOwned>(
    api_v3_key: &SecretString,
    resource: &Resource,
) -> Result<T, NotifyError> {
    if resource.algorithm != "AEAD_AES_256_GCM" {
        return Err(NotifyError::Malformed(format!(
            "algorithm {}",
            resource.algorithm
        )));
    }
    let ciphertext = BASE64
        .decode(resource.ciphertext.as_bytes())
        .map_err(|_| NotifyError::Undecryptable)?;
    if resource.nonce.len() != 12 {
        return Err(NotifyError::Undecryptable);
    }
    let cipher = Aes256Gcm::new_from_slice(api_v3_key.expose_secret().as_bytes())
        .map_err(|_| NotifyError::NotConfigured)?;
    let plaintext = cipher
        .decrypt(
            Nonce::from_slice(resource.nonce.as_bytes()),
            Payload {
                msg: &ciphertext,
                aad: resource.associated_data.as_bytes(),
            },
        )
        .map_err(|_| NotifyError::Undecryptable)?;
    serde_json::from_slice(&plaintext).map_err(|e| NotifyError::Malformed(e.to_string()))
}
