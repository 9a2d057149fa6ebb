use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // With the `failpoints` feature, `FAILPOINTS=name=action` arms the crash tests' failpoints.
    #[cfg(feature = "failpoints")]
    let _failpoints = fail::FailScenario::setup();
    let cli = photo_ledger::cli::Cli::parse();
    let settings = cli.overrides.load()?;
    photo_ledger::telemetry::init(&settings.log)?;
    cli.run(settings).await
}
