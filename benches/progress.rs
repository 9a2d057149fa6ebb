//! The collection progress page for a school of `--students` roster students, on PostgreSQL with
//! the release `serve --dev`. Results go to BENCHMARKS.md.
//!
//!     cargo bench --bench progress -- [--students 50000] [--started-percent 80] [--requests 200]
//!
//! Setup: a deployment of its own (`support::service`), the school, its batch and a roster of
//! `--students` imported over the API (`support::students`); then `--started-percent` of them
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

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use photo_ledger::configuration::StoreSettings;
use photo_ledger::ledger::{CommandRequest, Ledger};
use photo_ledger::startup::open_ledger;
use photo_ledger_domain::commands::VerifyQualification;
use photo_ledger_domain::events::{BatchRef, SchoolRef, VerificationMethod};
use photo_ledger_domain::feature_code::FeatureCode;
use photo_ledger_domain::id_number::IdNumber;
use photo_ledger_domain::identity::{IdType, StudentIdentity};
use photo_ledger_domain::metadata::{Actor, EventMetadata};
use photo_ledger_domain::policy::BatchPolicy;
use photo_ledger_domain::values::CaptureId;
use photo_ledger_domain::CaptureCommand;
use photo_ledger_projections::ProjectorConfig;
use serde_json::{json, Value};
use support::service::Deployment;
use support::students::{roster_csv, seed, ADMIN, ADMIN_PASSWORD, CATEGORY, SCHOOL};
use support::{arg, load_average, percentile};

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

/// Verifies the students of `lines`, 32 at a time.
async fn verify_all(ledger: Arc<Ledger>, verification: Arc<Verification>, lines: Vec<String>) {
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
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(line) = lines.get(i) else { break };
                    let capture = CaptureId::new();
                    ledger
                        .execute(request(capture, verification.command(capture, line)))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
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
    let deployment = Deployment::start(
        "photo_ledger_progress",
        None,
        &[(ADMIN, "admin", ADMIN_PASSWORD)],
    )
    .await;
    let api = &deployment.api;
    let seeding = Instant::now();
    seed(api, students).await;
    let http = &api.http;
    let signed_in: Value = http
        .post(format!("{}/api/v1/auth/staff", api.base))
        .json(&json!({"username": ADMIN, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = format!("Bearer {}", signed_in["token"].as_str().unwrap());
    let batches: Value = http
        .get(format!("{}/api/v1/admin/batches", api.base))
        .header("authorization", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
        policy: serde_json::from_value(batch["policy"].clone()).unwrap_or_default(),
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
        person_key: None,
        db_connections: 40,
    };
    let ledger = open_ledger(&store, ProjectorConfig::default())
        .await
        .unwrap();
    verify_all(ledger, verification, lines).await;
    let progress_api = format!("{}/api/v1/admin/progress?batch={feature_code}", api.base);
    loop {
        let answer: Value = http
            .get(&progress_api)
            .header("authorization", &token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if answer["counts"]["verified"].as_u64() == Some(started as u64) {
            assert_eq!(
                answer["counts"]["not_started"].as_u64(),
                Some((students - started) as u64),
                "{answer}"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
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
    println!("\nload average after the run: {}", load_average());
}
