//! Collection codes (采集码): our own stand-in for 学信网's encrypted per-student QR code.
//!
//! A code names one education record (school, category, student number) and nothing else, and
//! only the service can read it: whoever holds a picture of someone's code learns nothing from it,
//! in particular not the last four characters of the ID number that verification asks for. What
//! the student is shown comes from the service, after the last four match. The text form is
//! `docs/eligibility.md`'s "Collection codes"; in short:
//!
//! ```text
//! token      = "PL2-" BASE32(nonce || ciphertext)               RFC 4648 alphabet, no padding
//! ciphertext = AES-256-GCM(code key, nonce, payload || signature, aad = DOMAIN)
//! payload    = school_id (16-byte UUID) || str(education_type) || str(student_number)
//! signature  = Ed25519(signing key, DOMAIN || payload)            str(s) = 1-byte length || UTF-8
//! ```
//!
//! Signed, then encrypted: the encryption hides the record from whoever holds the picture, and
//! the signature keeps what it always did, that only the issuer (`codes issue`) can make a code —
//! an instance that only verifies holds the code key (it must read codes) but not the signing
//! key. Codes of the first format (`PL1-`, signed only, carrying the masked name and ID number)
//! are refused as outdated unless `codes.accept_v1` is set.
//!
//! Base32 keeps the QR code in its compact alphanumeric mode and lets a code be typed without
//! caring about case; the digits 0, 1 and 8 never occur in it, so a typed 0, 1 or 8 is read as
//! the O, I or B it must have been.

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use data_encoding::BASE32_NOPAD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey, SIGNATURE_LENGTH};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::configuration::SettingError;

const PREFIX: &str = "PL2-";
const DOMAIN: &[u8] = b"photo-ledger collection code v2";
const NONCE_LENGTH: usize = 12;
/// The first format: signed, not encrypted.
const V1_PREFIX: &str = "PL1";
const V1_DOMAIN: &[u8] = b"photo-ledger collection code v1";
const KEY_FILE: &str = "code-signing-key.secret";
/// Derives the code key from the signing seed when none is configured.
const CODE_KEY_DOMAIN: &[u8] = b"photo-ledger collection code key v2";

/// What a collection code says: which education record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodePayload {
    pub school_id: Uuid,
    pub education_type: String,
    pub student_number: String,
}

/// A code that decrypts and whose signature holds.
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
    #[error("the code does not decrypt or its signature does not match: forged or altered")]
    BadSignature,
    #[error("a code of the first format (PL1-), which this service no longer accepts: the school must issue new codes")]
    Outdated,
}

/// A code cannot carry a field longer than 255 bytes.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is longer than the 255 bytes a collection code can carry")]
pub struct FieldTooLong(String);

/// `str(s)` fields after the school's UUID, read back; `None` unless `bytes` is exactly that.
fn read_fields<const N: usize>(bytes: &[u8]) -> Option<(Uuid, [String; N])> {
    let (school_id, mut rest) = bytes.split_first_chunk::<16>()?;
    let mut fields: [String; N] = std::array::from_fn(|_| String::new());
    for field in &mut fields {
        let (&len, tail) = rest.split_first()?;
        let (text, tail) = tail.split_at_checked(usize::from(len))?;
        rest = tail;
        *field = String::from_utf8(text.to_vec()).ok()?;
    }
    rest.is_empty()
        .then_some((Uuid::from_bytes(*school_id), fields))
}

impl CodePayload {
    fn to_bytes(&self) -> Result<Vec<u8>, FieldTooLong> {
        let mut bytes = self.school_id.as_bytes().to_vec();
        for field in [&self.education_type, &self.student_number] {
            let len = u8::try_from(field.len()).map_err(|_| FieldTooLong(field.to_string()))?;
            bytes.push(len);
            bytes.extend_from_slice(field.as_bytes());
        }
        Ok(bytes)
    }

    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let (school_id, [education_type, student_number]) = read_fields(bytes)?;
        Some(Self {
            school_id,
            education_type,
            student_number,
        })
    }

    /// A first-format payload, which also carried the masked name and ID number.
    fn from_v1_bytes(bytes: &[u8]) -> Option<Self> {
        let (school_id, [education_type, student_number, _name, _id]) = read_fields(bytes)?;
        Some(Self {
            school_id,
            education_type,
            student_number,
        })
    }
}

