//! The audit key that signs seals, and when to seal.

use std::path::Path;
use std::time::Duration;

use ed25519_dalek::{SigningKey, VerifyingKey};
use secrecy::{ExposeSecret, SecretString};

use crate::configuration::SettingError;

/// Where a generated audit key is kept when none is configured.
const KEY_FILE: &str = "audit-key.secret";

/// The `[audit]` section of the settings.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditSettings {
    /// Ed25519 key that signs seals: 64 hex digits (its seed). Every instance sharing a database
    /// uses the same one. Without it a key is generated once and kept in the data directory.
    pub signing_key: Option<SecretString>,
    /// A seal is made as soon as this many events wait unsealed…
    pub seal_every_events: u32,
    /// …or when events have waited this long since the last seal.
    pub seal_interval_secs: u64,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            signing_key: None,
            seal_every_events: 10_000,
            seal_interval_secs: 60,
        }
    }
}

impl AuditSettings {
    /// The configured key, else the one kept in the data directory (made on first use, so the
    /// embedded default seals at once).
    pub fn key(&self, data_dir: &Path) -> Result<AuditKey, SettingError> {
        let (text, origin) = match &self.signing_key {
            Some(seed) => (seed.expose_secret().to_string(), "audit.signing_key"),
            None => (
                crate::configuration::data_dir_secret(data_dir, KEY_FILE, || {
                    hex::encode(SigningKey::generate(&mut rand::rngs::OsRng).to_bytes())
                })?,
                "the audit key kept in the data directory",
            ),
        };
        let seed: [u8; 32] = hex::decode(text.trim())
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| {
                SettingError::invalid(
                    "audit.signing_key",
                    format!("{origin} must be 64 hex digits"),
                )
            })?;
        Ok(AuditKey(SigningKey::from_bytes(&seed)))
    }

    /// Most events one seal covers.
    pub fn events_per_seal(&self) -> i64 {
        i64::from(self.seal_every_events.max(1))
    }

    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.seal_interval_secs.max(1))
    }
}

/// The key seals are signed with. Never printed.
#[derive(Clone)]
pub struct AuditKey(SigningKey);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuditKey({})", self.public_key_hex())
    }
}

impl AuditKey {
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self(SigningKey::from_bytes(&seed))
    }

    pub fn signing(&self) -> &SigningKey {
        &self.0
    }

    pub fn public_key(&self) -> VerifyingKey {
        self.0.verifying_key()
    }

    pub fn public_key_hex(&self) -> String {
        hex::encode(self.public_key().to_bytes())
    }
}

/// A public key from 64 hex digits, as `audit verify --public-key` takes it.
pub fn parse_public_key(text: &str) -> Option<VerifyingKey> {
    let bytes: [u8; 32] = hex::decode(text.trim()).ok()?.try_into().ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_is_kept_and_a_malformed_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let settings = AuditSettings::default();
        let first = settings.key(dir.path()).unwrap();
        let again = settings.key(dir.path()).unwrap();
        assert_eq!(first.public_key_hex(), again.public_key_hex());
        assert!(!format!("{first:?}").contains(&hex::encode(first.signing().to_bytes())));

        let configured = AuditSettings {
            signing_key: Some("12".repeat(32).into()),
            ..AuditSettings::default()
        };
        assert_eq!(
            configured.key(dir.path()).unwrap().public_key_hex(),
            AuditKey::from_seed([0x12; 32]).public_key_hex()
        );
        let malformed = AuditSettings {
            signing_key: Some("not hex".to_string().into()),
            ..AuditSettings::default()
        };
        let said = malformed.key(dir.path()).unwrap_err().to_string();
        assert!(said.contains("audit.signing_key"), "{said}");
    }
}
