//! Erasing a student's personal information (PIPL Art. 47): why it was erased, and what an
//! erased capture still says about itself.
//!
//! The log cannot forget, so the fields that identify a student are stored encrypted under a
//! key of their own person (see the store's `personal` module) and erasure destroys that key.
//! The capture records that it was erased ([`crate::events::Erased`]: who, why, when, nothing
//! personal) and from then on forgets the identity in its state too: every view derived from it
//! shows [`ERASED`] where a name was.

use serde::{Deserialize, Serialize};

use crate::id_number::IdNumber;
use crate::identity::{IdType, StudentIdentity};
use crate::orders::PrintRequest;

/// What an erased name, recipient or label reads as.
pub const ERASED: &str = "已删除";

/// The ground for erasing (PIPL Art. 47's cases), recorded instead of free text so the erasure
/// event itself holds nothing personal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErasureReason {
    /// The student asked for their information to be deleted.
    StudentRequest,
    /// The student withdrew their consent.
    ConsentWithdrawn,
    /// The school's retention period after delivery ended.
    RetentionExpired,
    /// The purpose was achieved or is no longer needed (the school left the service, say).
    PurposeEnded,
    /// The information was processed in breach of law or agreement.
    Unlawful,
}

impl ErasureReason {
    pub const ALL: [ErasureReason; 5] = [
        ErasureReason::StudentRequest,
        ErasureReason::ConsentWithdrawn,
        ErasureReason::RetentionExpired,
        ErasureReason::PurposeEnded,
        ErasureReason::Unlawful,
    ];

    pub fn code(self) -> &'static str {
        match self {
            ErasureReason::StudentRequest => "student_request",
            ErasureReason::ConsentWithdrawn => "consent_withdrawn",
            ErasureReason::RetentionExpired => "retention_expired",
            ErasureReason::PurposeEnded => "purpose_ended",
            ErasureReason::Unlawful => "unlawful",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ErasureReason::StudentRequest => "本人申请删除",
            ErasureReason::ConsentWithdrawn => "撤回同意",
            ErasureReason::RetentionExpired => "保存期限届满",
            ErasureReason::PurposeEnded => "处理目的已实现或不再必要",
            ErasureReason::Unlawful => "违法或违约处理",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }
}

impl StudentIdentity {
    /// The identity as an erased capture remembers it: nothing but the document type.
    pub fn erased(id_type: IdType) -> Self {
        StudentIdentity {
            name: ERASED.to_string(),
            id_type,
            id_number: IdNumber::erased(),
            student_number: None,
            collection_code: None,
            major: None,
            level: None,
            graduation_year: None,
        }
    }
}

impl PrintRequest {
    /// Forgets who the prints go to, keeping what was printed.
    pub fn erase_recipient(&mut self) {
        self.recipient = ERASED.to_string();
        self.phone.clear();
        self.address.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_parses_back_from_its_code() {
        for reason in ErasureReason::ALL {
            assert_eq!(ErasureReason::parse(reason.code()), Some(reason));
            let json = serde_json::to_string(&reason).unwrap();
            assert_eq!(json, format!("\"{}\"", reason.code()));
        }
        assert_eq!(ErasureReason::parse("because"), None);
    }

    #[test]
    fn an_erased_identity_keeps_nothing_but_the_document_type() {
        let erased = StudentIdentity::erased(IdType::Passport);
        assert_eq!(erased.name, ERASED);
        assert_eq!(erased.id_type, IdType::Passport);
        assert!(erased.is_erased());
        assert_eq!(erased.masked_name(), ERASED);
        assert_eq!(erased.masked_id(), "****");
    }
}