/// The AES-256 key codes are encrypted under.
#[derive(Clone)]
pub struct CodeKey(Aes256Gcm);

impl std::fmt::Debug for CodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeKey(..)")
    }
}

impl CodeKey {
    /// A key from 64 hex digits.
    pub fn from_hex(hex_key: &str) -> Result<Self, SettingError> {
        let bytes: [u8; 32] = hex::decode(hex_key.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                SettingError::invalid("codes.encryption_key", "must be 64 hex digits")
            })?;
        Ok(Self::from_bytes(&bytes))
    }

    fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self(Aes256Gcm::new(bytes.into()))
    }

    /// The key derived from a signing key, for a deployment that configures no code key.
    fn derived_from(signing: &SigningKey) -> Self {
        Self::from_bytes(&Self::derived_bytes(signing))
    }

    fn derived_bytes(signing: &SigningKey) -> [u8; 32] {
        Sha256::new()
            .chain_update(CODE_KEY_DOMAIN)
            .chain_update(signing.to_bytes())
            .finalize()
            .into()
    }
}

/// Issues codes. Only `codes issue` needs one.
pub struct CodeSigner {
    key: SigningKey,
    code_key: CodeKey,
}

impl CodeSigner {
    /// A signer whose code key is derived from the signing key.
    pub fn new(key: SigningKey) -> Self {
        Self {
            code_key: CodeKey::derived_from(&key),
            key,
        }
    }

    /// The same signer with a configured code key.
    pub fn with_code_key(self, code_key: CodeKey) -> Self {
        Self { code_key, ..self }
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

    /// The code key derived from the signing key, as 64 hex digits.
    #[cfg(test)]
    fn derived_code_key_hex(&self) -> String {
        hex::encode(CodeKey::derived_bytes(&self.key))
    }

    pub fn verifier(&self) -> CodeVerifier {
        CodeVerifier {
            key: self.key.verifying_key(),
            code_key: self.code_key.clone(),
            accept_v1: false,
        }
    }

    pub fn issue(&self, payload: &CodePayload) -> Result<String, FieldTooLong> {
        let mut plaintext = payload.to_bytes()?;
        let signature = self.key.sign(&[DOMAIN, &plaintext].concat());
        plaintext.extend_from_slice(&signature.to_bytes());
        let nonce: [u8; NONCE_LENGTH] = rand::random();
        let ciphertext = self
            .code_key
            .0
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &plaintext,
                    aad: DOMAIN,
                },
            )
            .expect("AES-GCM encrypts any message of this size");
        Ok(format!(
            "{PREFIX}{}",
            BASE32_NOPAD.encode(&[&nonce[..], &ciphertext].concat())
        ))
    }
}

/// Reads and checks codes: needs the code key and the public key, never the signing key.
#[derive(Clone, Debug)]
pub struct CodeVerifier {
    key: VerifyingKey,
    code_key: CodeKey,
    /// Whether first-format codes (signed, not encrypted) are still accepted.
    accept_v1: bool,
}

impl CodeVerifier {
    pub fn new(public_key_hex: &str, code_key: CodeKey) -> Result<Self, SettingError> {
        let bytes: [u8; 32] = hex::decode(public_key_hex.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| SettingError::invalid("codes.public_key", "must be 64 hex digits"))?;
        let key = VerifyingKey::from_bytes(&bytes)
            .map_err(|e| SettingError::unusable("codes.public_key", "is not an Ed25519 key", e))?;
        Ok(Self {
            key,
            code_key,
            accept_v1: false,
        })
    }

