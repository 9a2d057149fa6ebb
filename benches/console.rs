//! The reviewers' console in headless Chromium against a queue of `--captures` captures, on
//! PostgreSQL with the release `serve --dev`. Results go to BENCHMARKS.md.
//!
//!     cargo bench --bench console -- [--captures 500] [--students 16] [--reject-every 10] [--reloads 50]
//!
//! Setup: a deployment of its own (`support::service`), an admin and a reviewer, and
//! `--captures` roster students taken through their whole flow to review over the API, by
//! `--students` at a time (`support::students`; every photo is the astronaut, so each screen
//! also shows up to ten same-photo warnings with their thumbnails).
//!
//! Then a scripted reviewer in Chromium (Debian's, under chromedriver) signs in, opens the first
//! capture and decides every one by keyboard as soon as its photo is on screen: `A` (approve),
//! and every `--reject-every`th `5` then `R` (reject with the fifth reason). Measured, in the
//! browser's own clock: from the decision key going down to the next capture's standard photo
//! painted (Element Timing on the screen's `elementtiming="standard-photo"`), which takes the
//! decision's POST (the decision and the next capture's claim), the redirect to the next screen,
//! its GET and showing it in place of the last; and the decisions per minute the scripted
//! reviewer sustains. Next to them, in the same run: the service's own time for a decision and
//! for a screen (from its request log), the floor a browser cannot go under, and the same screen
//! reloaded as a whole page (`location.reload()`, no decision), `--reloads` times.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::{Client, Locator};
use serde_json::Value;
use support::service::Deployment;
use support::students::{seed, student_flows, Photo, ADMIN, ADMIN_PASSWORD};
use support::{arg, load_average, percentile};

mod support;

#[path = "../tests/api_support/chromium.rs"]
mod chromium;

const REVIEWER: &str = "bench-reviewer";
const REVIEWER_PASSWORD: &str = "a benchmark reviewer password";

/// Notes in the page when the next key goes down (the epoch in ms, sub-millisecond), and watches
/// for the next standard photo painted after it. (The page's buffer of Element Timing entries
/// holds 150, fewer than the screens one page shows in a run, so the watch starts beforehand.)
const MARK_KEYDOWN: &str = r#"
window.paintedAfterMark = null;
document.addEventListener('keydown', () =>
  sessionStorage.setItem('pressed', String(performance.timeOrigin + performance.now())),
  {capture: true, once: true});
new PerformanceObserver((list, observer) => {
  const pressed = Number(sessionStorage.getItem('pressed'));
  for (const entry of list.getEntries()) {
    const painted = performance.timeOrigin + (entry.renderTime || entry.loadTime);
    if (entry.identifier !== 'standard-photo' || !pressed || painted < pressed) continue;
    observer.disconnect();
    window.paintedAfterMark = painted;
  }
}).observe({type: 'element'});
"#;

/// Notes the time in the page, then reloads it.
const MARK_AND_RELOAD: &str = "sessionStorage.setItem('pressed', \
    String(performance.timeOrigin + performance.now())); setTimeout(() => location.reload(), 0);";

/// Waits for a standard photo painted after the noted time (on a screen shown in place of the
/// last, as watched for since the mark; or on a page loaded since) and answers how many ms after
/// the noted time that was (null when nothing was noted).
const PAINTED_SINCE_MARK: &str = r#"
const done = arguments[arguments.length - 1];
const noted = sessionStorage.getItem('pressed');
const pressed = noted === null ? null : Number(noted);
const observer = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const painted = performance.timeOrigin + (entry.renderTime || entry.loadTime);
    if (entry.identifier !== 'standard-photo' || (pressed !== null && painted < pressed)) continue;
    answer(painted);
    return;
  }
});
const answer = (painted) => {
  observer.disconnect();
  clearInterval(watch);
  sessionStorage.removeItem('pressed');
  done(pressed === null ? null : painted - pressed);
};
const watch = setInterval(() => { if (window.paintedAfterMark) answer(window.paintedAfterMark); }, 2);
observer.observe({type: 'element', buffered: true});
"#;

async fn press(browser: &Client, key: char) {
    let keys = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: key })
        .then(KeyAction::Up { value: key });
    browser.perform_actions(keys).await.unwrap();
}

