use chrono::{Duration, Utc};
use clap::Args;

use crate::configuration::Settings;
use crate::eligibility::attempts;
use crate::startup::open_store;

#[derive(Args, Debug)]
pub struct AttemptsArgs {
    /// How far back to look, in hours.
    #[arg(long, default_value_t = 24)]
    pub hours: u32,
    /// At most this many, newest first.
    #[arg(long, default_value_t = 200)]
    pub limit: u32,
}

pub async fn run(args: AttemptsArgs, settings: &Settings) -> anyhow::Result<()> {
    let db = open_store(&settings.store).await?;
    let since = Utc::now() - Duration::hours(i64::from(args.hours));
    for a in attempts::list(&db, since, args.limit)
        .await
        .map_err(super::refusal)?
    {
        println!(
            "{}\t{}\t{:?}\t{}\t{}{}",
            a.at.to_rfc3339(),
            a.caller,
            a.method,
            a.subject.as_deref().unwrap_or("-"),
            a.code,
            if a.counted { "\t(counted)" } else { "" }
        );
    }
    Ok(())
}
