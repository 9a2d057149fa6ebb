//! Consent to the privacy policy: the versioned policy texts, and each student's consent to the
//! current one, given before they prove who they are (so before any identity is shown, and so
//! before any photo). The student ticks the policy, and separately the processing of face
//! images (PIPL Art. 29), on the mini-program's first screen (`POST /me/consent`); verification
//! refuses an account without it, and the capture records it in `QualificationVerified`.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use photo_ledger_domain::consent::{Consent, ConsentChannel};
use photo_ledger_store::{on_db, Db};
use sha2::{Digest, Sha256};

/// One version of a policy text, compiled into the binary.
#[derive(Debug)]
pub struct Policy {
    pub name: &'static str,
    pub version: &'static str,
    pub text: &'static str,
}

impl Policy {
    /// SHA-256 of the text, hex: what a consent names, so the text consented to is fixed.
    pub fn sha256(&self) -> String {
        hex::encode(Sha256::digest(self.text.as_bytes()))
    }
}

/// Every version published, oldest first; the last is current. A new version is a new file
/// beside the others: consents name the version and the text's hash they were given to.
static PRIVACY: &[Policy] = &[Policy {
    name: "privacy",
    version: "2026-12-01",
    text: include_str!("../policies/privacy/2026-12-01.md"),
}];

static CURRENT_SHA256: LazyLock<String> = LazyLock::new(|| privacy().sha256());

/// The privacy policy students consent to now.
pub fn privacy() -> &'static Policy {
    PRIVACY.last().expect("a privacy policy is published")
}

#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    #[error("the account has not consented to the current privacy policy")]
    Required,
    #[error("consent was given to version {given}, the current one is {current}")]
    Outdated { given: String, current: String },
    #[error("face images need their own consent")]
    FaceImagesRequired,
    #[error("consents cannot be read or written")]
    Store(#[from] sqlx::Error),
}

impl ConsentError {
    pub fn code(&self) -> &'static str {
        match self {
            ConsentError::Required => "consent.required",
            ConsentError::Outdated { .. } => "consent.outdated",
            ConsentError::FaceImagesRequired => "consent.face_images_required",
            ConsentError::Store(_) => "consent.store_unavailable",
        }
    }

    /// What the student is told.
    pub fn message(&self) -> String {
        match self {
            ConsentError::Required => "请先阅读并同意《照片采集隐私政策》".into(),
            ConsentError::Outdated { .. } => {
                "《照片采集隐私政策》已更新，请阅读最新版本后重新同意".into()
            }
            ConsentError::FaceImagesRequired => "采集证件照需要您单独同意处理人脸照片".into(),
            ConsentError::Store(_) => "服务暂时不可用，请稍后重试".into(),
        }
    }
}

/// What a student sends when they tick the policy.
#[derive(Clone, Debug)]
pub struct Given {
    pub version: String,
    pub sha256: String,
    pub face_images: bool,
    pub channel: ConsentChannel,
    pub at: DateTime<Utc>,
}

/// The consent `given` to the current policy, checked: the version and the text's hash must be
/// the current ones (a student who read an older text reads the new one first), and face images
/// must be consented to.
pub fn check(given: Given) -> Result<Consent, ConsentError> {
    let policy = privacy();
    if given.version != policy.version || given.sha256 != *CURRENT_SHA256 {
        return Err(ConsentError::Outdated {
            given: given.version,
            current: policy.version.to_string(),
        });
    }
    if !given.face_images {
        return Err(ConsentError::FaceImagesRequired);
    }
    Ok(Consent {
        policy: policy.name.to_string(),
        version: given.version,
        sha256: given.sha256,
        face_images: true,
        given_at: given.at,
        channel: given.channel,
    })
}

const RECORD: &str = "
INSERT INTO consents (subject, policy, version, sha256, face_images, channel, given_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (subject, policy, version) DO NOTHING";

const OF: &str = "
SELECT sha256, face_images, channel, given_at FROM consents
 WHERE subject = $1 AND policy = $2 AND version = $3";

/// Records the account's consent to the current policy; the first one given is kept, so a
/// repeat is a no-op. Answers the consent on record.
pub async fn give(db: &Db, subject: &str, given: Given) -> Result<Consent, ConsentError> {
    let consent = check(given)?;
    let channel = serde_json::to_value(consent.channel).expect("channels serialise");
    on_db!(db, pool => sqlx::query(RECORD)
        .bind(subject)
        .bind(&consent.policy)
        .bind(&consent.version)
        .bind(&consent.sha256)
        .bind(consent.face_images)
        .bind(channel.as_str())
        .bind(consent.given_at)
        .execute(pool)
        .await
        .map(|_| ()))?;
    of(db, subject).await?.ok_or(ConsentError::Required)
}

/// The account's consent to the current policy, if it gave one.
pub async fn of(db: &Db, subject: &str) -> Result<Option<Consent>, ConsentError> {
    let policy = privacy();
    let row: Option<(String, bool, String, DateTime<Utc>)> = on_db!(db, pool => sqlx::query_as(OF)
        .bind(subject)
        .bind(policy.name)
        .bind(policy.version)
        .fetch_optional(pool)
        .await)?;
    Ok(row.map(|(sha256, face_images, channel, given_at)| Consent {
        policy: policy.name.to_string(),
        version: policy.version.to_string(),
        sha256,
        face_images,
        given_at,
        channel: serde_json::from_value(serde_json::Value::String(channel))
            .unwrap_or(ConsentChannel::MiniProgram),
    }))
}

/// The consent staff record for a student who gave it to them (the command line's `verify`).
pub fn recorded_by_staff(at: DateTime<Utc>) -> Consent {
    let policy = privacy();
    Consent {
        policy: policy.name.to_string(),
        version: policy.version.to_string(),
        sha256: CURRENT_SHA256.clone(),
        face_images: true,
        given_at: at,
        channel: ConsentChannel::RecordedByStaff,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn given(version: &str, sha256: &str, face_images: bool) -> Given {
        Given {
            version: version.into(),
            sha256: sha256.into(),
            face_images,
            channel: ConsentChannel::MiniProgram,
            at: Utc::now(),
        }
    }

    #[test]
    fn only_the_current_text_with_face_images_is_a_consent() {
        let policy = privacy();
        let sha = policy.sha256();
        assert!(policy.text.contains(policy.version));
        let consent = check(given(policy.version, &sha, true)).unwrap();
        assert_eq!(
            (consent.policy.as_str(), consent.face_images),
            ("privacy", true)
        );
        assert_eq!(
            check(given("2020-01-01", &sha, true)).unwrap_err().code(),
            "consent.outdated"
        );
        assert_eq!(
            check(given(policy.version, &"00".repeat(32), true))
                .unwrap_err()
                .code(),
            "consent.outdated"
        );
        assert_eq!(
            check(given(policy.version, &sha, false))
                .unwrap_err()
                .code(),
            "consent.face_images_required"
        );
    }
}
