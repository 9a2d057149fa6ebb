//! Giving money back. A refund is requested in the log first (by the capture, for a payment it
//! cannot keep, or by staff by hand), then made through WeChat Pay by the [`RefundWorker`]:
//!
//! - a refund not yet accepted is asked for (`POST /v3/refund/domestic/refunds`, the
//!   `out_refund_no` derived from the payment, so asking again never refunds twice);
//! - one accepted and not yet settled is asked about, like an order whose notification never
//!   came; refund notifications settle it as soon as they come;
//! - WeChat Pay's word is recorded once per refund and state (`SUCCESS` → refunded, `CLOSED` or
//!   `ABNORMAL` → failed), whichever of answer, notification or question brings it first;
//! - a refusal is asked again later, and after `refund_max_refusals` refusals the refund is
//!   recorded failed, with WeChat Pay's reason, for staff to look at;
//! - when WeChat Pay cannot be reached, it is asked again later, without end.
//!
//! Questions back off from `refund_retry_secs`, doubling up to an hour. Each is claimed in
//! [`refund_attempts`](super::refund_attempts), so several instances do not ask at once.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use photo_ledger_domain::commands::{RecordRefund, RequestRefund};
use photo_ledger_domain::refunds::RefundOutcome;
use photo_ledger_domain::values::{CaptureId, OrderId, RefundId};
use photo_ledger_domain::CaptureCommand;
use photo_ledger_projections::capture_status::CaptureStatusView;
use photo_ledger_projections::refunds::{self, RefundItem};

use super::refund_attempts::{self, Claim};
use super::wechat_pay::client::PayError;
use super::wechat_pay::prepay::PayClient;
use super::wechat_pay::refund::{RefundAnswer, RefundRequest};
use super::wechat_pay::WechatPaySettings;
use super::{system_metadata, PaymentError, Payments};
use crate::captures::Requester;

/// Refunds looked at per round at most; the rest wait for the next round.
const PER_ROUND: i64 = 100;
/// The longest wait between two questions about one refund.
const MAX_BACKOFF_SECS: i64 = 3600;

/// What staff ask for when they refund by hand.
pub struct RefundByHand {
    pub order_id: OrderId,
    /// A payment of the order whose refund failed; the order's kept payment when absent.
    pub transaction_id: Option<String>,
    pub note: String,
}

impl Payments {
    /// Staff refund a payment of an order by hand, with a reason; the refund is made at once
    /// (by the worker, woken) and the capture's status answered.
    pub async fn refund_by_hand(
        &self,
        requester: &Requester,
        capture_id: CaptureId,
        refund: RefundByHand,
    ) -> Result<CaptureStatusView, PaymentError> {
        let command = CaptureCommand::RequestRefund(RequestRefund {
            order_id: refund.order_id,
            transaction_id: refund.transaction_id,
            note: refund.note,
            at: Utc::now(),
        });
        let view = self.captures.act(requester, capture_id, command).await?;
        self.refunds_due.notify_one();
        Ok(view)
    }

    /// Records what WeChat Pay says became of a refund (an answer, a notification or a
    /// question's): once per refund and state. `PROCESSING` records nothing.
    pub async fn record_refund(&self, answer: &RefundAnswer) -> Result<(), PaymentError> {
        let refund_id: RefundId = answer.out_refund_no.parse().map_err(|_| {
            tracing::warn!(out_refund_no = %answer.out_refund_no, "a refund we never asked for");
            PaymentError::UnknownRefund
        })?;
        let now = Utc::now();
        let outcome = match answer.status.as_str() {
            "SUCCESS" => RefundOutcome::Refunded {
                provider_refund_id: answer.refund_id.clone(),
                at: answer.success_time.unwrap_or(now),
            },
            "CLOSED" => RefundOutcome::Failed {
                reason: "CLOSED: 退款关闭".into(),
                at: now,
            },
            "ABNORMAL" => RefundOutcome::Failed {
                reason: "ABNORMAL: 退款异常，需在商户平台处理".into(),
                at: now,
            },
            _ => return Ok(()),
        };
        let item = refunds::by_refund(self.captures.ledger().db(), &refund_id.to_string())
            .await?
            .filter(|item| item.transaction_id == answer.transaction_id)
            .ok_or_else(|| {
                tracing::warn!(%refund_id, transaction_id = %answer.transaction_id, "no such refund of that payment");
                PaymentError::UnknownRefund
            })?;
        self.settle_refund(
            &item,
            outcome,
            &format!("wechat-pay-refund:{}", answer.status),
        )
        .await
    }

