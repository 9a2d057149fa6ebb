//! Payments whose notification never comes. WeChat Pay retries a notification for a while, but
//! one can still be lost (our endpoint down through every retry, a network fault), and the
//! student who paid would wait forever. So an order still unpaid `wechat_pay.query_after_secs`
//! after it was placed is looked up with WeChat Pay's order query, and again after as long each
//! time, for `wechat_pay.query_for_hours`. A paid answer is recorded exactly as a notification is
//! ([`Payments::record_paid`]): one ledger command per transaction, so a notification arriving afterwards
//! records nothing more. An order WeChat Pay reports closed for good (`CLOSED`, `REVOKED`,
//! `PAYERROR`) can never be paid: it is recorded closed and not asked about again. An order we
//! closed ourselves (replaced by another) is still asked about until WeChat Pay says it is closed
//! too, since a payment made just before the close must be found and refunded. Each round claims its orders in the
//! database, so several instances do not ask about the same order twice. Every answer is counted
//! in `photo_ledger_wechat_pay_order_queries_total` by `answer`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use photo_ledger_domain::orders::OrderState;
use photo_ledger_domain::values::{CaptureId, OrderId};

use super::wechat_pay::prepay::PayClient;
use super::wechat_pay::query::TradeState;
use super::{orders, PaymentError, Payments};
use crate::telemetry::metrics::Metrics;

/// Orders asked about per round at most; the rest wait for the next round.
const PER_ROUND: i64 = 100;

/// How one round went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// Orders claimed and looked at.
    pub claimed: usize,
    /// Found paid by WeChat Pay and recorded now.
    pub recorded: usize,
    /// Closed for good at WeChat Pay: never to be paid, not asked about again.
    pub closed: usize,
}

/// Asks WeChat Pay about orders whose payment was never reported.
pub struct OrderQuery {
    pub payments: Arc<Payments>,
    pub metrics: Metrics,
    /// How long after placing an order, and between two questions about it, to wait.
    pub after_secs: u64,
    /// For how long after placing an order to keep asking.
    pub for_hours: u64,
}

/// Looks up due orders every few seconds (at most a minute apart) for as long as the service
/// runs. Only with a merchant key and `query_for_hours` above zero.
pub async fn query_periodically(query: OrderQuery) {
    let every = Duration::from_secs(query.after_secs.clamp(1, 60));
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match query.due(Utc::now()).await {
            Ok(Round { recorded: 0, .. }) => {}
            Ok(round) => tracing::info!(
                recorded = round.recorded,
                "payments found by order query (their notifications never came)"
            ),
            Err(error) => tracing::warn!(
                error = %crate::telemetry::ErrorChain(&error),
                "cannot look up unpaid orders"
            ),
        }
    }
}

enum Lookup {
    /// Paid, in the ledger now; `recorded` when this lookup recorded it.
    Settled { recorded: bool },
    /// Not paid yet: WeChat Pay's trade state for it (`NOTPAY`, `USERPAYING`).
    Unpaid(String),
    /// Never to be paid: WeChat Pay's final trade state for it.
    Closed(String),
}

/// Trade states after which an order can no longer be paid.
const FINAL_UNPAID: &[&str] = &["CLOSED", "REVOKED", "PAYERROR"];

impl OrderQuery {
    /// One round at `now`: claims the due orders and looks each one up.
    pub async fn due(&self, now: DateTime<Utc>) -> Result<Round, sqlx::Error> {
        let Some(pay) = self.payments.client() else {
            return Ok(Round::default());
        };
        let due = now - chrono::Duration::seconds(self.after_secs as i64);
        let oldest = now - chrono::Duration::hours(self.for_hours as i64);
        let db = self.payments.captures().ledger().db();
        let claimed = orders::claim_unpaid(db, now, due, oldest, PER_ROUND).await?;
        let mut round = Round {
            claimed: claimed.len(),
            ..Round::default()
        };
        for (order_id, capture_id) in claimed {
            let lookup = self.look_up(pay, order_id, capture_id).await;
            self.metrics.observe_order_query(match &lookup {
                Ok(Lookup::Settled { recorded: true }) => "paid",
                Ok(Lookup::Settled { recorded: false }) => "settled_before",
                Ok(Lookup::Unpaid(_)) => "unpaid",
                Ok(Lookup::Closed(_)) => "closed",
                Err(_) => "error",
            });
            match lookup {
                Ok(Lookup::Settled { recorded }) => {
                    round.recorded += usize::from(recorded);
                    orders::settle(db, order_id, now).await?;
                }
                Ok(Lookup::Closed(trade_state)) => {
                    tracing::info!(%order_id, trade_state, "order closed at WeChat Pay: not asked about again");
                    round.closed += 1;
                    orders::settle(db, order_id, now).await?;
                }
                Ok(Lookup::Unpaid(trade_state)) => {
                    tracing::debug!(%order_id, trade_state, "order still unpaid");
                }
                Err(error) => tracing::warn!(
                    %order_id,
                    error = %crate::telemetry::ErrorChain(&error),
                    "cannot look up an unpaid order"
                ),
            }
        }
        Ok(round)
    }

    async fn look_up(
        &self,
        pay: &PayClient,
        order_id: OrderId,
        capture_id: CaptureId,
    ) -> Result<Lookup, PaymentError> {
        let (capture, _) = self
            .payments
            .captures()
            .ledger()
            .load(&capture_id.to_string())
            .await?;
        let order = capture
            .orders
            .get(&order_id)
            .ok_or(PaymentError::UnknownOrder)?;
        let may_yet_be_paid = matches!(
            order.state,
            OrderState::AwaitingPayment | OrderState::Closed
        );
        if !may_yet_be_paid || order.amount_fen.is_zero() {
            return Ok(Lookup::Settled { recorded: false });
        }
        let transaction = match pay.query(&orders::out_trade_no(order_id)).await? {
            TradeState::Paid(transaction) => transaction,
            TradeState::Unpaid(trade_state) if FINAL_UNPAID.contains(&trade_state.as_str()) => {
                if order.state == OrderState::AwaitingPayment {
                    self.payments.record_closed(capture_id, order_id).await?;
                }
                return Ok(Lookup::Closed(trade_state));
            }
            TradeState::Unpaid(trade_state) => return Ok(Lookup::Unpaid(trade_state)),
        };
        self.payments.record_paid(&transaction).await?;
        Ok(Lookup::Settled { recorded: true })
    }
}
