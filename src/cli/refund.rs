use std::sync::Arc;

use anyhow::Context;
use chrono::Utc;
use clap::Args;
use photo_ledger_domain::metadata::{Actor, Role};
use photo_ledger_projections::ProjectorConfig;

use crate::captures::{Captures, Requester};
use crate::configuration::Settings;
use crate::payments::refunds::{RefundByHand, RefundWorker};
use crate::startup::{open_ledger, payments};
use crate::telemetry::metrics::Metrics;

/// Give a payment back in full through WeChat Pay, with a reason: the refund is recorded in the
/// capture's log with who asked and why, then made at once. Prints the capture's refunds.
#[derive(Args, Debug)]
pub struct RefundArgs {
    /// The capture the order belongs to.
    pub capture_id: uuid::Uuid,
    /// The order whose payment is given back.
    #[arg(long)]
    pub order: uuid::Uuid,
    /// Why (required; kept in the audit trail).
    #[arg(long)]
    pub reason: String,
    /// A payment of the order whose automatic refund failed; the order's own payment when
    /// absent.
    #[arg(long)]
    pub transaction: Option<String>,
    /// Who refunds, as the audit trail names them (an admin's username).
    #[arg(long)]
    pub by: String,
}

pub async fn run(args: RefundArgs, settings: &Settings) -> anyhow::Result<()> {
    let ledger = open_ledger(&settings.store, ProjectorConfig::default()).await?;
    let payments = Arc::new(payments(settings, Captures::new(ledger, Metrics::new()))?);
    let requester = Requester {
        actor: Actor::new(Role::Admin, args.by.trim()),
        request_id: uuid::Uuid::new_v4().to_string(),
        idempotency_key: None,
    };
    let capture_id = photo_ledger_domain::values::CaptureId::from_uuid(args.capture_id);
    payments
        .refund_by_hand(
            &requester,
            capture_id,
            RefundByHand {
                order_id: photo_ledger_domain::values::OrderId::from_uuid(args.order),
                transaction_id: args.transaction,
                note: args.reason,
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e} [{}]", e.code()))?;
    if payments.client().is_some() {
        RefundWorker::new(payments.clone(), &settings.api.wechat_pay)
            .round(Utc::now())
            .await
            .context("the refund is recorded; the service will make it")?;
    } else {
        eprintln!("WeChat Pay is not configured here (wechat_pay.merchant_private_key_pem): the refund is recorded, and a service with WeChat Pay configured makes it");
    }
    let status = payments
        .captures()
        .status(capture_id)
        .await
        .context("cannot read the capture's status")?;
    println!("{}", serde_json::to_string_pretty(&status.refunds)?);
    Ok(())
}
