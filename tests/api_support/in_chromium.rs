//! What the console's browser tests share: a Chromium session (or, outside CI, none when it is
//! not installed), waiting for a page, and a screenshot when a test fails.

use std::time::Duration;

use fantoccini::Client;

use super::chromium::{self, Driver};
use super::tools::{cannot_run, program};

/// Chromium under WebDriver, or `None` (outside CI) when it is not installed.
pub async fn chromium() -> Option<(Driver, Client)> {
    // Debian's package, on the PATH (`.ci/run` installs it); `CHROMEDRIVER` names another.
    let chromedriver = program("CHROMEDRIVER", ".chromium", "chromedriver");
    match chromium::start(&chromedriver).await {
        Ok(started) => Some(started),
        Err(error) => {
            cannot_run(
                "Chromium and chromedriver",
                &chromedriver,
                &error,
                ".chromium",
            );
            None
        }
    }
}

/// Waits (up to 30 s: the whole suite runs at once on two cores) until the page's path and query
/// start with `prefix`.
pub async fn until_at(browser: &Client, prefix: &str) -> anyhow::Result<String> {
    for _ in 0..1200 {
        let url = browser.current_url().await?;
        let here = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_string(),
        };
        if here.starts_with(prefix) {
            return Ok(here);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    anyhow::bail!(
        "never reached {prefix}: at {}",
        browser.current_url().await?
    )
}

/// Closes the browser; when `outcome` is a failure, first saves the page as
/// `target/browser-failures/<name>.png` and fails the test with it.
pub async fn close(browser: Client, outcome: anyhow::Result<()>, name: &str) {
    if let Err(failure) = &outcome {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-failures");
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join(format!("{name}.png"));
        if let Ok(png) = browser.screenshot().await {
            let _ = std::fs::write(&file, png);
        }
        let _ = browser.close().await;
        panic!("{failure:#} (screenshot: {})", file.display());
    }
    browser.close().await.unwrap();
}
