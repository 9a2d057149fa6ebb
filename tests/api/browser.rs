//! The reviewers' console in a real browser: Debian's Chromium, headless, driven over WebDriver
//! by `chromedriver` (both installed by `.ci/run`). A reviewer signs in, reviews ten captures by
//! keyboard alone (approvals, rejections with two reasons picked by number; each next screen
//! shown in place, without loading a page), sees the same-photo
//! warning, is refused the admin page, and signs out; a form posted without the session's token
//! is refused; a student's token opens nothing. On failure the page is saved as a screenshot in
//! `target/browser-failures/`.

use std::time::Duration;

use anyhow::{ensure, Context};
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::{Client, Locator};
use serde_json::json;

use crate::api_support::in_chromium::{chromium, close, until_at};
use crate::api_support::*;
use crate::support::Backend;

const SCHOOL_NAME: &str = "键盘审核学院";
const CATEGORY: &str = "自学考试";
const STUDENTS: usize = 10;

/// Presses one key, as a person would.
async fn press(browser: &Client, key: char) -> anyhow::Result<()> {
    let keys = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: key })
        .then(KeyAction::Up { value: key });
    browser.perform_actions(keys).await?;
    Ok(())
}

/// A school with a free batch and a roster of ten (passports), each student's capture in review
/// with the astronaut.
async fn ten_captures_in_review(app: &TestApp) -> Vec<String> {
    let roster: String = (0..STUDENTS)
        .map(|n| format!("20269000{n:02},考生{n},护照,E7000{n:04},{CATEGORY}\n"))
        .collect();
    app.free_school(SCHOOL_NAME, CATEGORY, &["blue"], &roster)
        .await;
    let mut captures = Vec::new();
    for n in 0..STUDENTS {
        let (_, capture) = app
            .submitted_by_student_number(
                &format!("openid-keyboard-{n}"),
                SCHOOL_NAME,
                &format!("20269000{n:02}"),
            )
            .await;
        captures.push(capture);
    }
    captures
}

#[tokio::test]
async fn a_reviewer_reviews_ten_captures_by_keyboard_in_chromium() {
    let app = TestApp::spawn_with(Backend::Sqlite, with_photos).await;
    let Some((_driver, browser)) = chromium().await else {
        return;
    };
    let captures = ten_captures_in_review(&app).await;
    let outcome = review_by_keyboard(&app, &browser, &captures).await;
    close(browser, outcome, "review-by-keyboard").await;

    let mut approved = 0;
    let mut rejected = Vec::new();
    for capture in &captures {
        let trail = app.events_of(capture).await;
        let last = trail["events"].as_array().unwrap().last().unwrap().clone();
        match last["event_type"].as_str() {
            Some("Approved") => approved += 1,
            Some("Rejected") => rejected.push(last),
            _ => panic!("{capture} was not decided: {trail}"),
        }
    }
    assert_eq!(approved, 7);
    assert_eq!(rejected.len(), 3);
    for e in &rejected {
        assert_eq!(e["event_type"], "Rejected");
        assert_eq!(
            e["payload"]["Rejected"]["reasons"],
            reasons_one_and_three(&app).await,
            "reasons 1 and 3 picked by number: {e}"
        );
    }
}

/// The codes of the first and third reasons of the catalogue, as the screen numbers them.
async fn reasons_one_and_three(app: &TestApp) -> serde_json::Value {
    let (_, catalogue) = app
        .get("/api/v1/review/reasons", &app.staff("reviewer").await)
        .await;
    json!([
        catalogue["reasons"][0]["code"],
        catalogue["reasons"][2]["code"]
    ])
}

async fn review_by_keyboard(
    app: &TestApp,
    browser: &Client,
    captures: &[String],
) -> anyhow::Result<()> {
    let first_and_third = reasons_one_and_three(app).await;
    browser.goto(&app.url("/console/")).await?;
    until_at(browser, "/console/sign-in").await?;
    browser
        .find(Locator::Css("input[name=username]"))
        .await?
        .send_keys("reviewer")
        .await?;
    let password = browser.find(Locator::Css("input[name=password]")).await?;
    password.send_keys(STAFF_PASSWORD).await?;
    password.send_keys("\u{E007}").await?; // Enter
    until_at(browser, "/console/review").await?;

    // A form without the session's token is refused, and does nothing.
    let status = browser
        .execute(
            "return fetch('/console/review/next', {method: 'POST', body: new URLSearchParams({})}).then(r => r.status)",
            vec![],
        )
        .await?;
    ensure!(
        status == json!(403),
        "a form without its token answered {status}"
    );

    browser
        .find(Locator::Css("form[action='/console/review/next'] button"))
        .await?
        .click()
        .await?;
    let mut warned = 0;
    for (n, capture) in captures.iter().enumerate() {
        until_at(browser, &format!("/console/review/{capture}")).await?;
        if n == 0 {
            // Lost if a decision loaded a page instead of showing the next screen in place.
            browser
                .execute("window.reviewedInPlace = true", vec![])
                .await?;
        }
        browser
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Css("[data-review] img[alt='标准照']"))
            .await
            .context("the review screen")?;
        let page = browser.source().await?;
        if page.contains("同版照片警告") {
            warned += 1;
        }
        if n % 3 == 2 {
            // Reasons 1 and 3 of the catalogue, by number; "1" waits for a second digit.
            press(browser, '1').await?;
            tokio::time::sleep(Duration::from_millis(700)).await;
            press(browser, '3').await?;
            let ticked = browser
                .execute(
                    "return Array.from(document.querySelectorAll('input[name=reason]:checked')).map(b => b.value)",
                    vec![],
                )
                .await?;
            ensure!(ticked == first_and_third, "ticked {ticked}");
            press(browser, 'r').await?;
        } else {
            press(browser, 'a').await?;
        }
    }
    until_at(browser, "/console/review?empty=1").await?;
    let in_place = browser
        .execute("return window.reviewedInPlace === true", vec![])
        .await?;
    ensure!(
        in_place == json!(true),
        "each decision showed the next screen in place, without loading a page"
    );
    ensure!(
        warned == STUDENTS - 1,
        "every capture after the first holds the same photo: warned on {warned}"
    );

    // Admin pages are not a reviewer's.
    browser.goto(&app.url("/console/admin")).await?;
    let page = browser.source().await?;
    ensure!(
        page.contains("auth.forbidden"),
        "a reviewer opened the admin page"
    );
    browser.goto(&app.url("/console/review")).await?;

    browser
        .find(Locator::Css("header form button"))
        .await?
        .click()
        .await?;
    until_at(browser, "/console/sign-in").await?;
    browser.goto(&app.url("/console/review")).await?;
    until_at(browser, "/console/sign-in").await?;

    // A student's token, put in the console's cookie by hand, opens nothing.
    let student = app.student("openid-keyboard-0").await;
    browser.goto(&app.url("/console/sign-in")).await?;
    browser
        .execute(
            "document.cookie = 'photo_ledger_console=' + arguments[0] + '; path=/console'",
            vec![json!(student)],
        )
        .await?;
    browser.goto(&app.url("/console/review")).await?;
    let page = browser.source().await?;
    ensure!(
        page.contains("auth.forbidden"),
        "a student opened the console"
    );
    Ok(())
}
