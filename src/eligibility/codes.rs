//! Collection codes (采集码): our own signed stand-in for 学信网's encrypted per-student QR code.
//!
//! A code names one education record (school, category, student number) and shows the masked
//! name and ID number so a student can see it is theirs. It is signed with Ed25519: the issuer
//! (`codes issue`) holds the signing key, anything that verifies needs only the public key, and
//! a forged or altered code fails the signature. The text form is the README's "Collection
//! codes" section; in short:
//!
//! ```text
//! token     = "PL1-" BASE32(payload || signature)          RFC 4648 alphabet, no padding
//! payload   = school_id (16-byte UUID) || str(education_type) || str(student_number)
//!             || str(name_masked) || str(id_masked)          str(s) = 1-byte length || UTF-8
//! signature = Ed25519(key, "photo-ledger collection code v1" || payload)
//! ```
//!
//! Base32 keeps the QR code in its compact alphanumeric mode and lets a code be typed without
//! caring about case; the digits 0, 1 and 8 never occur in it, so a typed 0, 1 or 8 is read as
//! the O, I or B it must have been.

use std::path::Path;

use data_encoding::BASE32_NOPAD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey, SIGNATURE_LENGTH};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::configuration::SettingError;

const PREFIX: &str = "PL1-";
const DOMAIN: &[u8] = b"photo-ledger collection code v1";
const KEY_FILE: &str = "code-signing-key.secret";

/// What a collection code says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodePayload {
    pub school_id: Uuid,
    pub education_type: String,
    pub student_number: String,
    pub name_masked: String,
    pub id_masked: String,
}

/// A code whose signature holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedCode {
    pub payload: CodePayload,
    /// `sha256:` and 16 hex digits of the code's bytes: the same however the code was typed,
    /// and recorded instead of the code, which is a credential.
    pub fingerprint: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("not a collection code of ours (they start with {PREFIX})")]
    NotOurs,
    #[error("the code is incomplete or mistyped")]
    Garbled,
    #[error("the signature does not match: forged or altered")]
    BadSignature,
}

/// A code cannot carry a field longer than 255 bytes.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is longer than the 255 bytes a collection code can carry")]
pub struct FieldTooLong(String);

impl CodePayload {
    fn to_bytes(&self) -> Result<Vec<u8>, FieldTooLong> {
        let mut bytes = self.school_id.as_bytes().to_vec();
        for field in [
            &self.education_type,
            &self.student_number,
            &self.name_masked,
            &self.id_masked,
        ] {
            let len = u8::try_from(field.len()).map_err(|_| FieldTooLong(field.to_string()))?;
            bytes.push(len);
            bytes.extend_from_slice(field.as_bytes());
        }
        Ok(bytes)
    }

    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let (school_id, mut rest) = bytes.split_first_chunk::<16>()?;
        let mut field = || -> Option<String> {
            let (&len, tail) = rest.split_first()?;
            let (text, tail) = tail.split_at_checked(usize::from(len))?;
            rest = tail;
            String::from_utf8(text.to_vec()).ok()
        };
        let payload = Self {
            school_id: Uuid::from_bytes(*school_id),
            education_type: field()?,
            student_number: field()?,
            name_masked: field()?,
            id_masked: field()?,
        };
        rest.is_empty().then_some(payload)
    }
}

fn signed_message(payload: &[u8]) -> Vec<u8> {
    [DOMAIN, payload].concat()
}

/// Issues codes. Only `codes issue` needs one.
pub struct CodeSigner {
    key: SigningKey,
}

impl CodeSigner {
    pub fn new(key: SigningKey) -> Self {
        Self { key }
    }

    /// A key from 64 hex digits (its 32-byte seed).
    pub fn from_hex(hex_seed: &str) -> Result<Self, SettingError> {
        let seed: [u8; 32] = hex::decode(hex_seed.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| SettingError::invalid("codes.signing_key", "must be 64 hex digits"))?;
        Ok(Self::new(SigningKey::from_bytes(&seed)))
    }

