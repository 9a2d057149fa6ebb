//! What students, reviewers, print staff, payment callbacks and admins ask a capture to do.
//! Commands that depend on the clock carry the time, so the aggregate stays pure.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::checks::CheckResult;
use crate::events::{BatchRef, ChsiStage, SamePhoto, SchoolRef, StoredPhoto, VerificationMethod};
use crate::identity::StudentIdentity;
use crate::orders::{CloseReason, OrderPurpose, PrintRequest};
use crate::policy::BatchPolicy;
use crate::reasons::RejectReason;
use crate::refunds::RefundOutcome;
use crate::tracking_no::TrackingNo;
use crate::values::{Background, CaptureId, Fen, OrderId, PhotoId, PhotoSource, RefundId};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum CaptureCommand {
    VerifyQualification(VerifyQualification),
    PlaceOrder(PlaceOrder),
    ConfirmPayment(ConfirmPayment),
    UploadPhoto(UploadPhoto),
    RecordStandardisation(RecordStandardisation),
    Submit(Submit),
    ClaimReview(ClaimReview),
    ReleaseClaim(ReleaseClaim),
    Withdraw(Withdraw),
    Reject(Reject),
    Approve(Approve),
    MarkDelivered(MarkDelivered),
    MarkPrinted(MarkPrinted),
    Ship(Ship),
    CloseOrder(CloseOrder),
    RequestRefund(RequestRefund),
    RecordRefund(RecordRefund),
    Erase(Erase),
}

impl CaptureCommand {
    /// A short stable name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            CaptureCommand::VerifyQualification(_) => "verify_qualification",
            CaptureCommand::PlaceOrder(_) => "place_order",
            CaptureCommand::ConfirmPayment(_) => "confirm_payment",
            CaptureCommand::UploadPhoto(_) => "upload_photo",
            CaptureCommand::RecordStandardisation(_) => "record_standardisation",
            CaptureCommand::Submit(_) => "submit",
            CaptureCommand::ClaimReview(_) => "claim_review",
            CaptureCommand::ReleaseClaim(_) => "release_claim",
            CaptureCommand::Withdraw(_) => "withdraw",
            CaptureCommand::Reject(_) => "reject",
            CaptureCommand::Approve(_) => "approve",
            CaptureCommand::MarkDelivered(_) => "mark_delivered",
            CaptureCommand::MarkPrinted(_) => "mark_printed",
            CaptureCommand::Ship(_) => "ship",
            CaptureCommand::CloseOrder(_) => "close_order",
            CaptureCommand::RequestRefund(_) => "request_refund",
            CaptureCommand::RecordRefund(_) => "record_refund",
            CaptureCommand::Erase(_) => "erase",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerifyQualification {
    pub capture_id: CaptureId,
    pub owner: String,
    pub school: SchoolRef,
    pub education_type: String,
    pub batch: Option<BatchRef>,
    pub student: StudentIdentity,
    pub policy: BatchPolicy,
    pub verified_by: VerificationMethod,
    /// The consent the student gave before proving who they are. Every capture verified by
    /// the service carries one; the command still reads without it for logs and tools that
    /// predate consent.
    #[serde(default)]
    pub consent: Option<Box<crate::consent::Consent>>,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlaceOrder {
    pub order_id: OrderId,
    pub purpose: OrderPurpose,
    /// Prints to mail with this order; required for paper prints and reprints.
    pub prints: Option<PrintRequest>,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConfirmPayment {
    pub order_id: OrderId,
    pub amount_fen: Fen,
    pub provider: String,
    pub transaction_id: String,
    pub paid_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UploadPhoto {
    pub photo: StoredPhoto,
    pub source: PhotoSource,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordStandardisation {
    pub source_photo_id: PhotoId,
    pub result: StoredPhoto,
    pub background: Background,
    pub spec_name: String,
    pub spec_version: String,
    pub checks: Vec<CheckResult>,
    pub perceptual_hash: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Submit {
    pub standard_photo_id: PhotoId,
    /// What the same-photo search found for the photo: recorded with the submission.
    pub same_photos: Vec<SamePhoto>,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClaimReview {
    pub reviewer_id: String,
    pub at: DateTime<Utc>,
    pub ttl: Duration,
}

/// A reviewer lets go of the capture they hold, so the next reviewer may take it at once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReleaseClaim {
    pub reviewer_id: String,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Withdraw {
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reject {
    pub reviewer_id: String,
    pub reasons: Vec<RejectReason>,
    pub note: String,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Approve {
    pub reviewer_id: String,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MarkDelivered {
    pub stage: ChsiStage,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MarkPrinted {
    pub order_id: OrderId,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ship {
    pub order_id: OrderId,
    pub carrier: String,
    pub tracking_no: TrackingNo,
    pub at: DateTime<Utc>,
}

/// An unpaid order will not be paid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CloseOrder {
    pub order_id: OrderId,
    pub reason: CloseReason,
    pub at: DateTime<Utc>,
}

/// Staff give a payment of an order back: its kept payment, or (naming it) a payment whose
/// automatic refund failed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestRefund {
    pub order_id: OrderId,
    /// The payment to give back; the order's kept payment when absent.
    pub transaction_id: Option<String>,
    /// Why, for the audit trail; required.
    pub note: String,
    pub at: DateTime<Utc>,
}

/// What the payment provider says became of a refund.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordRefund {
    pub refund_id: RefundId,
    pub outcome: RefundOutcome,
}

/// Erase the student's personal information from the capture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Erase {
    pub reason: crate::erasure::ErasureReason,
    pub by: String,
    pub at: DateTime<Utc>,
}
