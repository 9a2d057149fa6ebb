//! The facts recorded in a capture's log. Names are part of the ledger's contract and never
//! change; a change of shape gets a new schema version and an upcaster (see [`crate::upcasters`]).

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use crate::checks::CheckResult;
use crate::feature_code::FeatureCode;
use crate::identity::StudentIdentity;
use crate::orders::{CloseReason, OrderPurpose, PrintRequest};
use crate::policy::BatchPolicy;
use crate::reasons::RejectReason;
use crate::refunds::RefundReason;
use crate::tracking_no::TrackingNo;
use crate::values::{
    Background, CaptureId, Fen, OrderId, PhotoId, PhotoSource, PrintLayout, RefundId,
};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CaptureEvent {
    QualificationVerified(QualificationVerified),
    OrderPlaced(OrderPlaced),
    Paid(Paid),
    PhotoUploaded(PhotoUploaded),
    Standardised(Standardised),
    Submitted(Submitted),
    ReviewClaimed(ReviewClaimed),
    ClaimReleased(ClaimReleased),
    Withdrawn(Withdrawn),
    Rejected(Rejected),
    Approved(Approved),
    DeliveredToChsi(DeliveredToChsi),
    ReprintOrdered(ReprintOrdered),
    OrderPrinted(OrderPrinted),
    OrderShipped(OrderShipped),
    OrderClosed(OrderClosed),
    PaidInExcess(PaidInExcess),
    RefundRequested(RefundRequested),
    Refunded(Refunded),
    RefundFailed(RefundFailed),
    Erased(Erased),
}

