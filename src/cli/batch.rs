use chrono::{NaiveDate, Utc};
use clap::{Args, Subcommand};
use photo_ledger_domain::policy::{BatchPolicy, PaperPrintsOffer};
use photo_ledger_domain::values::{Background, Fen};

use crate::configuration::StoreSettings;
use crate::eligibility::batches::{self, NewBatch};
use crate::startup::open_store;

#[derive(Args, Debug)]
pub struct BatchArgs {
    #[command(subcommand)]
    pub command: BatchCommand,
}

#[derive(Subcommand, Debug)]
pub enum BatchCommand {
    /// Open a collection batch; prints its feature code.
    Add(AddBatch),
    /// List the batches, newest first.
    List {
        #[command(flatten)]
        store: StoreSettings,
    },
}

#[derive(Args, Debug)]
pub struct AddBatch {
    /// The school, by name.
    #[arg(long)]
    pub school: String,
    /// The education category collected.
    #[arg(long)]
    pub category: String,
    /// The collection fee in fen (0: free, as for exam photos).
    #[arg(long)]
    pub price_fen: u64,
    /// Students pay before uploading.
    #[arg(long)]
    pub pay_first: bool,
    /// Live camera only: no photos from the album.
    #[arg(long)]
    pub camera_only: bool,
    /// Offer mailed paper prints at this price per sheet, in fen.
    #[arg(long)]
    pub paper_prints_fen: Option<u64>,
    /// Last day of the collection (YYYY-MM-DD, China time); none: open until further notice.
    #[arg(long)]
    pub deadline: Option<NaiveDate>,
    /// Backgrounds offered: blue, white, grey or #RRGGBB, comma-separated.
    #[arg(long, value_delimiter = ',', default_values = ["blue", "white", "grey"])]
    pub backgrounds: Vec<Background>,
    #[command(flatten)]
    pub store: StoreSettings,
}

pub async fn run(args: BatchArgs) -> anyhow::Result<()> {
    match args.command {
        BatchCommand::Add(add) => {
            let db = open_store(&add.store).await?;
            let new = NewBatch {
                school: add.school,
                education_type: add.category,
                policy: BatchPolicy {
                    price_fen: Fen::new(add.price_fen),
                    pay_before_upload: add.pay_first,
                    album_allowed: !add.camera_only,
                    backgrounds: add.backgrounds,
                    paper_prints: add.paper_prints_fen.map(|fen| PaperPrintsOffer {
                        price_per_sheet_fen: Fen::new(fen),
                    }),
                },
                closes_at: add.deadline.map(batches::closes_after),
            };
            let batch = batches::add(&db, new, Utc::now())
                .await
                .map_err(super::refusal)?;
            println!("{}", batch.feature_code);
        }
        BatchCommand::List { store } => {
            let db = open_store(&store).await?;
            for batch in batches::list(&db).await.map_err(super::refusal)? {
                let policy = &batch.policy;
                let prints = policy
                    .paper_prints
                    .map(|p| format!("prints {}/sheet", p.price_per_sheet_fen))
                    .unwrap_or_else(|| "no prints".into());
                let closes = batch
                    .closes_at
                    .map(|c| format!("closes {}", c.to_rfc3339()))
                    .unwrap_or_else(|| "open".into());
                let backgrounds: Vec<String> =
                    policy.backgrounds.iter().map(|b| b.to_string()).collect();
                println!(
                    "{}\t{}\t{}\t{}{}\t{}\t{}\t{}\t{}",
                    batch.feature_code,
                    batch.school_name,
                    batch.education_type,
                    policy.price_fen,
                    if policy.pay_before_upload {
                        " pay first"
                    } else {
                        ""
                    },
                    if policy.album_allowed {
                        "album ok"
                    } else {
                        "camera only"
                    },
                    backgrounds.join(","),
                    prints,
                    closes
                );
            }
        }
    }
    Ok(())
}
