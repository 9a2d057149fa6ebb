use clap::{Args, Subcommand};
use photo_ledger_domain::erasure::ErasureReason;
use photo_ledger_domain::metadata::{Actor, Role};
use photo_ledger_domain::values::CaptureId;
use photo_ledger_projections::ProjectorConfig;

use crate::captures::Captures;
use crate::configuration::Settings;
use crate::erasure::{retention, Erasure, Scope};
use crate::photos::PhotoStore;
use crate::startup::open_ledger;
use crate::telemetry::metrics::Metrics;

/// Erase a student's personal information (their identity, print recipients, photos) for a
/// reason; or run the retention policy now; or rewrap the data keys after a new master key.
#[derive(Args, Debug)]
pub struct EraseArgs {
    #[command(subcommand)]
    pub command: EraseCommand,
}

#[derive(Subcommand, Debug)]
pub enum EraseCommand {
    /// Erase a capture and, unless --only-this-capture, every other capture of the same person.
    Capture {
        capture_id: uuid::Uuid,
        /// student_request, consent_withdrawn, retention_expired, purpose_ended or unlawful.
        #[arg(long, value_parser = parse_reason)]
        reason: ErasureReason,
        /// Who erases, as the capture's log names them (an admin's username).
        #[arg(long)]
        by: String,
        /// Erase this capture alone, not the person's other captures.
        #[arg(long)]
        only_this_capture: bool,
    },
    /// Erase every capture past its school's retention period now (the service does it every
    /// `store.retention_every_secs`).
    Expired,
    /// Set a school's retention period: its captures are erased this many days after delivery
    /// to 学信网. `--keep` clears it (kept until erased by hand).
    Retention {
        school_id: String,
        #[arg(long, conflicts_with = "keep", required_unless_present = "keep")]
        days: Option<u32>,
        #[arg(long)]
        keep: bool,
    },
    /// Rewrap every data key under the current master key (`store.master_key`), after the old
    /// one was moved to `store.previous_master_keys`.
    RewrapKeys,
}

fn parse_reason(code: &str) -> Result<ErasureReason, String> {
    ErasureReason::parse(code).ok_or_else(|| {
        let codes: Vec<_> = ErasureReason::ALL.iter().map(|r| r.code()).collect();
        format!("one of {}", codes.join(", "))
    })
}

pub async fn run(args: EraseArgs, settings: &Settings) -> anyhow::Result<()> {
    let ledger = open_ledger(&settings.store, ProjectorConfig::default()).await?;
    let _projecting = ledger.projector().spawn();
    let erasure = || -> anyhow::Result<Erasure> {
        Ok(Erasure::new(
            Captures::new(ledger.clone(), Metrics::new()),
            PhotoStore::from_settings(&settings.api.photos, &settings.store.data_dir)?,
            settings.store.person_keyer()?,
        ))
    };
    let refused = |e: crate::erasure::ErasureError| anyhow::anyhow!("{e} [{}]", e.code());
    match args.command {
        EraseCommand::Capture {
            capture_id,
            reason,
            by,
            only_this_capture,
        } => {
            let scope = if only_this_capture {
                Scope::Capture
            } else {
                Scope::Person
            };
            let report = erasure()?
                .erase(
                    CaptureId::from_uuid(capture_id),
                    scope,
                    reason,
                    &Actor::new(Role::Admin, by.trim()),
                )
                .await
                .map_err(refused)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        EraseCommand::Expired => {
            let erased = retention::erase_expired(&erasure()?, chrono::Utc::now())
                .await
                .map_err(refused)?;
            eprintln!(
                "{} captures past their retention period erased",
                erased.len()
            );
            for capture_id in erased {
                println!("{capture_id}");
            }
        }
        EraseCommand::Retention {
            school_id,
            days,
            keep: _,
        } => {
            if !retention::set_period(ledger.db(), &school_id, days).await? {
                anyhow::bail!("no school {school_id} (see `photo-ledger school list`)");
            }
            match days {
                Some(days) => eprintln!("{school_id}: erased {days} days after delivery"),
                None => eprintln!("{school_id}: kept until erased by hand"),
            }
        }
        EraseCommand::RewrapKeys => {
            let rewrapped = ledger.decoder().keys().rewrap().await?;
            eprintln!("{rewrapped} data keys rewrapped under the current master key");
        }
    }
    Ok(())
}
