use chrono::{NaiveDate, Utc};
use clap::{Args, Subcommand};
use photo_ledger_domain::policy::{BatchPolicy, PaperPrintsOffer};
use photo_ledger_domain::values::{Background, Fen};

use crate::configuration::Settings;
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
    List,
}

/// The fields of `POST /api/v1/admin/batches`, under the same names (`education_type` is
/// `--education-type`); the flags of earlier versions are still read as hidden aliases.
#[derive(Args, Debug)]
pub struct AddBatch {
    /// The school, by name.
    #[arg(long)]
    pub school: String,
    /// The education category (学历类别) collected.
    #[arg(long, alias = "category")]
    pub education_type: String,
    /// The collection fee in fen (0: free, as for exam photos).
    #[arg(long)]
    pub price_fen: u64,
    /// Students pay before uploading.
    #[arg(long, alias = "pay-first")]
    pub pay_before_upload: bool,
    /// Photos from the album are accepted; `false`: live camera only.
    #[arg(long, action = clap::ArgAction::Set, default_value_t = true, value_name = "true|false")]
    pub album_allowed: bool,
    /// Earlier spelling of `--album-allowed false`.
    #[arg(long, hide = true, conflicts_with = "album_allowed")]
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
}

pub async fn run(args: BatchArgs, settings: &Settings) -> anyhow::Result<()> {
    match args.command {
        BatchCommand::Add(add) => {
            let db = open_store(&settings.store).await?;
            let new = NewBatch {
                school: add.school,
                education_type: add.education_type,
                policy: BatchPolicy {
                    price_fen: Fen::new(add.price_fen),
                    pay_before_upload: add.pay_before_upload,
                    album_allowed: add.album_allowed && !add.camera_only,
                    backgrounds: add.backgrounds,
                    paper_prints: add.paper_prints_fen.map(|fen| PaperPrintsOffer {
                        price_per_sheet_fen: Fen::new(fen),
                    }),
                },
                closes_at: add
                    .deadline
                    .map(batches::closes_after)
                    .transpose()
                    .map_err(super::refusal)?,
            };
            let batch = batches::add(&db, new, Utc::now())
                .await
                .map_err(super::refusal)?;
            println!("{}", batch.feature_code);
        }
        BatchCommand::List => {
            let db = open_store(&settings.store).await?;
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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn add(args: &[&str]) -> Result<AddBatch, clap::Error> {
        let mut all = vec!["photo-ledger", "batch", "add", "--school", "江南大学"];
        all.extend_from_slice(args);
        match Cli::try_parse_from(all)?.command {
            Command::Batch(BatchArgs {
                command: BatchCommand::Add(add),
            }) => Ok(add),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn given_the_admin_apis_field_names_when_parsed_then_the_batch_policy_follows_them() {
        let batch = add(&[
            "--education-type",
            "普通高等教育",
            "--price-fen",
            "2000",
            "--pay-before-upload",
            "--album-allowed",
            "false",
        ])
        .unwrap();
        assert_eq!(batch.education_type, "普通高等教育");
        assert!(batch.pay_before_upload);
        assert!(!batch.album_allowed);
    }

    #[test]
    fn given_no_album_flag_when_parsed_then_the_album_is_allowed_as_in_the_api() {
        let batch = add(&["--education-type", "E", "--price-fen", "0"]).unwrap();
        assert!(batch.album_allowed && !batch.camera_only && !batch.pay_before_upload);
        let batch = add(&[
            "--education-type",
            "E",
            "--price-fen",
            "0",
            "--album-allowed",
            "true",
        ]);
        assert!(batch.unwrap().album_allowed);
    }

    #[test]
    fn given_the_earlier_flags_when_parsed_then_they_still_mean_the_same() {
        let batch = add(&[
            "--category",
            "普通高等教育",
            "--price-fen",
            "0",
            "--pay-first",
            "--camera-only",
        ])
        .unwrap();
        assert_eq!(batch.education_type, "普通高等教育");
        assert!(batch.pay_before_upload);
        assert!(batch.camera_only);
    }

    #[test]
    fn given_contradicting_or_malformed_album_flags_when_parsed_then_they_are_refused() {
        let both = ["--education-type", "E", "--price-fen", "0", "--camera-only"];
        assert!(add(&[&both[..], &["--album-allowed", "true"]].concat()).is_err());
        assert!(add(&[
            "--education-type",
            "E",
            "--price-fen",
            "0",
            "--album-allowed",
            "no"
        ])
        .is_err());
        assert!(
            add(&["--price-fen", "0"]).is_err(),
            "the education type is required"
        );
    }

    #[test]
    fn given_the_help_when_shown_then_it_names_only_the_apis_words() {
        let help = add(&["--help"]).unwrap_err().to_string();
        assert!(help.contains("--education-type") && help.contains("--album-allowed"));
        assert!(help.contains("--pay-before-upload"));
        assert!(!help.contains("--category") && !help.contains("--camera-only"));
        assert!(!help.contains("--pay-first"));
    }
}
