//! Every way a payment use case can fail, each with a stable code.

use photo_ledger_domain::CaptureError;
use photo_ledger_projections::ProjectionError;

use super::wechat_pay::client::PayError;
use super::wechat_pay::NotifyError;
use crate::ledger::LedgerError;

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// No such capture, or not the requester's own.
    #[error("no such capture for this requester")]
    CaptureNotFound,
    /// No such order on the capture, or an order id we never issued.
    #[error("no such order")]
    UnknownOrder,
    /// A refund we never asked for, or not of the payment named.
    #[error("no such refund")]
    UnknownRefund,
    /// A payment notification that does not verify.
    #[error("the payment notification was refused")]
    Notification(#[from] NotifyError),
    /// WeChat Pay did not prepare the payment.
    #[error("WeChat Pay did not prepare the payment")]
    Prepay(#[from] PayError),
    /// WeChat Pay did not answer about a refund (it is asked again later).
    #[error("WeChat Pay did not answer about the refund")]
    Refund(#[source] PayError),
    /// The capture refused a payment WeChat Pay confirmed (a wrong amount, an order already
    /// paid): money to look at by hand.
    #[error("the capture refused the payment")]
    PaymentRefused(#[source] CaptureError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("the capture's views cannot be read")]
    View(#[from] ProjectionError),
    #[error("the order table cannot be read")]
    Store(#[from] sqlx::Error),
}

impl PaymentError {
    /// The stable code of the failure.
    pub fn code(&self) -> &'static str {
        match self {
            PaymentError::CaptureNotFound => "capture.not_found",
            PaymentError::UnknownOrder => "order.not_found",
            PaymentError::UnknownRefund => "refund.not_found",
            PaymentError::Notification(_) => "payment.notification_refused",
            PaymentError::Prepay(PayError::Refused(_)) => "payment.prepay_refused",
            PaymentError::Prepay(PayError::Unavailable(_)) => "payment.prepay_unavailable",
            PaymentError::Refund(_) => "payment.refund_unavailable",
            PaymentError::PaymentRefused(refusal) => refusal.code(),
            PaymentError::Ledger(e) => e.code(),
            PaymentError::View(_) | PaymentError::Store(_) => "store.unavailable",
        }
    }
}
