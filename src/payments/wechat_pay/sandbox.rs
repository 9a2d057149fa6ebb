//! Sandbox notifications for `serve --dev`: a platform key pair that ships with the source (so
//! it is never a secret and is trusted only in development) signs notifications the service sends
//! itself, so the whole payment flow can be tried without WeChat.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use chrono::{DateTime, Utc};
use data_encoding::BASE64;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::RsaPrivateKey;
use secrecy::ExposeSecret;
use sha2::Sha256;

use super::{NotifyHeaders, NotifyVerifier, PlatformKey};
use crate::configuration::SettingError;

/// The serial the sandbox platform key is known by.
pub const SERIAL: &str = "PUB_KEY_ID_SANDBOX_DEV_ONLY";
const PRIVATE_KEY_PEM: &str = include_str!("../../../fixtures/wechat-pay/platform-key.pem");
const PUBLIC_KEY_PEM: &str = include_str!("../../../fixtures/wechat-pay/platform-public.pem");
/// Used when no APIv3 key is configured.
pub const API_V3_KEY: &str = "sandbox APIv3 key, dev use only!";
/// Used when no merchant is configured.
pub const MCHID: &str = "1900000000";

pub fn platform_key() -> PlatformKey {
    PlatformKey {
        serial: SERIAL.into(),
        public_key_pem: PUBLIC_KEY_PEM.into(),
    }
}

/// What the sandbox pays.
pub struct SandboxPayment<'a> {
    pub out_trade_no: &'a str,
    pub amount_fen: u64,
    pub transaction_id: &'a str,
    pub openid: &'a str,
    pub at: DateTime<Utc>,
}

/// A `TRANSACTION.SUCCESS` notification as WeChat Pay would send it to `verifier`'s merchant:
/// the headers and the raw body.
pub fn notification(
    verifier: &NotifyVerifier,
    payment: &SandboxPayment<'_>,
) -> Result<(NotifyHeaders, Vec<u8>), SettingError> {
    let api_v3_key = verifier
        .api_v3_key
        .as_ref()
        .ok_or_else(|| SettingError::invalid("wechat_pay.api_v3_key", "is not set"))?;
    let transaction = serde_json::json!({
        "mchid": verifier.mchid,
        "appid": verifier.appid,
        "out_trade_no": payment.out_trade_no,
        "transaction_id": payment.transaction_id,
        "trade_type": "JSAPI",
        "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功",
        "success_time": payment.at.to_rfc3339(),
        "payer": {"openid": payment.openid},
        "amount": {"total": payment.amount_fen, "payer_total": payment.amount_fen, "currency": "CNY", "payer_currency": "CNY"},
    });
    let nonce: String = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    let cipher = Aes256Gcm::new_from_slice(api_v3_key.expose_secret().as_bytes())
        .map_err(|_| SettingError::invalid("wechat_pay.api_v3_key", "must be 32 bytes"))?;
    let ciphertext = cipher
        .encrypt(
            Nonce::from_slice(nonce.as_bytes()),
            Payload {
                msg: transaction.to_string().as_bytes(),
                aad: b"transaction",
            },
        )
        .map_err(|_| SettingError::invalid("wechat_pay.api_v3_key", "does not encrypt"))?;
    let body = serde_json::json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "create_time": payment.at.to_rfc3339(),
        "event_type": "TRANSACTION.SUCCESS",
        "resource_type": "encrypt-resource",
        "summary": "支付成功",
        "resource": {
            "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": BASE64.encode(&ciphertext),
            "nonce": nonce,
            "associated_data": "transaction",
            "original_type": "transaction",
        },
    })
    .to_string()
    .into_bytes();
    let timestamp = Utc::now().timestamp().to_string();
    let signing_nonce = uuid::Uuid::new_v4().simple().to_string();
    let mut message = format!("{timestamp}\n{signing_nonce}\n").into_bytes();
    message.extend_from_slice(&body);
    message.push(b'\n');
    let key = RsaPrivateKey::from_pkcs8_pem(PRIVATE_KEY_PEM)
        .expect("the sandbox's platform key, built in, is a PKCS#8 PEM key");
    let signature = SigningKey::<Sha256>::new(key).sign(&message);
    let headers = NotifyHeaders {
        signature: Some(BASE64.encode(&signature.to_bytes())),
        timestamp: Some(timestamp),
        nonce: Some(signing_nonce),
        serial: Some(SERIAL.into()),
        signature_type: Some("WECHATPAY2-SHA256-RSA2048".into()),
    };
    Ok((headers, body))
}