    /// Accepts first-format codes too: they show the masked ID number, whose last four are the
    /// answer verification asks for, so whoever holds a picture of one can verify as its student.
    /// Only for a deployment that must honour codes it has already handed out.
    pub fn accepting_v1(self, accept_v1: bool) -> Self {
        Self { accept_v1, ..self }
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
        let (version, body) = if let Some(body) = compact.strip_prefix("PL2") {
            (2, body)
        } else if let Some(body) = compact.strip_prefix(V1_PREFIX) {
            (1, body)
        } else {
            return Err(CodeError::NotOurs);
        };
        let body = body
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
        let payload = match version {
            2 => self.open(&bytes)?,
            _ if self.accept_v1 => self.open_v1(&bytes)?,
            _ => return Err(CodeError::Outdated),
        };
        Ok(CheckedCode {
            payload,
            fingerprint: format!("sha256:{}", &hex::encode(Sha256::digest(&bytes))[..16]),
        })
    }

    /// Decrypts a code's bytes and checks the signature inside.
    fn open(&self, bytes: &[u8]) -> Result<CodePayload, CodeError> {
        let (nonce, ciphertext) = bytes
            .split_at_checked(NONCE_LENGTH)
            .ok_or(CodeError::Garbled)?;
        let plaintext = self
            .code_key
            .0
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: DOMAIN,
                },
            )
            .map_err(|_| CodeError::BadSignature)?;
        let payload = self.signed(&plaintext, DOMAIN)?;
        CodePayload::from_bytes(payload).ok_or(CodeError::Garbled)
    }

    fn open_v1(&self, bytes: &[u8]) -> Result<CodePayload, CodeError> {
        let payload = self.signed(bytes, V1_DOMAIN)?;
        CodePayload::from_v1_bytes(payload).ok_or(CodeError::Garbled)
    }

    /// The payload of `payload || signature` once the signature holds.
    fn signed<'a>(&self, bytes: &'a [u8], domain: &[u8]) -> Result<&'a [u8], CodeError> {
        if bytes.len() <= SIGNATURE_LENGTH {
            return Err(CodeError::Garbled);
        }
        let (payload, signature) = bytes.split_at(bytes.len() - SIGNATURE_LENGTH);
        let signature = Signature::from_slice(signature).map_err(|_| CodeError::BadSignature)?;
        self.key
            .verify_strict(&[domain, payload].concat(), &signature)
            .map_err(|_| CodeError::BadSignature)?;
        Ok(payload)
    }
}

/// The `[codes]` settings: where the code keys come from, else a key file in the data directory.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CodeKeySettings {
    /// Ed25519 key that signs collection codes: 64 hex digits (its seed). Without it a key is
    /// generated once and kept in the data directory.
    pub signing_key: Option<SecretString>,
    /// The public key that verifies collection codes (64 hex digits). Instances that only verify
    /// need it, with the encryption key; without it the signing key's public half is used.
    pub public_key: Option<String>,
    /// The AES-256 key codes are encrypted under (64 hex digits). Without it, one derived from
    /// the signing key; a deployment with instances that only verify sets it on every instance.
    pub encryption_key: Option<SecretString>,
    /// Accept codes of the first format (`PL1-`), which show the masked ID number: only to
    /// honour codes already handed out, until new ones are.
    pub accept_v1: bool,
}

impl CodeKeySettings {
    pub fn signer(&self, data_dir: &Path) -> Result<CodeSigner, SettingError> {
        let signer = match &self.signing_key {
            Some(hex_seed) => CodeSigner::from_hex(hex_seed.expose_secret())?,
            None => CodeSigner::load_or_create(data_dir)?,
        };
        Ok(match &self.encryption_key {
            Some(key) => signer.with_code_key(CodeKey::from_hex(key.expose_secret())?),
            None => signer,
        })
    }

    /// The signer, unless this instance only verifies (a public key configured without a
    /// signing key): it must not make up a key of its own then.
    pub fn issuing_signer(&self, data_dir: &Path) -> Result<Option<CodeSigner>, SettingError> {
        if self.public_key.is_some() && self.signing_key.is_none() {
            return Ok(None);
        }
        self.signer(data_dir).map(Some)
    }

