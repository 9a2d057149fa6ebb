//! Payable orders of a capture: the collection fee and paper prints.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::tracking_no::TrackingNo;

use crate::values::{Fen, OrderId, PrintLayout};

/// What an order pays for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderPurpose {
    /// The collection fee, possibly with paper prints bought at the same time.
    Collection,
    /// Paper prints bought on their own before approval.
    PaperPrints,
    /// Prints of the approved photo (加洗).
    Reprint,
}

/// Where and how paper prints are mailed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrintRequest {
    pub layout: PrintLayout,
    pub sheets: u32,
    pub recipient: String,
    pub phone: String,
    pub address: String,
}

/// The most sheets one order may ask for.
pub const MAX_SHEETS_PER_ORDER: u32 = 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    AwaitingPayment,
    Paid,
    Printed,
    Shipped,
    /// Closed unpaid: replaced by another order, or closed at the payment provider. A payment
    /// that still arrives for it is recorded and refunded.
    Closed,
    /// Its payment was given back.
    Refunded,
}

/// Why an unpaid order was closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// The student placed a collection order asking for something else (prints added or
    /// changed): the new order replaces this one.
    Replaced,
    /// The payment provider reports the order closed: it can no longer be paid.
    ClosedByProvider,
}

/// An order as the capture remembers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub order_id: OrderId,
    pub purpose: OrderPurpose,
    pub amount_fen: Fen,
    pub prints: Option<PrintRequest>,
    pub state: OrderState,
    pub transaction_id: Option<String>,
    pub paid_at: Option<DateTime<Utc>>,
    /// The waybill it was shipped under (absent in snapshots taken before it was kept).
    #[serde(default)]
    pub tracking_no: Option<TrackingNo>,
}

impl Order {
    /// Paid and the payment kept (it may since have been printed or shipped).
    pub fn is_paid(&self) -> bool {
        matches!(
            self.state,
            OrderState::Paid | OrderState::Printed | OrderState::Shipped
        )
    }
}