    /// Records a refund's outcome, one command per refund and `how`.
    async fn settle_refund(
        &self,
        item: &RefundItem,
        outcome: RefundOutcome,
        how: &str,
    ) -> Result<(), PaymentError> {
        let capture_id: CaptureId = item
            .capture_id
            .parse()
            .map_err(|_| PaymentError::UnknownRefund)?;
        let command = CaptureCommand::RecordRefund(RecordRefund {
            refund_id: item.refund_id,
            outcome,
        });
        let metadata = system_metadata(format!("{how}:{}", item.refund_id));
        self.captures.run(metadata, capture_id, command).await?;
        Ok(())
    }
}

/// How one round went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// Refunds due a question.
    pub due: usize,
    /// Of those, claimed by this round and asked for or about (another instance may have
    /// claimed the others).
    pub claimed: usize,
}

/// Makes the refunds the log has requested, through WeChat Pay.
pub struct RefundWorker {
    pub payments: Arc<Payments>,
    /// The first wait before asking again; it doubles with each question, up to an hour.
    pub retry_after: Duration,
    /// Refusals after which a refund is recorded failed.
    pub max_refusals: u32,
}

/// Runs rounds for as long as the service runs: when a refund is requested, and every
/// `retry_after` (at most a minute) for the ones waiting.
pub async fn refund_continually(worker: RefundWorker) {
    let every = worker
        .retry_after
        .clamp(Duration::from_secs(1), Duration::from_secs(60));
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let wake = worker.payments.refunds_due.clone();
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = wake.notified() => {}
        }
        if let Err(error) = worker.round(Utc::now()).await {
            tracing::warn!(
                error = %crate::telemetry::ErrorChain(&error),
                "cannot make the refunds due"
            );
        }
    }
}

impl RefundWorker {
    pub fn new(payments: Arc<Payments>, settings: &WechatPaySettings) -> Self {
        Self {
            payments,
            retry_after: Duration::from_secs(settings.refund_retry_secs),
            max_refusals: settings.refund_max_refusals.max(1),
        }
    }

    /// One round at `now`: every refund requested and due a question gets one.
    pub async fn round(&self, now: DateTime<Utc>) -> Result<Round, PaymentError> {
        let Some(pay) = self.payments.client() else {
            return Ok(Round::default());
        };
        let db = self.payments.captures().ledger().db();
        let due = refund_attempts::due(db, now, PER_ROUND).await?;
        let mut round = Round {
            due: due.len(),
            ..Round::default()
        };
        for item in due {
            let backoff = |attempts: u32| self.backoff(attempts);
            let Some(claim) = refund_attempts::claim(db, item.refund_id, now, backoff).await?
            else {
                continue;
            };
            round.claimed += 1;
            if let Err(error) = self.ask(pay, &item, claim).await {
                tracing::warn!(
                    refund_id = %item.refund_id,
                    error = %crate::telemetry::ErrorChain(&error),
                    "cannot make a refund"
                );
            }
        }
        Ok(round)
    }

    fn backoff(&self, attempts: u32) -> chrono::Duration {
        let first = self.retry_after.as_secs().max(1) as i64;
        let secs = first.saturating_mul(1 << attempts.saturating_sub(1).min(12));
        chrono::Duration::seconds(secs.min(MAX_BACKOFF_SECS))
    }

    /// One question about one refund, and what its answer settles.
    async fn ask(
        &self,
        pay: &PayClient,
        item: &RefundItem,
        claim: Claim,
    ) -> Result<(), PaymentError> {
        let db = self.payments.captures().ledger().db();
        let out_refund_no = item.refund_id.to_string();
        let answer = if claim.accepted {
            pay.query_refund(&out_refund_no).await
        } else {
            pay.refund(&RefundRequest {
                out_refund_no: &out_refund_no,
                transaction_id: &item.transaction_id,
                reason: &item.reason_label,
                amount_fen: item.amount_fen.fen(),
            })
            .await
        };
        match answer {
            Ok(answer) => {
                refund_attempts::set_accepted(db, item.refund_id, true).await?;
                self.payments.record_refund(&answer).await
            }
            // Accepted once, unknown now: ask for it again next time.
            Err(e)
                if claim.accepted && e.refusal_code().as_deref() == Some("RESOURCE_NOT_EXISTS") =>
            {
                refund_attempts::set_accepted(db, item.refund_id, false).await?;
                Ok(())
            }
            Err(e @ PayError::Refused(_)) => {
                let reason = e.reason();
                let refused = refund_attempts::failed(db, item.refund_id, true, &reason).await?;
                tracing::warn!(refund_id = %item.refund_id, refused, reason, "WeChat Pay refused a refund");
                if refused < self.max_refusals {
                    return Ok(());
                }
                let outcome = RefundOutcome::Failed {
                    reason,
                    at: Utc::now(),
                };
                self.payments
                    .settle_refund(item, outcome, "refund-worker:refused")
                    .await
            }
            Err(e @ PayError::Unavailable(_)) => {
                refund_attempts::failed(db, item.refund_id, false, &e.reason()).await?;
                Err(PaymentError::Refund(e))
            }
        }
    }
}
