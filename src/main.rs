use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = photo_ledger::cli::Cli::parse();
    photo_ledger::telemetry::init(cli.log_json);
    cli.run().await
}
