use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::configuration::Settings;
use crate::eligibility::code_sheets;
use crate::eligibility::codes::CodeSigner;
use crate::eligibility::roster::{self, RosterStudent};
use crate::eligibility::{qr, schools};
use crate::startup::open_store;

#[derive(Args, Debug)]
pub struct CodesArgs {
    #[command(subcommand)]
    pub command: CodesCommand,
}

#[derive(Subcommand, Debug)]
pub enum CodesCommand {
    /// Write one collection-code QR PNG per roster student, and codes.csv listing them.
    Issue(IssueArgs),
    /// Check a collection code, typed or as a picture, and print what it says.
    Verify(VerifyArgs),
}

#[derive(Args, Debug)]
pub struct IssueArgs {
    /// The school, by name.
    #[arg(long)]
    pub school: String,
    /// Only this education type (学历类别); `--category` is the earlier spelling.
    #[arg(long, alias = "category")]
    pub education_type: Option<String>,
    /// Where to write the PNGs (created if missing).
    pub outdir: PathBuf,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The code as typed.
    #[arg(required_unless_present = "image", conflicts_with = "image")]
    pub token: Option<String>,
    /// A photo or screenshot (PNG) of the QR code.
    #[arg(long)]
    pub image: Option<PathBuf>,
}

pub async fn run(args: CodesArgs, settings: &Settings) -> anyhow::Result<()> {
    match args.command {
        CodesCommand::Issue(args) => issue(args, settings).await,
        CodesCommand::Verify(args) => verify(args, settings).await,
    }
}

async fn issue(args: IssueArgs, settings: &Settings) -> anyhow::Result<()> {
    let signer = settings.codes.signer(&settings.store.data_dir)?;
    let db = open_store(&settings.store).await?;
    let school = schools::by_name(&db, &args.school)
        .await
        .map_err(super::refusal)?;
    if let Some(education_type) = &args.education_type {
        school
            .require_category(education_type)
            .map_err(super::refusal)?;
    }
    let students = roster::students_of(&db, &school.school_id, args.education_type.as_deref())
        .await
        .map_err(super::refusal)?;
    let school_id = school
        .school_id
        .parse()
        .context("school id is not a UUID")?;
    let outdir = args.outdir.clone();
    let public_key = signer.public_key_hex();
    // Drawing and compressing hundreds of PNGs is CPU work: keep it off the async runtime.
    let written =
        tokio::task::spawn_blocking(move || write_codes(&signer, school_id, &students, &outdir))
            .await??;
    eprintln!(
        "{written} codes for {} in {}; an instance that only verifies them needs the public key {} (codes.public_key) and this instance's codes.encryption_key",
        school.name,
        args.outdir.display(),
        public_key
    );
    Ok(())
}

fn write_codes(
    signer: &CodeSigner,
    school_id: uuid::Uuid,
    students: &[RosterStudent],
    outdir: &Path,
) -> anyhow::Result<usize> {
    std::fs::create_dir_all(outdir)
        .with_context(|| format!("cannot create {}", outdir.display()))?;
    let (files, index) = code_sheets::draw(signer, school_id, students)?;
    for file in &files {
        let path = outdir.join(&file.file_name);
        std::fs::write(&path, &file.png)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let index_path = outdir.join(code_sheets::INDEX_FILE);
    std::fs::write(&index_path, index)
        .with_context(|| format!("cannot write {}", index_path.display()))?;
    Ok(files.len())
}

async fn verify(args: VerifyArgs, settings: &Settings) -> anyhow::Result<()> {
    let verifier = settings.codes.verifier(&settings.store.data_dir)?;
    let text = match (&args.token, &args.image) {
        (Some(token), _) => token.clone(),
        (None, Some(path)) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            tokio::task::spawn_blocking(move || qr::read(&bytes))
                .await?
                .with_context(|| format!("no QR code found in {}", path.display()))?
        }
        (None, None) => anyhow::bail!("give the code, or --image FILE"),
    };
    let payload = verifier
        .verify(&text)
        .map_err(|e| anyhow::anyhow!("refused: {e}"))?;
    let db = open_store(&settings.store).await?;
    let school = schools::by_id(&db, &payload.school_id.to_string())
        .await
        .map(|s| s.name)
        .unwrap_or_else(|_| "(school not in this database)".into());
    println!("valid collection code");
    println!("school\t{school} ({})", payload.school_id);
    println!("education_type\t{}", payload.education_type);
    println!("student_number\t{}", payload.student_number);
    Ok(())
}