/// The current document's time origin; `None` while a navigation is between documents.
async fn time_origin(browser: &Client) -> Option<f64> {
    browser
        .execute("return performance.timeOrigin", vec![])
        .await
        .ok()
        .and_then(|v| v.as_f64())
}

/// Waits until the browser shows a document other than the one that began at `origin`.
async fn until_new_document(browser: &Client, origin: f64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if time_origin(browser).await.is_some_and(|now| now != origin) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!(
        "no new page within 30 s: at {:?}",
        browser.current_url().await
    );
}

/// Waits until the browser is at an address other than `url` (the next screen shown in place of
/// the last, or loaded).
async fn until_moved_from(browser: &Client, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if browser
            .current_url()
            .await
            .is_ok_and(|now| now.as_str() != url)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("still at {url} after 30 s");
}

/// Whether the browser shows a review screen (not the "nothing left" page).
async fn on_review_screen(browser: &Client) -> bool {
    let url = browser.current_url().await.unwrap();
    url.path().starts_with("/console/review/")
}

/// The ms from the noted time to the standard photo painted on the current page.
async fn painted_since_mark(browser: &Client) -> Option<f64> {
    let answer: Value = browser
        .execute_async(PAINTED_SINCE_MARK, vec![])
        .await
        .expect("the standard photo is painted");
    answer.as_f64()
}

/// The service's own latency of every `method` request to `route`, from its request log
/// (`request served route=… latency_ms=…`).
fn served(log: &str, method: &str, route: &str) -> Vec<Duration> {
    let value = |line: &str, name: &str| -> Option<String> {
        let start = line.find(&format!(" {name}="))? + name.len() + 2;
        line[start..].split_whitespace().next().map(str::to_string)
    };
    log.lines()
        .map(strip_colours)
        .filter(|line| line.contains(&format!(" method={method}}}: ")))
        .filter(|line| line.contains("request served"))
        .filter(|line| value(line, "route").as_deref() == Some(route))
        .filter_map(|line| value(&line, "latency_ms")?.parse::<f64>().ok())
        .map(|ms| Duration::from_secs_f64(ms / 1000.0))
        .collect()
}

