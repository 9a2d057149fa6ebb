//! What school staff and admins wait for, on PostgreSQL with the release `serve --dev`: the
//! collection progress page of a school of `--students` roster students, and the 学信网 delivery
//! package of `--package` approved photos. Results go to BENCHMARKS.md.
//!
//!     cargo bench --bench school -- [--students 50000] [--started-percent 80] [--requests 200] [--package 1000]
//!
//! Setup: a deployment of its own (`support::service`), the school, its batch and the first
//! roster student imported over the API (`support::students`), the other `--students` rows copied
//! from it in SQL (importing 50,000 rows over the API takes more than five minutes); then `--started-percent` of them
//! verified, each by the ledger's own `VerifyQualification` command sent from this process
//! (what the eligibility check records, without the HTTP round trip per student), and the
//! service's projector left to bring `collection_progress` up to date. The page's work does not
//! depend on the statuses: it counts the batch's rows in one statement and the roster students
//! without a row in another, whatever the mix.
//!
//! Measured, one request at a time from a signed-in console session: the progress page of the
//! batch (`GET /console/progress?batch=…`), next to, in the same run, the same counts as JSON
//! (`GET /api/v1/admin/progress`) and the page with nothing picked (the layout and the picker: the
//! floor every console page pays).
//!
//! Then `--package` of the verified students are taken to approval by the ledger's own commands
//! (upload, standardisation, submission, approval; each standard photo a distinct 480×640 JPEG
//! put in the service's photo store), and the admin makes the batch's package and downloads it
//! over the API. Measured: the time to make it, the time to download it whole (which first marks
//! every capture 上网中), its size, and the service's resident memory: its peak before the
//! package and after (`VmHWM`), next to the bytes of the package itself.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use photo_ledger::configuration::StoreSettings;
use photo_ledger::ledger::{CommandRequest, Ledger};
use photo_ledger::photos::PhotoStore;
use photo_ledger::startup::open_ledger;
use photo_ledger_domain::commands::{
    Approve, RecordStandardisation, Submit, UploadPhoto, VerifyQualification,
};
use photo_ledger_domain::events::{BatchRef, SchoolRef, StoredPhoto, VerificationMethod};
use photo_ledger_domain::feature_code::FeatureCode;
use photo_ledger_domain::id_number::IdNumber;
use photo_ledger_domain::identity::{IdType, StudentIdentity};
use photo_ledger_domain::metadata::{Actor, EventMetadata};
use photo_ledger_domain::policy::BatchPolicy;
use photo_ledger_domain::values::{Background, CaptureId, PhotoId, PhotoSource};
use photo_ledger_domain::CaptureCommand;
use photo_ledger_projections::ProjectorConfig;
use serde_json::{json, Value};
use support::service::Deployment;
use support::students::{roster_csv, seed, ADMIN, ADMIN_PASSWORD, CATEGORY, SCHOOL};
use support::{arg, load_average, percentile, psql, resident_mib};

mod support;

/// What verifying one roster student records.
struct Verification {
    school: SchoolRef,
    batch: BatchRef,
    policy: BatchPolicy,
}

impl Verification {
    fn command(&self, capture: CaptureId, line: &str) -> CaptureCommand {
        // student_number,name,id_type,id_number,…
        let cells: Vec<&str> = line.split(',').collect();
        let today = chrono::NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
        CaptureCommand::VerifyQualification(VerifyQualification {
            capture_id: capture,
            owner: format!("openid-{}", cells[0]),
            school: self.school.clone(),
            education_type: CATEGORY.into(),
            batch: Some(self.batch.clone()),
            student: StudentIdentity {
                name: cells[1].into(),
                id_type: IdType::ResidentId,
                id_number: IdNumber::parse(IdType::ResidentId, cells[3], today).unwrap(),
                student_number: Some(cells[0].into()),
                collection_code: None,
                major: None,
                level: None,
                graduation_year: Some(2026),
            },
            policy: self.policy.clone(),
            verified_by: VerificationMethod::StudentNumber,
            consent: None,
            at: Utc::now(),
        })
    }
}

