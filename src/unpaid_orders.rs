//! Payments whose notification never comes. WeChat Pay retries a notification for a while, but
//! one can still be lost (our endpoint down through every retry, a network fault), and the
//! student who paid would wait forever. So an order still unpaid `wechat_pay.query_after_secs`
//! after it was placed is looked up with WeChat Pay's order query, and again after as long each
//! time, for `wechat_pay.query_for_hours`. A paid answer is recorded exactly as a notification is
//! ([`record_paid`]): one ledger command per transaction, so a notification arriving afterwards
//! records nothing more. An order WeChat Pay reports closed for good (`CLOSED`, `REVOKED`,
//! `PAYERROR`) can never be paid and is not asked about again. Each round claims its orders in the
//! database, so several instances do not ask about the same order twice. Every answer is counted
//! in `photo_ledger_wechat_pay_order_queries_total` by `answer`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use photo_ledger_domain::orders::OrderState;
use photo_ledger_domain::values::{CaptureId, OrderId};

use crate::http::payments::record_paid;
use crate::payment_orders;
use crate::startup::AppState;
use crate::wechat_pay::prepay::PayClient;
use crate::wechat_pay::Notification;

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

/// Looks up due orders every few seconds (at most a minute apart) for as long as the service
/// runs. Only with a merchant key (`state.pay`) and `query_for_hours` above zero.
pub async fn query_periodically(state: Arc<AppState>) {
    let settings = &state.api.wechat_pay;
    let every = Duration::from_secs(settings.query_after_secs.clamp(1, 60));
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match query_due(&state, Utc::now()).await {
            Ok(Round { recorded: 0, .. }) => {}
            Ok(round) => tracing::info!(
                recorded = round.recorded,
                "payments found by order query (their notifications never came)"
            ),
            Err(e) => tracing::warn!(error = %e, "cannot look up unpaid orders"),
        }
    }
}

/// One round at `now`: claims the due orders and looks each one up.
pub async fn query_due(state: &AppState, now: DateTime<Utc>) -> Result<Round, sqlx::Error> {
    let Some(pay) = &state.pay else {
        return Ok(Round::default());
    };
    let settings = &state.api.wechat_pay;
    let due = now - chrono::Duration::seconds(settings.query_after_secs as i64);
    let oldest = now - chrono::Duration::hours(settings.query_for_hours as i64);
    let db = state.ledger.db();
    let claimed = payment_orders::claim_unpaid(db, now, due, oldest, PER_ROUND).await?;
    let mut round = Round {
        claimed: claimed.len(),
        ..Round::default()
    };
    for (order_id, capture_id) in claimed {
        let lookup = look_up(state, pay, order_id, capture_id).await;
        state.metrics.observe_order_query(match &lookup {
            Ok(Lookup::Settled { recorded: true }) => "paid",
            Ok(Lookup::Settled { recorded: false }) => "settled_before",
            Ok(Lookup::Unpaid(_)) => "unpaid",
            Ok(Lookup::Closed(_)) => "closed",
            Err(_) => "error",
        });
        match lookup {
            Ok(Lookup::Settled { recorded }) => {
                round.recorded += usize::from(recorded);
                payment_orders::settle(db, order_id, now).await?;
            }
            Ok(Lookup::Closed(trade_state)) => {
                tracing::info!(%order_id, trade_state, "order closed at WeChat Pay: not asked about again");
                round.closed += 1;
                payment_orders::settle(db, order_id, now).await?;
            }
            Ok(Lookup::Unpaid(trade_state)) => {
                tracing::debug!(%order_id, trade_state, "order still unpaid");
            }
            Err(reason) => tracing::warn!(%order_id, reason, "cannot look up an unpaid order"),
        }
    }
    Ok(round)
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

async fn look_up(
    state: &AppState,
    pay: &PayClient,
    order_id: OrderId,
    capture_id: CaptureId,
) -> Result<Lookup, String> {
    let (capture, _) = state
        .ledger
        .load(&capture_id.to_string())
        .await
        .map_err(|e| e.to_string())?;
    let order = capture
        .orders
        .get(&order_id)
        .ok_or("the capture has no such order")?;
    if order.state != OrderState::AwaitingPayment || order.amount_fen.is_zero() {
        return Ok(Lookup::Settled { recorded: false });
    }
    let transaction = match pay
        .query(&payment_orders::out_trade_no(order_id))
        .await
        .map_err(|e| e.to_string())?
    {
        Notification::Paid(transaction) => transaction,
        Notification::Other(trade_state) if FINAL_UNPAID.contains(&trade_state.as_str()) => {
            return Ok(Lookup::Closed(trade_state))
        }
        Notification::Other(trade_state) => return Ok(Lookup::Unpaid(trade_state)),
    };
    record_paid(state, &transaction)
        .await
        .map_err(|status| format!("the payment was not recorded ({status})"))?;
    Ok(Lookup::Settled { recorded: true })
}
