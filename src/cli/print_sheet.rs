use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use photo_ledger_domain::values::PrintLayout;

use photo_ledger_photo::{input, prints, spec::InputLimits};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LayoutArg {
    /// 版式一: 1寸 × 8 + 2寸 × 4.
    One,
    /// 版式二: 2寸 × 8.
    Two,
}

#[derive(Args, Debug)]
pub struct PrintSheetArgs {
    /// The standard 480×640 photo made by `standardise`.
    pub standard: PathBuf,
    /// The sheet to write: `.jpg`/`.jpeg` or `.pdf`.
    pub output: PathBuf,
    #[arg(long, value_enum)]
    pub layout: LayoutArg,
}

pub fn run(args: PrintSheetArgs) -> anyhow::Result<()> {
    let limits = InputLimits::default();
    let bytes = super::standardise::read_bounded(&args.standard, limits.max_bytes)?;
    let master = input::decode(&bytes, &limits)
        .map_err(|e| anyhow::anyhow!("{}: {e} ({})", args.standard.display(), e.code()))?;
    let layout = match args.layout {
        LayoutArg::One => PrintLayout::One,
        LayoutArg::Two => PrintLayout::Two,
    };
    let sheet = prints::sheet(&master, layout);
    let jpeg = prints::sheet_jpeg(&sheet)?;
    let extension = args
        .output
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let bytes = match extension.as_deref() {
        Some("jpg" | "jpeg") => jpeg,
        Some("pdf") => crate::printing::document::sheet_pdf(&jpeg),
        _ => anyhow::bail!(
            "{}: the sheet is written as .jpg or .pdf; name the file accordingly",
            args.output.display()
        ),
    };
    std::fs::write(&args.output, bytes)
        .with_context(|| format!("writing {}", args.output.display()))?;
    eprintln!("{}: {}", layout.label(), args.output.display());
    Ok(())
}