    pub fn verifier(&self, data_dir: &Path) -> Result<CodeVerifier, SettingError> {
        let verifier = match (&self.public_key, &self.encryption_key) {
            (Some(public_key), Some(key)) => {
                CodeVerifier::new(public_key, CodeKey::from_hex(key.expose_secret())?)?
            }
            (Some(_), None) if self.signing_key.is_none() => {
                return Err(SettingError::invalid(
                    "codes.encryption_key",
                    "an instance that only verifies needs the code key with the public key (`codes issue` prints both)",
                ))
            }
            (Some(public_key), None) => {
                CodeVerifier::new(public_key, self.signer(data_dir)?.code_key)?
            }
            (None, _) => self.signer(data_dir)?.verifier(),
        };
        Ok(verifier.accepting_v1(self.accept_v1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload() -> CodePayload {
        CodePayload {
            school_id: Uuid::from_u128(0x0381_924f_fbd6_471c_95ba_19e3_8b67_d267),
            education_type: "普通高等教育".into(),
            student_number: "2022010001".into(),
        }
    }

    #[test]
    fn a_code_reveals_nothing_of_its_record_to_whoever_holds_it() {
        let signer = CodeSigner::new(SigningKey::from_bytes(&[7; 32]));
        let code = signer.issue(&payload()).unwrap();
        let bytes = BASE32_NOPAD
            .decode(code.strip_prefix(PREFIX).unwrap().as_bytes())
            .unwrap();
        let p = payload();
        for (what, needle) in [
            ("the school", p.school_id.as_bytes().to_vec()),
            ("the category", p.education_type.as_bytes().to_vec()),
            ("the student number", p.student_number.as_bytes().to_vec()),
            (
                "any 4 digits of it",
                p.student_number.as_bytes()[6..].to_vec(),
            ),
        ] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{what} shows in the code's bytes"
            );
        }
        assert_ne!(code, signer.issue(&p).unwrap(), "a fresh nonce each time");
        assert_eq!(signer.verifier().verify(&code), Ok(p));
    }

    #[test]
    fn only_the_code_key_reads_a_code_and_only_the_signing_key_makes_one() {
        let signer = CodeSigner::new(SigningKey::from_bytes(&[7; 32]));
        let code = signer.issue(&payload()).unwrap();
        let other_key = CodeSigner::new(SigningKey::from_bytes(&[8; 32]));
        assert_eq!(
            other_key.verifier().verify(&code),
            Err(CodeError::BadSignature)
        );
        // An instance that verifies holds the code key: it still cannot make a code.
        let reader = CodeSigner::new(SigningKey::from_bytes(&[9; 32]))
            .with_code_key(CodeKey::from_hex(&signer.derived_code_key_hex()).unwrap());
        let minted = reader.issue(&payload()).unwrap();
        assert_eq!(
            signer.verifier().verify(&minted),
            Err(CodeError::BadSignature)
        );
        let verify_only = CodeVerifier::new(
            &signer.public_key_hex(),
            CodeKey::from_hex(&signer.derived_code_key_hex()).unwrap(),
        )
        .unwrap();
        assert_eq!(verify_only.verify(&code), Ok(payload()));
    }

    /// A first-format code: the payload with the masked name and ID, signed, not encrypted.
    fn v1_code(signing: &SigningKey) -> String {
        let mut bytes = payload().to_bytes().unwrap();
        for field in ["吴*兰", "****1226"] {
            bytes.push(field.len() as u8);
            bytes.extend_from_slice(field.as_bytes());
        }
        let signature = signing.sign(&[V1_DOMAIN, &bytes].concat());
        bytes.extend_from_slice(&signature.to_bytes());
        format!("PL1-{}", BASE32_NOPAD.encode(&bytes))
    }

    #[test]
    fn first_format_codes_are_outdated_unless_the_deployment_accepts_them() {
        let signing = SigningKey::from_bytes(&[7; 32]);
        let verifier = CodeSigner::new(signing.clone()).verifier();
        let old = v1_code(&signing);
        assert_eq!(verifier.verify(&old), Err(CodeError::Outdated));
        assert_eq!(
            verifier.clone().accepting_v1(true).verify(&old),
            Ok(payload())
        );
    }
}
