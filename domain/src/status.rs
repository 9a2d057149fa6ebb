//! The status a student sees, derived from the capture's state and never stored.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureStatus {
    AwaitingPayment,
    AwaitingPhoto,
    AwaitingSubmission,
    InReview,
    Rejected,
    Approved,
    Delivered,
    /// The student's personal information was erased.
    Erased,
}

impl CaptureStatus {
    pub fn code(self) -> &'static str {
        match self {
            CaptureStatus::AwaitingPayment => "awaiting_payment",
            CaptureStatus::AwaitingPhoto => "awaiting_photo",
            CaptureStatus::AwaitingSubmission => "awaiting_submission",
            CaptureStatus::InReview => "in_review",
            CaptureStatus::Rejected => "rejected",
            CaptureStatus::Approved => "approved",
            CaptureStatus::Delivered => "delivered",
            CaptureStatus::Erased => "erased",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            CaptureStatus::AwaitingPayment => "待支付",
            CaptureStatus::AwaitingPhoto => "待拍照",
            CaptureStatus::AwaitingSubmission => "待提交",
            CaptureStatus::InReview => "审核中",
            CaptureStatus::Rejected => "审核未通过",
            CaptureStatus::Approved => "审核通过",
            CaptureStatus::Delivered => "已上传学信网",
            CaptureStatus::Erased => crate::erasure::ERASED,
        }
    }
}

/// What the student may do next; the mini-program shows a button for each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NextAction {
    Pay,
    UploadPhoto,
    ChangeBackground,
    Submit,
    Withdraw,
    OrderPrints,
    OrderReprint,
}
