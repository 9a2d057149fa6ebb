use std::path::PathBuf;

use anyhow::Context;
use chrono::Utc;
use clap::{Args, Subcommand};
use photo_ledger_domain::feature_code::FeatureCode;

use crate::configuration::Settings;
use crate::eligibility::roster::{self, ImportRequest};
use crate::eligibility::schools;
use crate::startup::open_store;

#[derive(Args, Debug)]
pub struct RosterArgs {
    #[command(subcommand)]
    pub command: RosterCommand,
}

#[derive(Subcommand, Debug)]
pub enum RosterCommand {
    /// Import a graduate list (CSV or XLSX, headed in Chinese or English). Good rows are stored,
    /// each bad row is reported with its line number; importing again updates students.
    Import(ImportArgs),
    /// A school's past imports, newest first, with their bad rows.
    Imports {
        /// The school, by name.
        #[arg(long)]
        school: String,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The .csv or .xlsx file.
    pub file: PathBuf,
    /// The school, by name.
    #[arg(long)]
    pub school: String,
    /// Tie the students to this batch (by feature code).
    #[arg(long)]
    pub batch: Option<FeatureCode>,
    /// Who is importing, for the import record.
    #[arg(long, env = "USER", default_value = "cli")]
    pub by: String,
}

pub async fn run(args: RosterArgs, settings: &Settings) -> anyhow::Result<()> {
    match args.command {
        RosterCommand::Import(args) => import(args, settings).await,
        RosterCommand::Imports { school, limit } => {
            let db = open_store(&settings.store).await?;
            let school = schools::by_name(&db, &school)
                .await
                .map_err(super::refusal)?;
            for record in roster::imports_of(&db, &school.school_id, limit)
                .await
                .map_err(super::refusal)?
            {
                println!(
                    "{}\t{}\t{}\t{}\tsha256 {}\t{} rows, {} added, {} updated, {} unchanged, {} rejected",
                    record.imported_at.to_rfc3339(),
                    record.imported_by,
                    record.file_name,
                    record.import_id,
                    record.file_sha256,
                    record.rows_read,
                    record.inserted,
                    record.updated,
                    record.unchanged,
                    record.problems.len()
                );
                for problem in &record.problems {
                    println!("\tline {}: {}", problem.line, problem.reason);
                }
            }
            Ok(())
        }
    }
}

async fn import(args: ImportArgs, settings: &Settings) -> anyhow::Result<()> {
    let bytes = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let file_name = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let db = open_store(&settings.store).await?;
    let report = roster::import(
        &db,
        ImportRequest {
            school: &args.school,
            batch: args.batch.as_ref(),
            file_name: &file_name,
            bytes: &bytes,
            imported_by: &args.by,
            at: Utc::now(),
        },
    )
    .await
    .map_err(super::refusal)?;
    println!(
        "{file_name}: {} rows, {} added, {} updated, {} unchanged, {} rejected (import {}, sha256 {})",
        report.rows_read,
        report.inserted,
        report.updated,
        report.unchanged,
        report.problems.len(),
        report.import_id,
        report.file_sha256
    );
    for problem in &report.problems {
        println!("line {}: {}", problem.line, problem.reason);
    }
    Ok(())
}