    /// The key kept in `data_dir`, created on first use so the embedded default works at once.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, SettingError> {
        let text = crate::configuration::data_dir_secret(data_dir, KEY_FILE, || {
            hex::encode(SigningKey::generate(&mut rand::rngs::OsRng).to_bytes())
        })?;
        Self::from_hex(&text).map_err(|_| {
            SettingError::invalid(
                "codes.signing_key",
                format!(
                    "{} does not hold 64 hex digits",
                    data_dir.join(KEY_FILE).display()
                ),
            )
        })
    }

    pub fn public_key_hex(&self) -> String {
        hex::encode(self.key.verifying_key().to_bytes())
    }

    pub fn verifier(&self) -> CodeVerifier {
        CodeVerifier {
            key: self.key.verifying_key(),
        }
    }

    pub fn issue(&self, payload: &CodePayload) -> Result<String, FieldTooLong> {
        let mut bytes = payload.to_bytes()?;
        let signature = self.key.sign(&signed_message(&bytes));
        bytes.extend_from_slice(&signature.to_bytes());
        Ok(format!("{PREFIX}{}", BASE32_NOPAD.encode(&bytes)))
    }
}

/// Checks codes; needs only the public key.
#[derive(Clone, Debug)]
pub struct CodeVerifier {
    key: VerifyingKey,
}

impl CodeVerifier {
    pub fn from_hex(hex_key: &str) -> Result<Self, SettingError> {
        let bytes: [u8; 32] = hex::decode(hex_key.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| SettingError::invalid("codes.public_key", "must be 64 hex digits"))?;
        let key = VerifyingKey::from_bytes(&bytes)
            .map_err(|e| SettingError::unusable("codes.public_key", "is not an Ed25519 key", e))?;
        Ok(Self { key })
    }

    /// Reads a code as scanned or typed: case, spaces and dashes do not matter.
    pub fn verify(&self, text: &str) -> Result<CodePayload, CodeError> {
        self.check(text).map(|checked| checked.payload)
    }

    /// [`verify`](Self::verify), also returning the code's fingerprint.
    pub fn check(&self, text: &str) -> Result<CheckedCode, CodeError> {
        let compact: String = text
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let body = compact
            .strip_prefix("PL1")
            .ok_or(CodeError::NotOurs)?
            .chars()
            .filter(|&c| c != '-')
            .map(|c| match c {
                '0' => 'O',
                '1' => 'I',
                '8' => 'B',
                other => other,
            })
            .collect::<String>();
        let bytes = BASE32_NOPAD
            .decode(body.as_bytes())
            .map_err(|_| CodeError::Garbled)?;
        if bytes.len() <= SIGNATURE_LENGTH {
            return Err(CodeError::Garbled);
        }
        let (payload, signature) = bytes.split_at(bytes.len() - SIGNATURE_LENGTH);
        let signature = Signature::from_slice(signature).map_err(|_| CodeError::BadSignature)?;
        self.key
            .verify_strict(&signed_message(payload), &signature)
            .map_err(|_| CodeError::BadSignature)?;
        Ok(CheckedCode {
            payload: CodePayload::from_bytes(payload).ok_or(CodeError::Garbled)?,
            fingerprint: format!("sha256:{}", &hex::encode(Sha256::digest(&bytes))[..16]),
        })
    }
}

/// The `[codes]` settings: where the code keys come from, else a key file in the data directory.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CodeKeySettings {
    /// Ed25519 key that signs collection codes: 64 hex digits (its seed). Without it a key is
    /// generated once and kept in the data directory.
    pub signing_key: Option<secrecy::SecretString>,
    /// The public key that verifies collection codes (64 hex digits). Instances that only verify
    /// need just this; without it the signing key's public half is used.
    pub public_key: Option<String>,
}

impl CodeKeySettings {
    pub fn signer(&self, data_dir: &Path) -> Result<CodeSigner, SettingError> {
        match &self.signing_key {
            Some(hex_seed) => CodeSigner::from_hex(secrecy::ExposeSecret::expose_secret(hex_seed)),
            None => CodeSigner::load_or_create(data_dir),
        }
    }

    pub fn verifier(&self, data_dir: &Path) -> Result<CodeVerifier, SettingError> {
        match &self.public_key {
            Some(hex_key) => CodeVerifier::from_hex(hex_key),
            None => Ok(self.signer(data_dir)?.verifier()),
        }
    }
}
