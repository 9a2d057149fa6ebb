//! How a student pays: orders on a capture and WeChat Pay around them.
//!
//! [`Payments`] holds the use cases: [`place_order`](Payments::place_order) (the capture records
//! the order and its amount; WeChat Pay is asked for `wx.requestPayment` parameters),
//! [`prepay`](Payments::prepay) (fresh parameters for an unpaid order),
//! [`record_notification`](Payments::record_notification) (a payment notification, verified) and
//! [`record_paid`](Payments::record_paid) (a payment WeChat Pay confirmed, by notification or in
//! answer to the order query: one ledger command per transaction, so a second report of one
//! payment records nothing). A payment the capture cannot keep is recorded and refunded: see
//! [`refunds`]. Beneath them: [`orders`] (which capture an order belongs to),
//! [`order_query`] (asking WeChat Pay about orders whose notification never came),
//! [`refund_attempts`] (the refund worker's bookkeeping) and [`wechat_pay`] (the signed API
//! client and notification verification). Every failure is a [`PaymentError`] with a stable
//! code.

pub mod error;
pub mod order_query;
pub mod orders;
pub mod refund_attempts;
pub mod refunds;
pub mod wechat_pay;

use std::sync::Arc;

use chrono::Utc;
use photo_ledger_domain::commands::{CloseOrder, ConfirmPayment, PlaceOrder};
use photo_ledger_domain::metadata::{Actor, EventMetadata};
use photo_ledger_domain::orders::{CloseReason, OrderPurpose, OrderState, PrintRequest};
use photo_ledger_domain::values::{CaptureId, Fen, OrderId};
use photo_ledger_domain::{CaptureCommand, CaptureError};
use photo_ledger_projections::capture_status::{CaptureStatusView, OrderView};

pub use error::PaymentError;

use crate::captures::{CaptureAccessError, Captures, Requester};
use crate::ledger::LedgerError;
use wechat_pay::prepay::{PayClient, PaymentParams, PrepayRequest};
use wechat_pay::{Notification, NotifyHeaders, NotifyVerifier, Transaction};

/// An order as the student sees it after placing or paying: the order, the parameters for
/// `wx.requestPayment` (absent when nothing is due or WeChat Pay is not configured) and the
/// capture's status.
pub struct OrderDue {
    pub order: OrderView,
    pub payment: Option<PaymentParams>,
    pub capture: CaptureStatusView,
}

/// What to order: the purpose and, for mailed prints, what and where.
pub struct OrderRequest {
    pub order_id: OrderId,
    pub purpose: OrderPurpose,
    pub prints: Option<PrintRequest>,
}

pub struct Payments {
    captures: Captures,
    notify: Arc<NotifyVerifier>,
    /// WeChat Pay's API, when a merchant key is configured.
    pay: Option<PayClient>,
    /// Woken when a refund is requested, so the refund worker makes it at once.
    refunds_due: Arc<tokio::sync::Notify>,
}

impl Payments {
    pub fn new(captures: Captures, notify: Arc<NotifyVerifier>, pay: Option<PayClient>) -> Self {
        Self {
            captures,
            notify,
            pay,
            refunds_due: Arc::default(),
        }
    }

    /// WeChat Pay's API, when a merchant key is configured.
    pub fn client(&self) -> Option<&PayClient> {
        self.pay.as_ref()
    }

    pub fn notify_verifier(&self) -> &NotifyVerifier {
        &self.notify
    }

    pub fn captures(&self) -> &Captures {
        &self.captures
    }

