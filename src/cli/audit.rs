//! `photo-ledger audit`: seal the log, print the digest an auditor keeps, verify the log.

use std::path::PathBuf;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};

use crate::audit::export::{export, ExportRequest};
use crate::audit::key::parse_public_key;
use crate::audit::point_in_time::{capture_at, fold_named, view_at};
use crate::audit::{seal, verify, Seal, Sealer};
use crate::configuration::Settings;
use crate::startup::open_store;

#[derive(Args, Debug)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Seal every event not sealed yet, now (the service also seals in the background).
    Seal,
    /// Print the latest signed seal as JSON, for an auditor to keep outside our systems.
    Digest,
    /// Recompute every hash chain and seal and report any event modified, deleted, inserted or
    /// reordered; or, with `--export`, check an export offline. Exits non-zero unless all holds.
    Verify {
        /// A digest kept earlier (`audit digest`): check the log still extends it.
        #[arg(long, conflicts_with = "export")]
        digest: Option<PathBuf>,
        /// Check this export (`audit export`) with nothing but its files and `--public-key`;
        /// no database is opened.
        #[arg(long, requires = "public_keys")]
        export: Option<PathBuf>,
        /// The audit public key to trust (64 hex digits); repeat for several. Without it, the
        /// configured audit key's.
        #[arg(long = "public-key")]
        public_keys: Vec<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a school's events, with the seals that cover them and a signed manifest, for an
    /// auditor to take away and check offline (`audit verify --export`). Seals what is waiting
    /// first.
    Export {
        /// The school, by name…
        #[arg(
            long,
            required_unless_present = "school_id",
            conflicts_with = "school_id"
        )]
        school: Option<String>,
        /// …or by id.
        #[arg(long)]
        school_id: Option<String>,
        /// Only events recorded at or after this moment (as for `audit capture --at`).
        #[arg(long, value_parser = moment)]
        from: Option<DateTime<Utc>>,
        /// Only events recorded before this moment.
        #[arg(long, value_parser = moment)]
        to: Option<DateTime<Utc>>,
        /// A new directory (or an empty one) to write the export into.
        dir: PathBuf,
    },
    /// A capture's state and status screen as they were at a moment, replayed from the log
    /// (the live views are not touched), as JSON.
    Capture {
        capture_id: uuid::Uuid,
        /// The moment: RFC 3339 (`2026-12-01T09:00:00+08:00`) or `2026-12-01 09:00` on a China
        /// clock.
        #[arg(long, value_parser = moment)]
        at: DateTime<Utc>,
    },
    /// A projection's rows as they were at a moment (`review_queue` last Tuesday at 09:00, say),
    /// replayed from the log into memory, as JSON.
    View {
        /// capture_status, review_queue, courier_orders, photo_history, same_photos, refunds
        /// or collection_progress.
        name: String,
        /// The moment, as for `audit capture`.
        #[arg(long, value_parser = moment)]
        at: DateTime<Utc>,
    },
}

fn public_keys_of(texts: &[String]) -> anyhow::Result<Vec<ed25519_dalek::VerifyingKey>> {
    texts
        .iter()
        .map(|text| {
            parse_public_key(text).with_context(|| {
                format!("--public-key {text}: not an Ed25519 public key in 64 hex digits")
            })
        })
        .collect()
}

/// `audit verify --export`: the export's files and the keys only.
fn verify_export(dir: &std::path::Path, public_keys: &[String], json: bool) -> anyhow::Result<()> {
    let keys = public_keys_of(public_keys)?;
    let mut reports = Vec::new();
    for key in &keys {
        let report = crate::audit::export::verify_export(dir, key)?;
        if report.verified() {
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            }
            eprintln!(
                "verified: {} events under {} seals, signed by {}",
                report.events,
                report.seals,
                hex::encode(key.to_bytes())
            );
            return Ok(());
        }
        reports.push(report);
    }
    // Reported against the first key given.
    let report = reports.swap_remove(0);
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for finding in &report.findings {
            println!("{finding}");
        }
    }
    anyhow::bail!(
        "the export does not verify: {} finding(s)",
        report.findings.len()
    )
}

fn moment(text: &str) -> Result<DateTime<Utc>, String> {
    crate::china_time::parse(text).ok_or_else(|| {
        format!("{text:?} is not a moment: give RFC 3339 (2026-12-01T09:00:00+08:00) or a China-clock date and time (2026-12-01 09:00)")
    })
}