fn request(capture: CaptureId, command: CaptureCommand) -> CommandRequest {
    CommandRequest {
        capture_id: capture.to_string(),
        command,
        metadata: EventMetadata {
            actor: Actor::system("bench"),
            request_id: "bench".into(),
            command_id: uuid::Uuid::new_v4().to_string(),
            recorded_at: Utc::now(),
        },
    }
}

/// Verifies the students of `lines`, 32 at a time; answers their captures.
async fn verify_all(
    ledger: Arc<Ledger>,
    verification: Arc<Verification>,
    lines: Vec<String>,
) -> Vec<CaptureId> {
    let lines = Arc::new(lines);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..32)
        .map(|_| {
            let (ledger, verification, lines, next) = (
                ledger.clone(),
                verification.clone(),
                lines.clone(),
                next.clone(),
            );
            tokio::spawn(async move {
                let mut verified = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(line) = lines.get(i) else { break };
                    let capture = CaptureId::new();
                    ledger
                        .execute(request(capture, verification.command(capture, line)))
                        .await
                        .unwrap();
                    verified.push(capture);
                }
                verified
            })
        })
        .collect();
    let mut verified = Vec::new();
    for worker in workers {
        verified.extend(worker.await.unwrap());
    }
    verified
}

/// A distinct 480×640 JPEG for photo number `n` (about the size of a real standard photo).
fn photo(n: usize) -> Vec<u8> {
    // A smooth picture, as a portrait on a plain background is, different for every n.
    let n = n as u32;
    let image = image::RgbImage::from_fn(480, 640, |x, y| {
        let (dx, dy) = (x as i32 - 240, y as i32 - 280 - (n % 40) as i32);
        let face = dx * dx + dy * dy < 150 * 150;
        match face {
            true => image::Rgb([
                (200 + n % 50) as u8,
                (160 + y / 16) as u8,
                (140 + x / 16) as u8,
            ]),
            false => image::Rgb([(60 + y / 8) as u8, (120 + n % 30) as u8, 230]),
        }
    });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(&image)
        .unwrap();
    jpeg
}

/// Takes the capture from verified to approved, its standard photo `jpeg` put in `photos`.
async fn approve(ledger: &Ledger, photos: &PhotoStore, capture: CaptureId, jpeg: Vec<u8>) {
    let stored = |photo_id, sha256: &str, bytes: usize| StoredPhoto {
        photo_id,
        sha256: sha256.to_string(),
        bytes: bytes as u64,
        width: 480,
        height: 640,
        format: "jpeg".into(),
    };
    let bytes = jpeg.len();
    let sha256 = photos.put(jpeg).await.unwrap();
    let (upload, standard) = (PhotoId::new(), PhotoId::new());
    let now = Utc::now;
    let commands = [
        CaptureCommand::UploadPhoto(UploadPhoto {
            photo: stored(upload, &sha256, bytes),
            source: PhotoSource::Camera,
            at: now(),
        }),
        CaptureCommand::RecordStandardisation(RecordStandardisation {
            source_photo_id: upload,
            result: stored(standard, &sha256, bytes),
            background: Background::Blue,
            spec_name: "chsi".into(),
            spec_version: "1".into(),
            checks: vec![],
            perceptual_hash: None,
            at: now(),
        }),
        CaptureCommand::Submit(Submit {
            standard_photo_id: standard,
            same_photos: vec![],
            at: now(),
        }),
        CaptureCommand::Approve(Approve {
            reviewer_id: "bench-reviewer".into(),
            at: now(),
        }),
    ];
    for command in commands {
        ledger.execute(request(capture, command)).await.unwrap();
    }
}

