//! Floods: no request, signed in or not, can take more than its share. Each test starts
//! `photo-ledger serve` as a process of its own, floods it, and watches its resident memory
//! through `/proc` and its `/healthz` while the flood lasts.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::api_support::*;
use crate::support::Backend;
use serde_json::json;

/// `photo-ledger serve` on a free port over the test service's store, with `env` set.
async fn service(app: &TestApp, env: &[(&str, &str)]) -> ServiceProcess {
    let port = free_port();
    app.serve_process(port, env).await
}

/// How much the service may grow under any flood.
const CEILING: u64 = 320 * 1024 * 1024;

/// What a flood did to the service: how much it grew past where it started, at its peak, and
/// the slowest `/healthz` while it lasted.
struct Flooded {
    grew: u64,
    slowest_health: Duration,
}

impl Flooded {
    /// Says what `what` did, and fails unless the service stayed under the ceiling and kept
    /// answering `/healthz` within two seconds.
    fn held(&self, what: &str) {
        eprintln!("{what} grew the service by {} MiB", self.grew >> 20);
        assert!(
            self.grew <= CEILING,
            "{what} grew the service by {} MiB",
            self.grew >> 20
        );
        assert!(
            self.slowest_health < Duration::from_secs(2),
            "/healthz took {:?} during {what}",
            self.slowest_health
        );
    }
}

/// Runs the `flood` requests at once against `service`, watching its memory and `/healthz`
/// until all are answered; checks each answer with `answered`.
async fn flood<F>(
    service: &ServiceProcess,
    requests: Vec<F>,
    answered: impl Fn(u16, serde_json::Value),
) -> Flooded
where
    F: Future<Output = (u16, serde_json::Value)> + Send + 'static,
{
    let client = reqwest::Client::new();
    let baseline = service.resident_bytes();
    let mut all = tokio::task::JoinSet::new();
    for request in requests {
        all.spawn(request);
    }
    let (mut peak, mut slowest_health) = (baseline, Duration::ZERO);
    while !all.is_empty() {
        peak = peak.max(service.resident_bytes());
        let asked = Instant::now();
        let health = client
            .get(service.url("/healthz"))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .expect("/healthz answers during the flood");
        assert_eq!(health.status(), 200);
        slowest_health = slowest_health.max(asked.elapsed());
        while let Some(done) = all.try_join_next() {
            let (status, body) = done.unwrap();
            answered(status, body);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Flooded {
        grew: peak.saturating_sub(baseline),
        slowest_health,
    }
}

/// 256 anonymous wrong staff sign-ins at once: each password hash takes 19 MiB, and only two run
/// at a time, on threads of their own, so the service's memory stays under a ceiling whatever
/// the flood, and `/healthz` keeps answering. (Unbounded, this took a service from 113 MB to
/// 5 GB; bounded to two at a time but spread over the runtime's blocking threads, it still grew
/// by 750 MiB, each thread's allocator keeping a hash's memory.)
#[tokio::test]
async fn a_flood_of_wrong_staff_sign_ins_cannot_take_the_servers_memory() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    // Every one of them is hashed: each names another account, and the flood's one address may
    // guess that often.
    let service = service(
        &app,
        &[("PHOTO_LEDGER__AUTH__STAFF_SIGN_IN__PER_ADDRESS", "1000")],
    )
    .await;
    let client = reqwest::Client::new();
    // One sign-in first, so what is loaded once (the dummy hash, the pool) is in the baseline.
    let _ = client
        .post(service.url("/api/v1/auth/staff"))
        .json(&json!({"username": "nobody", "password": "wrong password"}))
        .send()
        .await
        .unwrap();
    let requests = (0..256)
        .map(|i| {
            let (client, url) = (client.clone(), service.url("/api/v1/auth/staff"));
            async move {
                let answer = client
                    .post(url)
                    .json(&json!({"username": format!("admin-{i}"), "password": "a guess"}))
                    .timeout(Duration::from_secs(300))
                    .send()
                    .await
                    .unwrap();
                let answer = read(answer).await;
                (answer.0.as_u16(), answer.1)
            }
        })
        .collect();
    let flooded = flood(&service, requests, |status, body| {
        assert_eq!(status, 401, "every wrong sign-in is refused: {body}");
    })
    .await;
    flooded.held("256 wrong sign-ins at once");
}

/// Code pictures at once: 32 of 8000 × 8000 pixels are refused from their header without being
/// decoded, and 8 of a size that is decoded (2400 × 2400, no code in them) are read two at a
/// time, so the service's memory stays under a ceiling; every one is refused as unreadable (a
/// counted guess) or, once the account has guessed too often, as locked.
#[tokio::test]
async fn a_flood_of_code_pictures_cannot_take_the_servers_memory() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let service = service(&app, &[]).await;
    let png = |side: u32, noise: bool| {
        let picture = image::GrayImage::from_fn(side, side, |x, y| {
            // A checkerboard compresses well, so the picture fits the request, and still has to
            // be decoded and searched.
            let v = if noise && (x / 16 + y / 16) % 2 == 0 {
                0
            } else {
                255
            };
            image::Luma([v])
        });
        let mut bytes = Vec::new();
        picture
            .write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Png,
            )
            .unwrap();
        data_encoding::BASE64.encode(&bytes)
    };
    let (huge, large) = (png(8000, false), png(2400, true));
    let client = reqwest::Client::new();
    let mut requests = Vec::new();
    for (i, picture) in std::iter::repeat_n(&huge, 32)
        .chain(std::iter::repeat_n(&large, 8))
        .enumerate()
    {
        let student = app.student(&format!("openid-flood-{i}")).await;
        let (client, url, picture) = (
            client.clone(),
            service.url("/api/v1/captures"),
            picture.clone(),
        );
        requests.push(async move {
            let answer = client
                .post(url)
                .bearer_auth(student)
                .json(&json!({"school": SCHOOL, "education_type": FULL_TIME, "collection_code_image": picture, "id_last4": "1226"}))
                .timeout(Duration::from_secs(600))
                .send()
                .await
                .unwrap();
            let answer = read(answer).await;
            (answer.0.as_u16(), answer.1)
        });
    }
    let flooded = flood(&service, requests, |status, body| {
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["code"], "eligibility.code_unreadable", "{body}");
    })
    .await;
    flooded.held("40 code pictures at once");
}