    /// Places an order on the requester's capture and asks WeChat Pay to prepare its payment.
    /// The order's capture is remembered first, so a notification naming only the order finds
    /// it. A collection order placed while another is unpaid is that other order, with fresh
    /// payment parameters: the fee is paid once however often the student taps.
    pub async fn place_order(
        &self,
        requester: &Requester,
        capture_id: CaptureId,
        order: OrderRequest,
    ) -> Result<OrderDue, PaymentError> {
        self.captures
            .accessible(&requester.actor, capture_id)
            .await?;
        orders::record(
            self.captures.ledger().db(),
            order.order_id,
            capture_id,
            Utc::now(),
        )
        .await?;
        // The collection order waiting to be paid, which this one may replace.
        let unpaid_before = self
            .captures
            .status(capture_id)
            .await?
            .orders
            .into_iter()
            .find(|o| {
                o.purpose == OrderPurpose::Collection && o.state == OrderState::AwaitingPayment
            });
        let command = CaptureCommand::PlaceOrder(PlaceOrder {
            order_id: order.order_id,
            purpose: order.purpose,
            prints: order.prints,
            at: Utc::now(),
        });
        let placed_id = order.order_id;
        let db = self.captures.ledger().db();
        if let Err(refused) = self.captures.send(requester, capture_id, command).await {
            // Never placed (an order already placed under this id keeps its row): nothing will
            // ever pay it, and the order query must not ask WeChat Pay about it.
            if matches!(&refused, LedgerError::Refused(e) if !matches!(e, CaptureError::DuplicateOrder(_)))
            {
                orders::forget(db, placed_id).await?;
            }
            return Err(refused.into());
        }
        let capture = self.captures.status(capture_id).await?;
        if let Some(replaced) = unpaid_before.filter(|before| {
            capture
                .orders
                .iter()
                .any(|o| o.order_id == before.order_id && o.state == OrderState::Closed)
        }) {
            self.close_at_wechat_pay(replaced.order_id).await;
        }
        let placed = match capture.orders.iter().find(|o| o.order_id == placed_id) {
            Some(placed) => placed.clone(),
            // The capture answered with the collection order already unpaid.
            None => {
                orders::forget(db, placed_id).await?;
                capture
                    .orders
                    .iter()
                    .find(|o| {
                        o.purpose == OrderPurpose::Collection
                            && o.state == OrderState::AwaitingPayment
                    })
                    .cloned()
                    .ok_or(PaymentError::UnknownOrder)?
            }
        };
        let payment = self.prepare(&requester.actor.id, &placed).await?;
        Ok(OrderDue {
            order: placed,
            payment,
            capture,
        })
    }

    /// Fresh `wx.requestPayment` parameters for an unpaid order of the requester's capture (a
    /// prepay id lasts two hours).
    pub async fn prepay(
        &self,
        actor: &Actor,
        capture_id: CaptureId,
        order_id: OrderId,
    ) -> Result<OrderDue, PaymentError> {
        self.captures.accessible(actor, capture_id).await?;
        let (order, capture) = self.order_of(capture_id, order_id).await?;
        match order.state {
            OrderState::AwaitingPayment => {}
            OrderState::Closed => {
                return Err(LedgerError::Refused(CaptureError::OrderClosed).into())
            }
            _ => return Err(LedgerError::Refused(CaptureError::OrderAlreadyPaid).into()),
        }
        let payment = self.prepare(&actor.id, &order).await?;
        Ok(OrderDue {
            order,
            payment,
            capture,
        })
    }

    /// Closes a replaced order at WeChat Pay, so the student cannot pay it any more. Should that
    /// fail, a payment of it is still refunded, and the order query keeps asking about it.
    async fn close_at_wechat_pay(&self, order_id: OrderId) {
        let Some(pay) = &self.pay else {
            return;
        };
        if let Err(error) = pay.close(&orders::out_trade_no(order_id)).await {
            tracing::warn!(%order_id, error = %crate::telemetry::ErrorChain(&error), "cannot close a replaced order at WeChat Pay");
        }
    }

    /// Records that WeChat Pay closed an unpaid order: it can no longer be paid, and the
    /// student's next collection order is a new one.
    pub async fn record_closed(
        &self,
        capture_id: CaptureId,
        order_id: OrderId,
    ) -> Result<(), PaymentError> {
        let command = CaptureCommand::CloseOrder(CloseOrder {
            order_id,
            reason: CloseReason::ClosedByProvider,
            at: Utc::now(),
        });
        let metadata = system_metadata(format!("wechat-pay-closed:{order_id}"));
        self.captures.run(metadata, capture_id, command).await?;
        Ok(())
    }

    /// WeChat Pay parameters for an unpaid order, when WeChat Pay is configured.
    async fn prepare(
        &self,
        openid: &str,
        order: &OrderView,
    ) -> Result<Option<PaymentParams>, PaymentError> {
        // Crash tests hold an order here, recorded and not yet prepared for payment, to kill
        // the service under it; compiled in only with the `failpoints` feature.
        fail::fail_point!("payments.prepay", |_| Ok(None));
        let Some(pay) = &self.pay else {
            return Ok(None);
        };
        if order.state != OrderState::AwaitingPayment || order.amount_fen.is_zero() {
            return Ok(None);
        }
        let params = pay
            .prepay(&PrepayRequest {
                out_trade_no: &orders::out_trade_no(order.order_id),
                description: description(order.purpose),
                amount_fen: order.amount_fen.fen(),
                openid,
            })
            .await?;
        Ok(Some(params))
    }

