use std::io::Write;

use clap::Args;
use photo_ledger_projections::ProjectorConfig;
use serde_json::json;

use crate::configuration::Settings;
use crate::startup::open_ledger;

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// The capture whose history to print.
    pub capture_id: uuid::Uuid,
}

pub async fn run(args: EventsArgs, settings: &Settings) -> anyhow::Result<()> {
    let ledger = open_ledger(&settings.store, ProjectorConfig::default()).await?;
    let capture_id = args.capture_id.to_string();
    let events = ledger.history(&capture_id).await?;
    if events.is_empty() {
        anyhow::bail!("no capture {capture_id} in this ledger (check --database-url / --data-dir)");
    }
    let mut out = std::io::stdout().lock();
    for e in events {
        let line = json!({
            "capture_id": e.aggregate_id,
            "sequence": e.sequence,
            "event_type": e.event_type,
            "event_version": e.event_version,
            "payload": e.payload,
            "metadata": e.metadata,
        });
        writeln!(out, "{line}")?;
    }
    Ok(())
}
