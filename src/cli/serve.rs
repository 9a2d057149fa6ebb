use std::net::TcpListener;

use anyhow::Context;
use clap::Args;

use super::{demo, photo_runtime};
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
    /// Fill a new store with a demo school, staff and students at every status, and print how
    /// to sign in; implies `--dev` (never in production).
    #[arg(long)]
    pub demo: bool,
}

pub async fn run(args: ServeArgs, mut settings: Settings) -> anyhow::Result<()> {
    settings.dev = args.dev || args.demo;
    settings.api.photos = photo_runtime::with_defaults(settings.api.photos);
    let bind = args.bind.unwrap_or_else(|| settings.api.http.bind.clone());
    let listener = TcpListener::bind(&bind).with_context(|| format!("cannot listen on {bind}"))?;
    let app = Application::build(&settings, listener).await?;
    tracing::info!(bind = %bind, dev = settings.dev, "photo-ledger serving");
    if args.demo {
        let (db, base) = (
            app.ledger().db().clone(),
            format!("http://127.0.0.1:{}", app.port()),
        );
        let photos = settings.api.photos.onnxruntime.is_some();
        // Seeded over HTTP once the server below answers.
        tokio::spawn(async move {
            match demo::seed(&db, &base, photos).await {
                Ok(()) => println!("{}", demo::sign_ins(&base)),
                Err(e) => tracing::error!(error = format!("{e:#}"), "the demo could not be set up"),
            }
        });
    }
    app.run_until_stopped().await
}
