//! Money given back: a payment the capture cannot keep (a second collection fee, a payment for
//! an order already paid or closed, an amount that is not the order's) is recorded and refunded
//! in full, and staff can refund a kept payment by hand, with a reason.
//!
//! A refund is identified by the payment it returns and how many refunds of that payment failed
//! before it ([`refund_id`]): asking again for the same refund names the same refund, so a retry
//! never pays back twice, while staff retrying a refund that failed for good start a new one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::values::{Fen, OrderId, RefundId};

/// Why money is given back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundReason {
    /// The collection fee was already paid through another order.
    FeeAlreadyPaid,
    /// The order was already paid by another payment.
    OrderAlreadyPaid,
    /// The order was closed before this payment arrived.
    OrderClosed,
    /// The amount paid is not the order's.
    AmountMismatch,
    /// Staff refunded the payment by hand (the note says why).
    ByStaff,
}

impl RefundReason {
    pub fn code(self) -> &'static str {
        match self {
            RefundReason::FeeAlreadyPaid => "fee_already_paid",
            RefundReason::OrderAlreadyPaid => "order_already_paid",
            RefundReason::OrderClosed => "order_closed",
            RefundReason::AmountMismatch => "amount_mismatch",
            RefundReason::ByStaff => "by_staff",
        }
    }

    /// What the student is told, and what WeChat Pay shows them with the refund.
    pub fn label(self) -> &'static str {
        match self {
            RefundReason::FeeAlreadyPaid => "采集费已支付，重复支付原路退回",
            RefundReason::OrderAlreadyPaid => "订单已支付，重复支付原路退回",
            RefundReason::OrderClosed => "订单已关闭，款项原路退回",
            RefundReason::AmountMismatch => "支付金额与订单不符，款项原路退回",
            RefundReason::ByStaff => "工作人员办理退款",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundState {
    /// Asked for; the provider has not confirmed it yet.
    Requested,
    /// The money is back with the student.
    Refunded,
    /// The provider will not make it (refused, closed or abnormal): staff must look.
    Failed,
}

impl RefundState {
    pub fn code(self) -> &'static str {
        match self {
            RefundState::Requested => "requested",
            RefundState::Refunded => "refunded",
            RefundState::Failed => "failed",
        }
    }
}

/// A refund as the capture remembers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub refund_id: RefundId,
    pub order_id: OrderId,
    /// The payment given back.
    pub transaction_id: String,
    /// What the payment was, and what is given back (all of it).
    pub amount_fen: Fen,
    pub reason: RefundReason,
    pub note: String,
    pub state: RefundState,
    pub provider_refund_id: Option<String>,
    pub failure: Option<String>,
    pub requested_at: DateTime<Utc>,
    pub settled_at: Option<DateTime<Utc>>,
}

impl Refund {
    /// Asked for or done: the payment is being, or has been, given back.
    pub fn is_active(&self) -> bool {
        self.state != RefundState::Failed
    }
}

/// What the provider says became of a refund.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefundOutcome {
    Refunded {
        provider_refund_id: String,
        at: DateTime<Utc>,
    },
    Failed {
        reason: String,
        at: DateTime<Utc>,
    },
}

const REFUND_NAMESPACE: Uuid = Uuid::from_u128(0x5e0f_4a8c_8a3b_4c1e_9d47_2b6a_f1c3_0d92);

/// The refund of `transaction_id` after `failed_before` refunds of it failed.
pub fn refund_id(transaction_id: &str, failed_before: usize) -> RefundId {
    RefundId::from_uuid(Uuid::new_v5(
        &REFUND_NAMESPACE,
        format!("{transaction_id}/{failed_before}").as_bytes(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refund_is_named_by_its_payment_and_the_failures_before_it() {
        assert_eq!(refund_id("tx-1", 0), refund_id("tx-1", 0));
        assert_ne!(refund_id("tx-1", 0), refund_id("tx-1", 1));
        assert_ne!(refund_id("tx-1", 0), refund_id("tx-2", 0));
    }
}
