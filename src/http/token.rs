//! Access tokens: `v1.<claims>.<tag>`, the claims as base64url JSON and the tag an HMAC-SHA256 of
//! `v1.<claims>` under the service's token secret. A token names its subject (an openid or a
//! staff username), its role and when it expires; nothing else, so a leaked token reveals no
//! student data.

use chrono::{DateTime, Duration, Utc};
use data_encoding::BASE64URL_NOPAD;
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

pub use photo_ledger_domain::metadata::Role;

use crate::configuration::SettingError;

// `Role` as the OpenAPI document shows it (the domain crate knows nothing of OpenAPI). A plain
// comment: a doc comment would become the schema's description.
#[derive(utoipa::ToSchema)]
#[schema(as = Role, rename_all = "snake_case")]
#[allow(dead_code)]
enum RoleSchema {
    Student,
    Reviewer,
    Courier,
    Admin,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct IssuedToken {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    #[schema(value_type = RoleSchema)]
    pub role: Role,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("token signature does not verify")]
    BadSignature,
    #[error("token expired")]
    Expired,
}

const VERSION: &str = "v1";
/// Shorter secrets are refused: HMAC-SHA256 wants at least its output size.
pub const MIN_SECRET_BYTES: usize = 32;
/// Where the token secret is kept when none is configured.
const TOKEN_SECRET_FILE: &str = "token-secret.secret";

#[derive(Clone)]
pub struct TokenKeys {
    secret: secrecy::SecretSlice<u8>,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(…)")
    }
}

impl TokenKeys {
    pub fn new(secret: &[u8]) -> Result<Self, SettingError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(SettingError::invalid(
                "auth.token_secret",
                format!("must be at least {MIN_SECRET_BYTES} bytes"),
            ));
        }
        Ok(Self {
            secret: secret.to_vec().into(),
        })
    }

    /// A random secret, for `serve --dev`: tokens do not survive a restart.
    pub fn random() -> Self {
        let secret: [u8; 32] = rand::random();
        Self {
            secret: secret.to_vec().into(),
        }
    }

    /// The configured secret; else, in development, a random one (tokens do not survive a
    /// restart), and otherwise one kept in the data directory, like the embedded database.
    pub fn from_settings(
        secret: Option<&secrecy::SecretString>,
        dev: bool,
        data_dir: &std::path::Path,
    ) -> Result<Self, SettingError> {
        match secret {
            Some(secret) => Self::new(secret.expose_secret().as_bytes()),
            None if dev => Ok(Self::random()),
            None => {
                let kept =
                    crate::configuration::data_dir_secret(data_dir, TOKEN_SECRET_FILE, || {
                        hex::encode(rand::random::<[u8; 32]>())
                    })?;
                Self::new(kept.as_bytes())
            }
        }
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(self.secret.expose_secret()).expect("HMAC takes any key")
    }

    pub fn issue(
        &self,
        subject: &str,
        role: Role,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> IssuedToken {
        let expires_at = now + ttl;
        let claims = Claims {
            sub: subject.to_string(),
            role,
            exp: expires_at.timestamp(),
        };
        let body = BASE64URL_NOPAD.encode(&serde_json::to_vec(&claims).expect("claims serialise"));
        let signed = format!("{VERSION}.{body}");
        let mut mac = self.mac();
        mac.update(signed.as_bytes());
        let tag = BASE64URL_NOPAD.encode(&mac.finalize().into_bytes());
        IssuedToken {
            token: format!("{signed}.{tag}"),
            expires_at: DateTime::from_timestamp(claims.exp, 0).unwrap_or(expires_at),
            role,
        }
    }

    /// The console's anti-forgery token for the session carrying `token`: keyed by the token
    /// secret, so only the service can make it, and different for every session.
    pub fn csrf_for(&self, token: &str) -> String {
        let mut mac = self.mac();
        mac.update(b"console-csrf\0");
        mac.update(token.as_bytes());
        BASE64URL_NOPAD.encode(&mac.finalize().into_bytes())
    }

    /// Whether `offered` is the anti-forgery token of the session carrying `token`, compared in
    /// constant time.
    pub fn csrf_matches(&self, token: &str, offered: &str) -> bool {
        let Ok(offered) = BASE64URL_NOPAD.decode(offered.as_bytes()) else {
            return false;
        };
        let mut mac = self.mac();
        mac.update(b"console-csrf\0");
        mac.update(token.as_bytes());
        mac.verify_slice(&offered).is_ok()
    }

    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        let (signed, tag) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let (version, body) = signed.split_once('.').ok_or(TokenError::Malformed)?;
        if version != VERSION {
            return Err(TokenError::Malformed);
        }
        let tag = BASE64URL_NOPAD
            .decode(tag.as_bytes())
            .map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac();
        mac.update(signed.as_bytes());
        mac.verify_slice(&tag)
            .map_err(|_| TokenError::BadSignature)?;
        let claims: Claims = BASE64URL_NOPAD
            .decode(body.as_bytes())
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .ok_or(TokenError::Malformed)?;
        if claims.exp <= now.timestamp() {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(byte: u8) -> TokenKeys {
        TokenKeys::new(&[byte; 32]).unwrap()
    }

    #[test]
    fn a_token_verifies_until_it_expires() {
        let now: DateTime<Utc> = "2026-06-01T08:00:00Z".parse().unwrap();
        let issued = keys(1).issue("openid-1", Role::Student, Duration::hours(2), now);
        let claims = keys(1).verify(&issued.token, now).unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.role),
            ("openid-1", Role::Student)
        );
        assert_eq!(
            keys(1).verify(&issued.token, now + Duration::hours(2)),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn another_key_or_an_edited_claim_is_refused() {
        let now = Utc::now();
        let issued = keys(1).issue("alice", Role::Reviewer, Duration::hours(1), now);
        assert_eq!(
            keys(2).verify(&issued.token, now),
            Err(TokenError::BadSignature)
        );
        let (_, body, tag) = {
            let mut parts = issued.token.split('.');
            (
                parts.next().unwrap(),
                parts.next().unwrap(),
                parts.next().unwrap(),
            )
        };
        let mut claims: Claims =
            serde_json::from_slice(&BASE64URL_NOPAD.decode(body.as_bytes()).unwrap()).unwrap();
        claims.role = Role::Admin;
        let forged = format!(
            "v1.{}.{tag}",
            BASE64URL_NOPAD.encode(&serde_json::to_vec(&claims).unwrap())
        );
        assert_eq!(keys(1).verify(&forged, now), Err(TokenError::BadSignature));
        assert_eq!(keys(1).verify("v1.abc", now), Err(TokenError::Malformed));
        assert_eq!(keys(1).verify("", now), Err(TokenError::Malformed));
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(TokenKeys::new(b"too short").is_err());
    }
}