/// The JSON answer to `request`.
async fn json_of(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// Asks for the batch's progress until its `count` is `expected` (the projector has written
/// every capture sent); answers the progress.
async fn counts_when(
    progress: impl Fn() -> reqwest::RequestBuilder,
    count: &str,
    expected: usize,
) -> Value {
    loop {
        let answer = json_of(progress()).await;
        if answer["counts"][count].as_u64() == Some(expected as u64) {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn summary(label: &str, samples: &mut [Duration]) -> String {
    samples.sort();
    format!(
        "| {label} | {:.1} ms | {:.1} ms | {:.1} ms |",
        percentile(samples, 0.5).as_secs_f64() * 1000.0,
        percentile(samples, 0.95).as_secs_f64() * 1000.0,
        samples[samples.len() - 1].as_secs_f64() * 1000.0
    )
}

/// Times `requests` GETs of `url`, one at a time, each insisting on 200.
async fn time_gets(
    http: &reqwest::Client,
    url: &str,
    auth: (&str, &str),
    requests: u64,
) -> Vec<Duration> {
    let mut samples = Vec::new();
    for _ in 0..requests {
        let started = Instant::now();
        let response = http.get(url).header(auth.0, auth.1).send().await.unwrap();
        let status = response.status();
        let body = response.bytes().await.unwrap();
        samples.push(started.elapsed());
        assert_eq!(status, 200, "{url}: {}", String::from_utf8_lossy(&body));
    }
    samples
}

#[tokio::main]
async fn main() {
    let students = arg("--students", 50_000) as usize;
    let started_percent = arg("--started-percent", 80) as usize;
    let requests = arg("--requests", 200);
    let package_size = arg("--package", 1000) as usize;
    let deployment = Deployment::start(
        "photo_ledger_progress",
        None,
        &[(ADMIN, "admin", ADMIN_PASSWORD)],
    )
    .await;
    let api = &deployment.api;
    let seeding = Instant::now();
    // The API imports one roster student; the rest are copies of that row made in SQL, because
    // importing 50,000 rows over the API takes longer than five minutes (a finding of its own).
    seed(api, 1).await;
    psql(
        &deployment.database.url,
        &format!(
            "INSERT INTO roster_students (school_id, education_type, student_number, name, id_type,
                 id_number, level, major, graduation_year, batch_id, import_id, updated_at)
             SELECT school_id, education_type, 'B' || lpad(i::text, 9, '0'), '考生' || i, id_type,
                 id_number, level, major, graduation_year, batch_id, import_id, updated_at
             FROM roster_students, generate_series(1, {}) AS i
             WHERE student_number = 'B000000000'",
            students - 1
        ),
    );
    let http = &api.http;
    let signed_in = json_of(
        http.post(format!("{}/api/v1/auth/staff", api.base))
            .json(&json!({"username": ADMIN, "password": ADMIN_PASSWORD})),
    )
    .await;
    let token = format!("Bearer {}", signed_in["token"].as_str().unwrap());
    let batches = json_of(
        http.get(format!("{}/api/v1/admin/batches", api.base))
            .header("authorization", &token),
    )
    .await;
    let batch = &batches["batches"][0];
    let feature_code = batch["feature_code"].as_str().unwrap().to_string();
    let verification = Arc::new(Verification {
        school: SchoolRef {
            school_id: batch["school_id"].as_str().unwrap().into(),
            name: SCHOOL.into(),
        },
        batch: BatchRef {
            batch_id: batch["batch_id"].as_str().unwrap().into(),
            feature_code: FeatureCode::parse(&feature_code).unwrap(),
        },
        // Free, so the captures of the package go straight to their photos.
        policy: BatchPolicy::default(),
    });
    let (csv, _) = roster_csv(students);
    let started = students * started_percent / 100;
    let lines: Vec<String> = csv
        .lines()
        .skip(1)
        .take(started)
        .map(str::to_string)
        .collect();
    let store = StoreSettings {
        data_dir: deployment.dir.path().into(),
        database_url: Some(deployment.database.url.clone().into()),
        db_connections: 40,
        ..StoreSettings::default()
    };
    let ledger = open_ledger(&store, ProjectorConfig::default())
        .await
        .unwrap();
    let verified = verify_all(ledger.clone(), verification, lines).await;
    let progress_api = format!("{}/api/v1/admin/progress?batch={feature_code}", api.base);
    let progress = || http.get(&progress_api).header("authorization", &token);
    let answer = counts_when(progress, "verified", started).await;
    assert_eq!(
        answer["counts"]["not_started"].as_u64(),
        Some((students - started) as u64),
        "{answer}"
    );
    eprintln!("seeded in {:.0?}", seeding.elapsed());

    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let session = browser
        .post(format!("{}/console/sign-in", api.base))
        .form(&[("username", ADMIN), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    let cookie = session.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let page = format!("{}/console/progress?batch={feature_code}", api.base);
    let picker = format!("{}/console/progress", api.base);
    // Warm both caches (the database's and the service's) before measuring.
    time_gets(&browser, &page, ("cookie", &cookie), 10).await;
    let mut pages = time_gets(&browser, &page, ("cookie", &cookie), requests).await;
    let mut counts = time_gets(http, &progress_api, ("authorization", &token), requests).await;
    let mut floor = time_gets(&browser, &picker, ("cookie", &cookie), requests).await;

    println!(
        "## Collection progress of a school of {students} students ({started} started), PostgreSQL, \
         release build, {requests} requests each, one at a time\n"
    );
    println!("| request | p50 | p95 | max |\n|---|---|---|---|");
    println!(
        "{}",
        summary(
            "the batch's progress page (target p95 ≤ 100 ms)",
            &mut pages
        )
    );
    println!("{}", summary("the same counts as JSON (API)", &mut counts));
    println!(
        "{}",
        summary("the page with nothing picked (floor)", &mut floor)
    );

    // The delivery package.
    if package_size == 0 {
        println!("\nload average after the run: {}", load_average());
        return;
    }
    let photos = PhotoStore::local(&deployment.dir.path().join("photos")).unwrap();
    for (n, capture) in verified.iter().take(package_size).enumerate() {
        approve(&ledger, &photos, *capture, photo(n)).await;
    }
    let service = deployment.service.child.id();
    // The views include every approval once the batch shows them all approved.
    counts_when(progress, "approved", package_size).await;
    let (_, peak_before) = resident_mib(service);
    let making = Instant::now();
    let package = json_of(
        http.post(format!("{}/api/v1/admin/deliveries", api.base))
            .header("authorization", &token)
            .json(&json!({ "batch": feature_code })),
    )
    .await;
    let made_in = making.elapsed();
    assert_eq!(
        package["captures"].as_u64(),
        Some(package_size as u64),
        "{package}"
    );
    let downloading = Instant::now();
    let mut response = http
        .post(format!(
            "{}/api/v1/admin/deliveries/{}/download",
            api.base,
            package["package_id"].as_str().unwrap()
        ))
        .header("authorization", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let first_byte = downloading.elapsed();
    let mut size = 0usize;
    while let Some(chunk) = response.chunk().await.unwrap() {
        size += chunk.len();
    }
    let downloaded_in = downloading.elapsed();
    let (rss_after, peak_after) = resident_mib(service);

    println!(
        "\n## The 学信网 delivery package of {package_size} approved photos, PostgreSQL, release build\n"
    );
    println!("| measure | value |\n|---|---|");
    println!(
        "| make the package (`POST /admin/deliveries`) | {:.0} ms |",
        made_in.as_secs_f64() * 1000.0
    );
    println!(
        "| download: first byte (every capture marked 上网中 first) | {:.0} ms |",
        first_byte.as_secs_f64() * 1000.0
    );
    println!(
        "| download: whole ZIP | {:.0} ms ({:.1} MiB) |",
        downloaded_in.as_secs_f64() * 1000.0,
        size as f64 / 1048576.0
    );
    println!(
        "| service peak resident memory before the package (`VmHWM`) | {peak_before:.0} MiB |"
    );
    println!("| service peak resident memory after it | {peak_after:.0} MiB (resident now {rss_after:.0} MiB) |");
    println!("\nload average after the run: {}", load_average());
}