/// The line without its terminal colour codes.
fn strip_colours(line: &str) -> String {
    let mut plain = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn summary(label: &str, samples: &mut [Duration]) -> String {
    samples.sort();
    format!(
        "| {label} | {} | {} | {} | {} |",
        samples.len(),
        ms(percentile(samples, 0.5)),
        ms(percentile(samples, 0.95)),
        ms(*samples.last().unwrap())
    )
}

#[tokio::main]
async fn main() {
    let captures = arg("--captures", 500) as usize;
    let students = arg("--students", 16) as usize;
    let reject_every = arg("--reject-every", 10).max(1) as usize;
    let reloads = arg("--reloads", 50) as usize;
    let load_before = load_average();

    let deployment = Deployment::start(
        "photo_ledger_bench_console",
        None,
        &[
            (ADMIN, "admin", ADMIN_PASSWORD),
            (REVIEWER, "reviewer", REVIEWER_PASSWORD),
        ],
    )
    .await;
    let (service, api) = (&deployment.service, &deployment.api);
    let numbers = seed(api, captures).await;
    let (in_review, seeded_in, _) =
        student_flows(api, numbers.into(), students, 3600, Photo::astronaut()).await;
    assert_eq!(
        in_review.len(),
        captures,
        "every student's capture in review"
    );
    eprintln!(
        "{captures} captures in review after {:.1} s",
        seeded_in.as_secs_f64()
    );

    let chromedriver = std::env::var_os("CHROMEDRIVER")
        .map_or_else(|| PathBuf::from("chromedriver"), PathBuf::from);
    let (_driver, browser) = chromium::start(&chromedriver)
        .await
        .expect("chromedriver and Chromium (apt-get install chromium chromium-driver)");
    browser
        .goto(&format!("{}/console/sign-in", service.base))
        .await
        .unwrap();
    let form = browser.form(Locator::Css("form")).await.unwrap();
    form.set_by_name("username", REVIEWER).await.unwrap();
    form.set_by_name("password", REVIEWER_PASSWORD)
        .await
        .unwrap();
    form.submit().await.unwrap();
    let review_next = browser
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("form[action='/console/review/next'] button"))
        .await
        .expect("signed in");
    let origin = time_origin(&browser).await.unwrap_or_default();
    review_next.click().await.unwrap();
    until_new_document(&browser, origin).await;
    assert!(on_review_screen(&browser).await, "the first capture opens");
    painted_since_mark(&browser).await;

    // The same screen again as a whole page, without a decision.
    let mut reloaded = Vec::with_capacity(reloads);
    for _ in 0..reloads {
        let origin = time_origin(&browser).await.unwrap();
        browser.execute(MARK_AND_RELOAD, vec![]).await.unwrap();
        until_new_document(&browser, origin).await;
        let shown = painted_since_mark(&browser).await.expect("noted");
        reloaded.push(Duration::from_secs_f64(shown / 1000.0));
    }

    // The same screen's GET alone, over plain HTTP.
    let cookie = browser
        .get_named_cookie("photo_ledger_console")
        .await
        .expect("signed in");
    let screen = browser.current_url().await.unwrap();
    let mut server_get = Vec::with_capacity(reloads);
    for _ in 0..reloads {
        let started = Instant::now();
        let page = api
            .http
            .get(screen.as_str())
            .header("cookie", format!("{}={}", cookie.name(), cookie.value()))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        page.bytes().await.unwrap();
        server_get.push(started.elapsed());
    }

    // Every capture decided by keyboard, the next as soon as the photo is on screen.
    let mut after_decision = Vec::with_capacity(captures);
    let (mut approved, mut rejected) = (0, 0);
    let started = Instant::now();
    for n in 0..captures {
        assert!(on_review_screen(&browser).await, "capture {n} on screen");
        let here = browser.current_url().await.unwrap().to_string();
        if n % reject_every == reject_every - 1 {
            press(&browser, '5').await;
            browser.execute(MARK_KEYDOWN, vec![]).await.unwrap();
            press(&browser, 'r').await;
            rejected += 1;
        } else {
            browser.execute(MARK_KEYDOWN, vec![]).await.unwrap();
            press(&browser, 'a').await;
            approved += 1;
        }
        until_moved_from(&browser, &here).await;
        if n + 1 < captures {
            let shown = painted_since_mark(&browser).await.expect("noted");
            after_decision.push(Duration::from_secs_f64(shown / 1000.0));
        }
    }
    let elapsed = started.elapsed();
    let url = browser.current_url().await.unwrap();
    assert_eq!(
        url.query(),
        Some("empty=1&school=&batch=&education_type="),
        "the queue is empty after the last decision: {url}"
    );
    let _ = browser.close().await;
    let log = std::fs::read_to_string(&service.log).unwrap_or_default();
    let mut decided_server = served(&log, "POST", "/console/review/{capture_id}/approve");
    decided_server.extend(served(&log, "POST", "/console/review/{capture_id}/reject"));
    let mut screen_server = served(&log, "GET", "/console/review/{capture_id}");

    println!("## Console review (Chromium headless, PostgreSQL, release `serve --dev`)\n");
    println!("Load average before: {load_before}.\n");
    println!(
        "{captures} captures in review ({approved} approved, {rejected} rejected with a reason by \
         number). Time from the decision key to the next capture's standard photo painted; the \
         same screen reloaded as a whole page; the service's own time.\n"
    );
    println!("| measured | n | p50 | p95 | max |\n|---|---|---|---|---|");
    println!(
        "{}",
        summary("decision key → next photo painted", &mut after_decision)
    );
    println!(
        "{}",
        summary(
            "the same screen reloaded as a whole page → photo painted",
            &mut reloaded
        )
    );
    println!(
        "{}",
        summary("the screen's GET alone (no browser)", &mut server_get)
    );
    println!(
        "{}",
        summary(
            "the service's own time: a decision (its command and the next capture's claim)",
            &mut decided_server
        )
    );
    println!(
        "{}",
        summary(
            "the service's own time: a review screen",
            &mut screen_server
        )
    );
    println!(
        "\n{captures} decisions in {:.1} s: **{:.0} decisions/min** sustained by the scripted reviewer.",
        elapsed.as_secs_f64(),
        captures as f64 / elapsed.as_secs_f64() * 60.0
    );
}
