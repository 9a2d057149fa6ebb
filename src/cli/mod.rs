//! The `photo-ledger` command line.

mod attempts;
mod audit;
mod batch;
mod codes;
mod deliver;
mod demo;
mod erase;
mod events;
mod photo_runtime;
mod print_sheet;
mod refund;
mod replay;
mod roster;
mod school;
mod serve;
mod staff;
mod standardise;
mod verify;

use clap::{Parser, Subcommand};

use crate::configuration::{Overrides, Settings};

#[derive(Parser, Debug)]
#[command(
    name = "photo-ledger",
    version,
    about = "The ledger behind the graduation and exam photo mini-programs"
)]
pub struct Cli {
    #[command(flatten)]
    pub overrides: Overrides,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the HTTP service and the projector.
    Serve(serve::ServeArgs),
    /// Create or update the database schema.
    Migrate,
    /// Drop and rebuild projections from the event log.
    Replay(replay::ReplayArgs),
    /// Print one capture's history as JSON lines, for auditors.
    Events(events::EventsArgs),
    /// Seal the log, print the digest an auditor keeps, and verify the log against its seals.
    Audit(audit::AuditArgs),
    /// Schools and the education categories they collect for.
    School(school::SchoolArgs),
    /// Collection batches: feature codes, prices and policies.
    Batch(batch::BatchArgs),
    /// Import school rosters (graduate lists).
    Roster(roster::RosterArgs),
    /// Issue collection codes as QR pictures, or check one.
    Codes(codes::CodesArgs),
    /// Prove eligibility as a student would and print the capture.
    Verify(verify::VerifyArgs),
    /// Make a 学信网 delivery package and write its ZIP; write one again; mark one completed.
    Deliver(deliver::DeliverArgs),
    /// Refund a payment by hand, with a reason.
    Refund(refund::RefundArgs),
    /// Erase a student's personal information; set and run the retention policy; rewrap keys.
    Erase(erase::EraseArgs),
    /// The failed-verification log, newest first.
    Attempts(attempts::AttemptsArgs),
    /// Staff accounts: reviewers, print staff and admins.
    Staff(staff::StaffArgs),
    /// Turn a phone photo into the standard 480×640 学信网 photo, with its checks.
    Standardise(standardise::StandardiseArgs),
    /// Lay a standard photo out on a 6寸 print sheet (JPEG or PDF).
    PrintSheet(print_sheet::PrintSheetArgs),
}

impl Cli {
    /// Loads the settings the command line names and runs the subcommand with them.
    pub async fn load_and_run(self) -> anyhow::Result<()> {
        let settings = self.overrides.load()?;
        self.run(settings).await
    }

    /// Runs the subcommand with the settings it was given.
    pub async fn run(self, settings: Settings) -> anyhow::Result<()> {
        let settings = &settings;
        match self.command {
            Command::Serve(args) => serve::run(args, settings.clone()).await,
            Command::Migrate => {
                let db = crate::startup::open_store(&settings.store).await?;
                eprintln!("schema up to date ({})", db.backend_name());
                Ok(())
            }
            Command::Replay(args) => replay::run(args, settings).await,
            Command::Events(args) => events::run(args, settings).await,
            Command::Audit(args) => audit::run(args, settings).await,
            Command::School(args) => school::run(args, settings).await,
            Command::Batch(args) => batch::run(args, settings).await,
            Command::Roster(args) => roster::run(args, settings).await,
            Command::Codes(args) => codes::run(args, settings).await,
            Command::Verify(args) => verify::run(args, settings).await,
            Command::Deliver(args) => deliver::run(args, settings).await,
            Command::Refund(args) => refund::run(args, settings).await,
            Command::Erase(args) => erase::run(args, settings).await,
            Command::Attempts(args) => attempts::run(args, settings).await,
            Command::Staff(args) => staff::run(args, settings).await,
            Command::Standardise(args) => standardise::run(args, settings).await,
            Command::PrintSheet(args) => print_sheet::run(args),
        }
    }
}

/// An eligibility refusal as a command-line error: its message and its stable code.
fn refusal(e: crate::eligibility::EligibilityError) -> anyhow::Error {
    anyhow::anyhow!("{e} [{}]", e.code())
}
