//! `photo-ledger serve --demo` on a fresh data directory: a newcomer's one command gives a
//! service with a school, staff and a student at every status, with real standardised photos.
//! It runs with no photo settings at all, from a directory that is not the checkout, so it also
//! shows that `serve` finds the ONNX Runtime its build fetched and the checkout's models.

use std::time::{Duration, Instant};

use crate::api_support::*;
use serde_json::{json, Value};

#[tokio::test]
async fn the_demo_fills_a_fresh_store_with_every_status() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_photo-ledger"));
    command
        .current_dir(data.path())
        .arg("--data-dir")
        .arg(data.path().join("data"))
        .args(["serve", "--demo", "--bind", &format!("127.0.0.1:{port}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let service = ServiceProcess::start(command, port).await;
    let call = |path: &str, token: Option<&str>, body: Option<Value>| {
        let request = match body {
            Some(body) => service.client.post(service.url(path)).json(&body),
            None => service.client.get(service.url(path)),
        };
        let request = match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        async move { read(request.send().await.unwrap()).await }
    };
    let student = |n: usize| {
        let call = &call;
        async move {
            let (_, signed_in) = call(
                "/api/v1/auth/dev",
                None,
                Some(json!({"openid": format!("demo-student-{n}")})),
            )
            .await;
            let token = signed_in["token"].as_str().unwrap().to_string();
            let (_, captures) = call("/api/v1/captures", Some(&token), None).await;
            captures["captures"][0]["status"].clone()
        }
    };
    // The last student is delivered when the demo is done.
    let deadline = Instant::now() + Duration::from_secs(180);
    while student(8).await != "delivered" {
        assert!(Instant::now() < deadline, "the demo did not finish");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mut statuses = Vec::new();
    for n in 1..=8 {
        statuses.push(student(n).await);
    }
    assert_eq!(
        statuses,
        [
            "awaiting_payment",
            "awaiting_photo",
            "awaiting_submission",
            "in_review",
            "rejected",
            "in_review",
            "approved",
            "delivered"
        ]
    );
    let (status, signed_in) = call(
        "/api/v1/auth/staff",
        None,
        Some(json!({"username": "demo-reviewer", "password": "photo-ledger-demo"})),
    )
    .await;
    assert_eq!(status, 200, "{signed_in}");
    let reviewer = signed_in["token"].as_str().unwrap();
    let (_, queue) = call("/api/v1/review/queue", Some(reviewer), None).await;
    assert_eq!(queue["items"].as_array().unwrap().len(), 2, "{queue}");
    // Every demo student hands in the same photo: the reviewer is warned of the one the student
    // awaiting submission standardised first, another person's.
    let same = &queue["items"][0]["same_photos"];
    assert_eq!(same.as_array().map(Vec::len), Some(1), "{queue}");
    assert_eq!(same[0]["same_person"], false, "{queue}");

    // The console's pages render for the demo's reviewer (whose token is what its cookie holds).
    let sign_in = service
        .client
        .get(service.url("/console/sign-in"))
        .send()
        .await
        .unwrap();
    assert_eq!(sign_in.status(), 200);
    let console_page = |path: String| {
        let request = service
            .client
            .get(service.url(&path))
            .header("cookie", format!("photo_ledger_console={reviewer}"));
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.text().await.unwrap())
        }
    };
    let (status, page) = console_page("/console/review".into()).await;
    assert_eq!(status, 200);
    assert!(page.contains("待审核：<strong>2</strong>"), "{page}");
    // The student rejected and back with a new photo: the screen shows what they were told.
    let resubmitted = queue["items"][1]["capture_id"].as_str().unwrap();
    let (status, screen) = console_page(format!("/console/review/{resubmitted}")).await;
    assert_eq!(status, 200);
    assert!(screen.contains("此前的提交（1）"), "{screen}");
    assert!(screen.contains("演示：请在光线充足处重拍"), "{screen}");
}
