use std::net::TcpListener;

use anyhow::Context;
use clap::Args;

use crate::settings::StoreSettings;
use crate::startup::Application;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "PHOTO_LEDGER_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// Enable development-only routes (never in production).
    #[arg(long)]
    pub dev: bool,
    #[command(flatten)]
    pub store: StoreSettings,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let listener =
        TcpListener::bind(&args.bind).with_context(|| format!("cannot listen on {}", args.bind))?;
    let app = Application::build(&args.store, listener, args.dev).await?;
    tracing::info!(bind = %args.bind, dev = args.dev, "photo-ledger serving");
    app.run_until_stopped().await
}
