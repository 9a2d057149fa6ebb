use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use photo_ledger_projections::ProjectorConfig;
use photo_ledger_store::log;

use crate::configuration::Settings;
use crate::startup::open_ledger;

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// Rebuild only this projection (capture_status, review_queue, courier_orders, photo_history,
    /// same_photos, refunds, collection_progress).
    #[arg(long)]
    pub projection: Option<String>,
    /// Events per transaction.
    #[arg(long, default_value_t = 5000)]
    pub batch_size: i64,
    /// Memory for the capture documents and view rows kept between batches, all projections together, in
    /// MiB; the rebuild's memory stays about this much above the batches' own, however long the
    /// log.
    #[arg(long, default_value_t = 96)]
    pub keep_mib: usize,
}

pub async fn run(args: ReplayArgs, settings: &Settings) -> anyhow::Result<()> {
    let config = ProjectorConfig {
        batch_size: args.batch_size,
        kept_bytes: args.keep_mib * 1024 * 1024,
        ..ProjectorConfig::default()
    };
    let ledger = open_ledger(&settings.store, config).await?;
    let projector = ledger.projector();
    let names: Vec<&str> = match &args.projection {
        Some(name) => vec![projector
            .names()
            .into_iter()
            .find(|n| n == name)
            .ok_or_else(|| {
                photo_ledger_projections::ProjectionError::UnknownProjection(name.clone())
            })?],
        None => projector.names(),
    };
    let total = log::estimated_count(ledger.db()).await? as u64;
    for name in &names {
        projector
            .reset(name)
            .await
            .with_context(|| format!("cannot reset {name}"))?;
    }
    // One pass over the log rebuilds every named projection.
    let label = names.join(", ");
    let bar = ProgressBar::new(total).with_message(label.clone());
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:40}] {pos} of about {len} events ({per_sec}, {eta})",
        )?
        .progress_chars("=> "),
    );
    let started = std::time::Instant::now();
    let read = projector
        .catch_up(&names, |n| bar.inc(n as u64))
        .await
        .with_context(|| format!("cannot rebuild {label}"))?;
    bar.finish();
    eprintln!("{label}: {read} events in {:.2?}", started.elapsed());
    // The process ends with the rebuild. What the projector kept between batches (up to
    // `--keep-mib`, hundreds of thousands of small allocations) is left to the exit to free:
    // freed one by one it took about 4 % of a rebuild's time. Its connections close first.
    ledger.close().await;
    std::mem::forget(ledger);
    Ok(())
}