/// The largest upload accepted: 8160 × 6120 pixels (a 50-megapixel phone's photo), 150 MB
/// decoded. One flat colour, so the file is small.
fn largest_accepted_upload() -> Vec<u8> {
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    let (width, height) = (8160, 6120);
    let pixels = vec![200u8; width as usize * height as usize * 3];
    let mut png = Vec::new();
    image::ImageEncoder::write_image(
        PngEncoder::new_with_quality(&mut png, CompressionType::Default, FilterType::NoFilter),
        &pixels,
        width,
        height,
        image::ExtendedColorType::Rgb8,
    )
    .unwrap();
    png
}

/// 16 previews at once of the largest upload accepted: the preview is made once, within the
/// decoding budget, and kept, so the service's memory stays under a ceiling and `/healthz` keeps
/// answering. (Made on every request, six at once of a 392 MB picture took 3.5 GB.)
#[tokio::test]
async fn a_flood_of_previews_cannot_take_the_servers_memory() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let service = service(&app, &[]).await;
    let student = app.student("openid-preview-flood").await;
    let capture = paid_capture(&app, &student).await;
    let (status, uploaded) = service
        .upload(&capture, &student, &largest_accepted_upload())
        .await;
    assert_eq!(status, 201, "{uploaded}");
    let photo_id = uploaded["photo_id"].as_str().unwrap().to_string();
    let requests = (0..16)
        .map(|_| {
            let (client, url, student) = (
                service.client.clone(),
                service.url(&format!("/api/v1/photos/{photo_id}?size=thumb")),
                student.clone(),
            );
            async move {
                let answer = client
                    .get(url)
                    .bearer_auth(student)
                    .timeout(Duration::from_secs(300))
                    .send()
                    .await
                    .unwrap();
                let status = answer.status().as_u16();
                let jpeg = answer.bytes().await.unwrap();
                let preview = image::load_from_memory(&jpeg).unwrap();
                (
                    status,
                    json!({"width": preview.width(), "height": preview.height()}),
                )
            }
        })
        .collect();
    let flooded = flood(&service, requests, |status, size| {
        assert_eq!(status, 200);
        assert_eq!(size, json!({"width": 240, "height": 180}));
    })
    .await;
    flooded.held("16 previews at once");
}