pub async fn run(args: AuditArgs, settings: &Settings) -> anyhow::Result<()> {
    if let AuditCommand::Verify {
        export: Some(dir),
        public_keys,
        json,
        ..
    } = &args.command
    {
        return verify_export(dir, public_keys, *json);
    }
    let db = open_store(&settings.store).await?;
    match args.command {
        AuditCommand::Seal => {
            let key = settings.audit.key(&settings.store.data_dir)?;
            let seals = Sealer::new(db, key, &settings.audit).seal_all().await?;
            match seals.last() {
                Some(last) => eprintln!(
                    "{} seal(s) made; the latest is seal {} over {} events",
                    seals.len(),
                    last.seal_no,
                    last.total_events
                ),
                None => eprintln!("nothing to seal: every event is sealed"),
            }
        }
        AuditCommand::Digest => {
            let latest = seal::latest(&db).await?.context(
                "the log has no seal yet: run `photo-ledger audit seal` (the service seals in the background)",
            )?;
            println!("{}", serde_json::to_string_pretty(&latest)?);
        }
        AuditCommand::Verify {
            digest,
            public_keys,
            json,
            ..
        } => {
            let trusted = if public_keys.is_empty() {
                vec![settings.audit.key(&settings.store.data_dir)?.public_key()]
            } else {
                public_keys_of(&public_keys)?
            };
            let kept: Option<Seal> = match &digest {
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .with_context(|| format!("cannot read the digest {}", path.display()))?;
                    Some(serde_json::from_str(&text).with_context(|| {
                        format!(
                            "{} is not a digest printed by `photo-ledger audit digest`",
                            path.display()
                        )
                    })?)
                }
                None => None,
            };
            let report = verify::verify(&db, &trusted, kept.as_ref()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                for finding in &report.findings {
                    println!("{finding}");
                }
                println!(
                    "{} events in {} captures, {} seals; {} events after the last seal (checked by their chains only){}",
                    report.events,
                    report.captures,
                    report.seals,
                    report.unsealed,
                    if report.digest_checked { "; the kept digest checked" } else { "" }
                );
            }
            if !report.verified() {
                anyhow::bail!(
                    "the log does not verify: {} finding(s)",
                    report.findings.len()
                );
            }
            eprintln!("verified");
        }
        AuditCommand::Export {
            school,
            school_id,
            from,
            to,
            dir,
        } => {
            let school_id = match (school, school_id) {
                (Some(name), _) => {
                    crate::eligibility::schools::by_name(&db, &name)
                        .await
                        .map_err(super::refusal)?
                        .school_id
                }
                (None, Some(id)) => id,
                (None, None) => unreachable!("clap requires one of them"),
            };
            let key = settings.audit.key(&settings.store.data_dir)?;
            Sealer::new(db.clone(), key.clone(), &settings.audit)
                .seal_all()
                .await?;
            let request = ExportRequest {
                school_id,
                from,
                to,
            };
            let manifest = export(&db, &key, &request, &dir).await?;
            eprintln!(
                "exported {} events of {} captures under {} seals to {}; check it with `photo-ledger audit verify --export {} --public-key {}`",
                manifest.events,
                manifest.captures,
                manifest.seals,
                dir.display(),
                dir.display(),
                manifest.public_key
            );
        }
        AuditCommand::Capture { capture_id, at } => {
            let status = fold_named("capture_status", settings.store.person_keyer()?)?;
            let decoder = crate::startup::decoder(db, &settings.store)?;
            let capture =
                capture_at(&decoder, status.as_ref(), &capture_id.to_string(), at).await?;
            if capture.sequence == 0 {
                anyhow::bail!(
                    "capture {capture_id} had no event recorded by {at} (check --database-url / --data-dir)"
                );
            }
            println!("{}", serde_json::to_string_pretty(&capture)?);
        }
        AuditCommand::View { name, at } => {
            let fold = fold_named(&name, settings.store.person_keyer()?)?;
            let decoder = crate::startup::decoder(db, &settings.store)?;
            let view = view_at(&decoder, fold.as_ref(), at).await?;
            println!("{}", serde_json::to_string_pretty(&view)?);
        }
    }
    Ok(())
}