    /// An order of the capture, as the capture-status view has it.
    pub async fn order_of(
        &self,
        capture_id: CaptureId,
        order_id: OrderId,
    ) -> Result<(OrderView, CaptureStatusView), PaymentError> {
        let capture = self.captures.status(capture_id).await?;
        let order = capture
            .orders
            .iter()
            .find(|o| o.order_id == order_id)
            .cloned()
            .ok_or(PaymentError::UnknownOrder)?;
        Ok((order, capture))
    }

    /// The capture an order belongs to.
    pub async fn capture_of(&self, order_id: OrderId) -> Result<CaptureId, PaymentError> {
        orders::capture_of(self.captures.ledger().db(), order_id)
            .await?
            .ok_or(PaymentError::UnknownOrder)
    }

    /// Verifies a notification and records its payment or refund. A verified notification
    /// about anything else is acknowledged and records nothing.
    pub async fn record_notification(
        &self,
        headers: &NotifyHeaders,
        body: &[u8],
    ) -> Result<(), PaymentError> {
        match self.notify.verify(headers, body, Utc::now())? {
            Notification::Paid(transaction) => self.record_paid(&transaction).await,
            Notification::Refund(notice) => self.record_refund(&notice.refund).await,
            Notification::Other(event) => {
                tracing::info!(
                    event,
                    "payment notification acknowledged, nothing to record"
                );
                Ok(())
            }
        }
    }

    /// Records a payment WeChat Pay confirmed on its order's capture: one ledger command per
    /// transaction, so the second report of one payment records nothing. A payment the capture
    /// cannot keep is recorded with its refund, which the refund worker then makes.
    pub async fn record_paid(&self, transaction: &Transaction) -> Result<(), PaymentError> {
        let order_id: OrderId = transaction.out_trade_no.parse().map_err(|_| {
            tracing::warn!(out_trade_no = %transaction.out_trade_no, "payment for an order id we never issue");
            PaymentError::UnknownOrder
        })?;
        let capture_id = self.capture_of(order_id).await.inspect_err(|_| {
            tracing::warn!(%order_id, "payment for an unknown order");
        })?;
        let now = Utc::now();
        let command = CaptureCommand::ConfirmPayment(ConfirmPayment {
            order_id,
            amount_fen: Fen::new(transaction.amount.total),
            provider: "wechat".into(),
            transaction_id: transaction.transaction_id.clone(),
            paid_at: transaction.success_time.unwrap_or(now),
        });
        // One transaction, one command: a repeated notification, or a notification and an
        // order query reporting the same payment, record it once.
        let metadata = system_metadata(format!("wechat-pay:{}", transaction.transaction_id));
        match self.captures.run(metadata, capture_id, command).await {
            Ok(outcome) => {
                if outcome.events.iter().any(|e| e == "RefundRequested") {
                    tracing::warn!(%order_id, transaction_id = %transaction.transaction_id, "a payment the capture cannot keep: refunding it");
                    self.refunds_due.notify_one();
                }
                Ok(())
            }
            Err(LedgerError::Refused(refusal)) => {
                // A payment naming an order the capture does not have: money to look at by hand.
                tracing::error!(%order_id, code = refusal.code(), "payment refused by the capture");
                Err(PaymentError::PaymentRefused(refusal))
            }
            Err(e) => Err(e.into()),
        }
    }
}

impl From<CaptureAccessError> for PaymentError {
    fn from(e: CaptureAccessError) -> Self {
        match e {
            CaptureAccessError::NotFound => PaymentError::CaptureNotFound,
            CaptureAccessError::Ledger(e) => PaymentError::Ledger(e),
            CaptureAccessError::View(e) => PaymentError::View(e),
        }
    }
}

/// The metadata of a command WeChat Pay's word (or the service acting on it) sends, under a
/// command id that names what it records, so a second report of the same records nothing.
fn system_metadata(command_id: String) -> EventMetadata {
    EventMetadata {
        actor: Actor::system("wechat-pay"),
        request_id: crate::telemetry::request_id(),
        command_id,
        recorded_at: Utc::now(),
    }
}

/// What the student sees on WeChat Pay's screen.
fn description(purpose: OrderPurpose) -> &'static str {
    match purpose {
        OrderPurpose::Collection => "照片采集费",
        OrderPurpose::PaperPrints => "纸质照片冲印",
        OrderPurpose::Reprint => "照片加洗",
    }
}
