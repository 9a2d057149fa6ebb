use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{ArgGroup, Args};
use futures::TryStreamExt;
use photo_ledger_domain::metadata::{Actor, Role};
use photo_ledger_projections::ProjectorConfig;

use crate::captures::{Captures, Requester};
use crate::configuration::Settings;
use crate::delivery::{Deliveries, DeliveryError};
use crate::eligibility::cohort::Cohort;
use crate::photos::PhotoStore;
use crate::startup::open_ledger;
use crate::telemetry::metrics::Metrics;

/// Make the 学信网 delivery package of a batch (or a whole school) and write its ZIP: every
/// approved photo not yet delivered nor in another package, as `<学历类别>/<证件号码>.jpg`, with
/// `manifest.csv`. Writing it marks its photos 上网中. `--package` writes a package made before
/// again (the same bytes); `--package … --completed` marks its photos 已完成. Prints the package.
#[derive(Args, Debug)]
#[command(group(ArgGroup::new("what").required(true).args(["batch", "school", "package"])))]
pub struct DeliverArgs {
    /// The batch, by feature code.
    #[arg(long)]
    pub batch: Option<String>,
    /// Every batch of the school, by name.
    #[arg(long)]
    pub school: Option<String>,
    /// A package made before, by id.
    #[arg(long)]
    pub package: Option<String>,
    /// Mark the package's photos 已完成 on 学信网 instead of writing it (with --package).
    #[arg(long, requires = "package")]
    pub completed: bool,
    /// The directory the ZIP is written to, under the package's file name.
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    /// Who delivers, as the audit trail and the download log name them (an admin's username).
    #[arg(long)]
    pub by: String,
}

fn refused(e: DeliveryError) -> anyhow::Error {
    anyhow::anyhow!("{e} [{}]", e.code())
}

pub async fn run(args: DeliverArgs, settings: &Settings) -> anyhow::Result<()> {
    let ledger = open_ledger(&settings.store, ProjectorConfig::default()).await?;
    let photos = PhotoStore::from_settings(&settings.api.photos, &settings.store.data_dir)?;
    let deliveries = Deliveries::new(Captures::new(ledger, Metrics::new()), photos);
    let by = args.by.trim();
    let requester = Requester {
        actor: Actor::new(Role::Admin, by),
        request_id: uuid::Uuid::new_v4().to_string(),
        idempotency_key: None,
    };
    let package_id = match &args.package {
        Some(package) => package.clone(),
        None => {
            let cohort = Cohort::parse(args.batch.as_deref(), args.school.as_deref())
                .map_err(super::refusal)?;
            deliveries
                .prepare(&cohort, by)
                .await
                .map_err(refused)?
                .package_id
        }
    };
    if args.completed {
        let package = deliveries
            .complete(&package_id, &requester)
            .await
            .map_err(refused)?;
        println!("{}", serde_json::to_string_pretty(&package)?);
        return Ok(());
    }
    let file = deliveries
        .download(&package_id, &requester)
        .await
        .map_err(refused)?;
    let path = args.out.join(&file.package.file_name);
    let partial = args.out.join(format!("{}.part", file.package.file_name));
    // Written beside its final name and renamed when whole: a cut-short package never looks
    // like a finished one.
    let cannot_write = || format!("cannot write {}", partial.display());
    let mut out = std::fs::File::create(&partial).with_context(cannot_write)?;
    let mut body = std::pin::pin!(file.body);
    while let Some(chunk) = body.try_next().await.map_err(refused)? {
        out.write_all(&chunk).with_context(cannot_write)?;
    }
    out.sync_all().with_context(cannot_write)?;
    std::fs::rename(&partial, &path).with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    println!("{}", serde_json::to_string_pretty(&file.package)?);
    Ok(())
}
