use std::path::PathBuf;

use anyhow::Context;
use chrono::Utc;
use clap::Args;
use photo_ledger_projections::ProjectorConfig;

use crate::configuration::Settings;
use crate::eligibility::attempts::AttemptLimits;
use crate::eligibility::{CodeInput, Proof, Verifier, VerifyRequest};
use crate::startup::open_ledger;

/// Prove eligibility as a student would, and print the capture (for trials and support).
///
/// With --student-number: school + student number. Otherwise a collection code (--code or
/// --code-image) and --last4, with either --school and --education-type or --feature-code.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The mini-program account (openid) that will own the capture.
    #[arg(long)]
    pub owner: String,
    /// The school, by name.
    #[arg(long, conflicts_with = "feature_code")]
    pub school: Option<String>,
    /// The education type (学历类别), as `POST /api/v1/captures` names it; `--category` is the
    /// earlier spelling.
    #[arg(long, alias = "category")]
    pub education_type: Option<String>,
    /// A batch's feature code, instead of school and education type.
    #[arg(long)]
    pub feature_code: Option<String>,
    /// The collection code as typed.
    #[arg(long, conflicts_with = "code_image")]
    pub code: Option<String>,
    /// A photo or screenshot (PNG) of the collection code.
    #[arg(long)]
    pub code_image: Option<PathBuf>,
    /// The last four characters of the ID number.
    #[arg(long)]
    pub last4: Option<String>,
    /// Verify by student number instead of a collection code.
    #[arg(long, conflicts_with_all = ["code", "code_image", "last4", "feature_code"])]
    pub student_number: Option<String>,
    /// The student consented to the current privacy policy, face images included, and gave
    /// that consent to you (on paper, at a desk): it is recorded as given to staff. Required.
    #[arg(long)]
    pub consent: bool,
}

pub async fn run(args: VerifyArgs, settings: &Settings) -> anyhow::Result<()> {
    if !args.consent {
        anyhow::bail!(
            "the student's consent to the privacy policy (version {}) comes first: once they have given it, pass --consent",
            crate::consent::privacy().version
        );
    }
    let proof = proof(&args)?;
    let codes = settings.codes.verifier(&settings.store.data_dir)?;
    let ledger = open_ledger(&settings.store, ProjectorConfig::default()).await?;
    let verifier = Verifier::new(ledger, codes, AttemptLimits::default());
    let verified = verifier
        .verify(VerifyRequest {
            owner: args.owner,
            request_id: uuid::Uuid::new_v4().to_string(),
            proof,
            consent: crate::consent::recorded_by_staff(Utc::now()),
            at: Utc::now(),
        })
        .await
        .map_err(super::refusal)?;
    println!("{}", serde_json::to_string_pretty(&verified)?);
    Ok(())
}

fn proof(args: &VerifyArgs) -> anyhow::Result<Proof> {
    if let Some(student_number) = &args.student_number {
        return Ok(Proof::StudentNumber {
            school: args
                .school
                .clone()
                .context("--student-number needs --school")?,
            education_type: args.education_type.clone(),
            student_number: student_number.clone(),
        });
    }
    let code = match (&args.code, &args.code_image) {
        (Some(text), _) => CodeInput::Text(text.clone()),
        (None, Some(path)) => CodeInput::Image(
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?,
        ),
        (None, None) => anyhow::bail!("give --code or --code-image, or use --student-number"),
    };
    let last4 = args
        .last4
        .clone()
        .context("a collection code needs --last4")?;
    match (&args.feature_code, &args.school) {
        (Some(feature_code), _) => Ok(Proof::FeatureCode {
            feature_code: feature_code.clone(),
            code,
            last4,
        }),
        (None, Some(school)) => Ok(Proof::CollectionCode {
            school: school.clone(),
            education_type: args
                .education_type
                .clone()
                .context("--school with a collection code needs --education-type")?,
            code,
            last4,
        }),
        (None, None) => anyhow::bail!("give --school and --education-type, or --feature-code"),
    }
}