/// How eligibility was proven.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerificationMethod {
    /// School + education category + collection code + last four of the ID number.
    CollectionCode,
    /// Batch feature code + collection code + last four.
    FeatureCode,
    /// School + student number, confirmed by the student against the roster.
    StudentNumber,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchoolRef {
    pub school_id: String,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRef {
    pub batch_id: String,
    pub feature_code: FeatureCode,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QualificationVerified {
    pub capture_id: CaptureId,
    /// The mini-program account that proved eligibility and owns the capture.
    pub owner: String,
    pub school: SchoolRef,
    pub education_type: String,
    pub batch: Option<BatchRef>,
    pub student: StudentIdentity,
    pub policy: BatchPolicy,
    pub verified_by: VerificationMethod,
    pub verified_at: DateTime<Utc>,
    /// The consent given before verification; absent in events recorded before consent was
    /// collected (and then not written, so those events read and write as they always did).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<Box<crate::consent::Consent>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPlaced {
    pub order_id: OrderId,
    pub purpose: OrderPurpose,
    pub amount_fen: Fen,
    pub prints: Option<PrintRequest>,
    pub placed_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paid {
    pub order_id: OrderId,
    pub purpose: OrderPurpose,
    pub amount_fen: Fen,
    pub provider: String,
    pub transaction_id: String,
    pub paid_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPhoto {
    pub photo_id: PhotoId,
    pub sha256: String,
    pub bytes: u64,
    pub width: u32,
    pub height: u32,
    pub format: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhotoUploaded {
    pub photo: StoredPhoto,
    pub source: PhotoSource,
    pub uploaded_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Standardised {
    pub source_photo_id: PhotoId,
    pub result: StoredPhoto,
    pub background: Background,
    pub spec_name: String,
    pub spec_version: String,
    pub checks: Vec<CheckResult>,
    /// Perceptual hash of the result, to spot one photo reused by several students.
    pub perceptual_hash: Option<String>,
    pub standardised_at: DateTime<Utc>,
}

impl Standardised {
    pub fn has_blocking_failure(&self) -> bool {
        self.checks.iter().any(CheckResult::blocks_submission)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submitted {
    pub standard_photo_id: PhotoId,
    /// Other captures' photos found to be the same photo (同版) when it was submitted: shown to
    /// the reviewer, never decided on by themselves. Absent from events recorded before the
    /// search existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub same_photos: Vec<SamePhoto>,
    pub submitted_at: DateTime<Utc>,
}

/// Another capture's standardised photo whose perceptual hash is within
/// `SAME_PHOTO` bits of the submitted one's: the same photo, handed in again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamePhoto {
    pub capture_id: CaptureId,
    pub photo_id: PhotoId,
    /// Bits the two perceptual hashes differ by.
    pub distance: u32,
    /// Whose the other capture is: the same student's (another education record, which the
    /// 同版 rule forbids sharing a photo with) or another person's (a photo not of the student).
    pub same_person: bool,
    pub school: String,
    pub education_type: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewClaimed {
    pub reviewer_id: String,
    pub claimed_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// The reviewer holding the capture let go of it before their claim ran out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimReleased {
    pub reviewer_id: String,
    pub released_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withdrawn {
    pub withdrawn_at: DateTime<Utc>,
}

/// Schema version 2: several reason codes. Version 1 carried one free-text `reason`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    pub reviewer_id: String,
    pub reasons: Vec<RejectReason>,
    pub note: String,
    pub rejected_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approved {
    pub reviewer_id: String,
    pub standard_photo_id: PhotoId,
    pub approved_at: DateTime<Utc>,
}

/// The two stages 学信网 shows for a delivered photo.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChsiStage {
    /// 上网中
    Uploading,
    /// 已完成
    Completed,
}

impl ChsiStage {
    pub fn label(self) -> &'static str {
        match self {
            ChsiStage::Uploading => "上网中",
            ChsiStage::Completed => "已完成",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveredToChsi {
    pub standard_photo_id: PhotoId,
    pub stage: ChsiStage,
    pub delivered_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReprintOrdered {
    pub order_id: OrderId,
    pub layout: PrintLayout,
    pub sheets: u32,
    pub recipient: String,
    pub phone: String,
    pub address: String,
    pub amount_fen: Fen,
    pub ordered_at: DateTime<Utc>,
}

impl ReprintOrdered {
    pub fn print_request(&self) -> PrintRequest {
        PrintRequest {
            layout: self.layout,
            sheets: self.sheets,
            recipient: self.recipient.clone(),
            phone: self.phone.clone(),
            address: self.address.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPrinted {
    pub order_id: OrderId,
    pub printed_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderShipped {
    pub order_id: OrderId,
    pub carrier: String,
    pub tracking_no: TrackingNo,
    pub shipped_at: DateTime<Utc>,
}

/// An unpaid order will not be paid: replaced, or closed at the payment provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderClosed {
    pub order_id: OrderId,
    pub reason: CloseReason,
    pub closed_at: DateTime<Utc>,
}

/// A payment the capture cannot keep: it happened, so it is recorded, and a
/// [`RefundRequested`] for all of it follows in the same command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaidInExcess {
    pub order_id: OrderId,
    pub purpose: OrderPurpose,
    pub amount_fen: Fen,
    pub provider: String,
    pub transaction_id: String,
    pub paid_at: DateTime<Utc>,
    pub reason: RefundReason,
}

/// A payment is to be given back in full.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRequested {
    pub refund_id: RefundId,
    pub order_id: OrderId,
    pub transaction_id: String,
    pub amount_fen: Fen,
    pub reason: RefundReason,
    /// Staff's reason for a refund by hand; empty for an automatic one.
    pub note: String,
    pub requested_at: DateTime<Utc>,
}

/// The provider gave the money back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refunded {
    pub refund_id: RefundId,
    /// The provider's id of the refund (WeChat Pay's `refund_id`).
    pub provider_refund_id: String,
    pub refunded_at: DateTime<Utc>,
}

/// The provider will not make the refund: staff must look at it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundFailed {
    pub refund_id: RefundId,
    pub reason: String,
    pub failed_at: DateTime<Utc>,
}

/// The student's personal information was erased: their data key destroyed, their photos
/// deleted. Records who and why, and nothing personal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Erased {
    pub reason: crate::erasure::ErasureReason,
    /// The staff member who erased it, or `retention` for the retention policy.
    pub erased_by: String,
    pub erased_at: DateTime<Utc>,
}

/// The schema version of `Rejected`; see [`crate::upcasters`].
pub const REJECTED_SCHEMA_VERSION: &str = "2.0.0";
const DEFAULT_SCHEMA_VERSION: &str = "1.0.0";

impl CaptureEvent {
    pub fn name(&self) -> &'static str {
        match self {
            CaptureEvent::QualificationVerified(_) => "QualificationVerified",
            CaptureEvent::OrderPlaced(_) => "OrderPlaced",
            CaptureEvent::Paid(_) => "Paid",
            CaptureEvent::PhotoUploaded(_) => "PhotoUploaded",
            CaptureEvent::Standardised(_) => "Standardised",
            CaptureEvent::Submitted(_) => "Submitted",
            CaptureEvent::ReviewClaimed(_) => "ReviewClaimed",
            CaptureEvent::ClaimReleased(_) => "ClaimReleased",
            CaptureEvent::Withdrawn(_) => "Withdrawn",
            CaptureEvent::Rejected(_) => "Rejected",
            CaptureEvent::Approved(_) => "Approved",
            CaptureEvent::DeliveredToChsi(_) => "DeliveredToChsi",
            CaptureEvent::ReprintOrdered(_) => "ReprintOrdered",
            CaptureEvent::OrderPrinted(_) => "OrderPrinted",
            CaptureEvent::OrderShipped(_) => "OrderShipped",
            CaptureEvent::OrderClosed(_) => "OrderClosed",
            CaptureEvent::PaidInExcess(_) => "PaidInExcess",
            CaptureEvent::RefundRequested(_) => "RefundRequested",
            CaptureEvent::Refunded(_) => "Refunded",
            CaptureEvent::RefundFailed(_) => "RefundFailed",
            CaptureEvent::Erased(_) => "Erased",
        }
    }
}

impl DomainEvent for CaptureEvent {
    fn event_type(&self) -> String {
        self.name().to_string()
    }

    fn event_version(&self) -> String {
        match self {
            CaptureEvent::Rejected(_) => REJECTED_SCHEMA_VERSION,
            _ => DEFAULT_SCHEMA_VERSION,
        }
        .to_string()
    }
}
