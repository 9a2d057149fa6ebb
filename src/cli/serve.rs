use std::net::TcpListener;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::configuration::{ApiSettings, StoreSettings};
use crate::eligibility::codes::CodeKeySettings;
use crate::startup::{Application, ServeSettings};

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "PHOTO_LEDGER_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// Enable development-only routes (never in production).
    #[arg(long)]
    pub dev: bool,
    /// The API settings file (TOML); `PHOTO_LEDGER__SECTION__KEY` variables override it.
    #[arg(long, env = "PHOTO_LEDGER_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub keys: CodeKeySettings,
    #[command(flatten)]
    pub store: StoreSettings,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let api = ApiSettings::load(args.config.as_deref())?;
    let listener =
        TcpListener::bind(&args.bind).with_context(|| format!("cannot listen on {}", args.bind))?;
    let settings = ServeSettings {
        store: args.store,
        codes: args.keys,
        api,
        dev: args.dev,
    };
    let app = Application::build(&settings, listener).await?;
    tracing::info!(bind = %args.bind, dev = args.dev, "photo-ledger serving");
    app.run_until_stopped().await
}
