//! The `photo-ledger` command line.

mod attempts;
mod batch;
mod codes;
mod events;
mod photo_runtime;
mod print_sheet;
mod replay;
mod roster;
mod school;
mod serve;
mod staff;
mod standardise;
mod verify;

use clap::{Parser, Subcommand};

use crate::configuration::StoreSettings;

#[derive(Parser, Debug)]
#[command(
    name = "photo-ledger",
    version,
    about = "The ledger behind the graduation and exam photo mini-programs"
)]
pub struct Cli {
    /// Log as JSON lines (for production log collectors).
    #[arg(long, global = true, env = "PHOTO_LEDGER_LOG_JSON")]
    pub log_json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the HTTP service and the projector.
    Serve(serve::ServeArgs),
    /// Create or update the database schema.
    Migrate {
        #[command(flatten)]
        store: StoreSettings,
    },
    /// Drop and rebuild projections from the event log.
    Replay(replay::ReplayArgs),
    /// Print one capture's history as JSON lines, for auditors.
    Events(events::EventsArgs),
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
    pub async fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Migrate { store } => {
                let db = crate::startup::open_store(&store).await?;
                eprintln!("schema up to date ({})", db.backend_name());
                Ok(())
            }
            Command::Replay(args) => replay::run(args).await,
            Command::Events(args) => events::run(args).await,
            Command::School(args) => school::run(args).await,
            Command::Batch(args) => batch::run(args).await,
            Command::Roster(args) => roster::run(args).await,
            Command::Codes(args) => codes::run(args).await,
            Command::Verify(args) => verify::run(args).await,
            Command::Attempts(args) => attempts::run(args).await,
            Command::Staff(args) => staff::run(args).await,
            Command::Standardise(args) => standardise::run(args).await,
            Command::PrintSheet(args) => print_sheet::run(args),
        }
    }
}

/// An eligibility refusal as a command-line error: its message and its stable code.
fn refusal(e: crate::eligibility::EligibilityError) -> anyhow::Error {
    anyhow::anyhow!("{e} [{}]", e.code())
}
