use std::net::TcpListener;

use anyhow::Context;
use clap::Args;

use super::photo_runtime;
use crate::configuration::Settings;
use crate::startup::Application;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// `http.bind`: the address to listen on.
    #[arg(long)]
    pub bind: Option<String>,
    /// Enable development-only routes (never in production).
    #[arg(long)]
    pub dev: bool,
}

pub async fn run(args: ServeArgs, mut settings: Settings) -> anyhow::Result<()> {
    settings.dev = args.dev;
    settings.api.photos = photo_runtime::with_defaults(settings.api.photos);
    let bind = args.bind.unwrap_or_else(|| settings.api.http.bind.clone());
    let listener = TcpListener::bind(&bind).with_context(|| format!("cannot listen on {bind}"))?;
    let app = Application::build(&settings, listener).await?;
    tracing::info!(bind = %bind, dev = args.dev, "photo-ledger serving");
    app.run_until_stopped().await
}
