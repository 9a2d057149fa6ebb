use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use photo_ledger_domain::values::Background;

use super::photo_runtime::PhotoRuntimeArgs;
use crate::configuration::Settings;
use photo_ledger_photo::report::Verdict;
use photo_ledger_photo::spec::InputLimits;
use photo_ledger_photo::Standardiser;

#[derive(Args, Debug)]
pub struct StandardiseArgs {
    /// The phone photo (JPEG, PNG or WebP, whatever its name says).
    pub input: PathBuf,
    /// Where to write the standard 480×640 JPEG.
    pub output: PathBuf,
    /// blue (RGB 100,197,255), white, grey (RGB 240,240,240) or #RRGGBB.
    #[arg(long, default_value = "blue")]
    pub background: Background,
    /// Also write the report (positions, checks, models, timings) as JSON here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    #[command(flatten)]
    pub runtime: PhotoRuntimeArgs,
}

pub async fn run(args: StandardiseArgs, settings: &Settings) -> anyhow::Result<()> {
    let bytes = read_bounded(&args.input, InputLimits::default().max_bytes)?;
    let photos = &settings.api.photos;
    let config = photos.standardiser(args.runtime.config(photos));
    let background = args.background;
    // Decoding and inference are CPU work: keep them off the async executor.
    let outcome = tokio::task::spawn_blocking(move || {
        let standardiser = Standardiser::new(config)?;
        standardiser.standardise(&bytes, background)
    })
    .await?
    .map_err(|e| anyhow::anyhow!("{} ({}): {e}", e.message(), e.code()))?;

    let report = &outcome.report;
    if let Some(path) = &args.report {
        let json = serde_json::to_vec_pretty(report)?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(jpeg) = &outcome.jpeg {
        std::fs::write(&args.output, jpeg)
            .with_context(|| format!("writing {}", args.output.display()))?;
    }
    for check in report.failed() {
        let kind = if check.result.blocking {
            "必须修改"
        } else {
            "建议"
        };
        eprintln!(
            "{kind} {} (value {}, limit {}): {}",
            check.code(),
            check.result.value,
            check.result.limit,
            check.message
        );
    }
    match report.verdict {
        Verdict::Accepted => {
            eprintln!("accepted: {}", args.output.display());
            Ok(())
        }
        Verdict::Retake => anyhow::bail!(
            "written to {}, but a blocking check failed: the photo should be retaken",
            args.output.display()
        ),
        Verdict::Refused => {
            anyhow::bail!("refused: no standard photo can be made from this picture")
        }
    }
}

/// Reads at most `limit + 1` bytes, so an oversized upload is refused without reading it all.
pub fn read_bounded(path: &PathBuf, limit: usize) -> anyhow::Result<Vec<u8>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(bytes)
}
