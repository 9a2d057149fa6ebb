//! Students keep going while the service is killed under them.
//!
//! Students (8, enrolled on a roster of their own) run the whole flow at once against
//! `photo-ledger serve` as a process of its own — verify, order the fee, pay, upload, submit —
//! each step under its own `Idempotency-Key` and retried with that key on a cut connection, a
//! 5xx or a claim still in progress, as a mini-program does. Meanwhile the service is killed with
//! SIGKILL (3 times): once while an upload stands between its two events (held there by a
//! failpoint), then at random moments, and started again each time. At the end every
//! acknowledged step is in the log, no command is recorded twice (one order and one payment for
//! the fee, one upload, one standard photo, one submission per student), no key is left claimed,
//! and the live views equal a rebuild.
//!
//! `CHAOS_STUDENTS` and `CHAOS_KILLS` make a longer run; it prints its figures (run it with
//! `--nocapture`, see BENCHMARKS.md).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::api_support::*;
use crate::support::{dump_views, Backend};
use photo_ledger_store::on_db;
use rand::Rng;
use reqwest::StatusCode;
use serde_json::{json, Value};

on_both_stores!(students_keep_going_while_the_service_is_killed_and_nothing_is_lost_or_doubled,);

/// How many students run the flow, and how often the service is killed: `CHAOS_STUDENTS` and
/// `CHAOS_KILLS` when set.
fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} must be a number"))
        })
        .unwrap_or(default)
}

const DEADLINE: Duration = Duration::from_secs(120);

/// Imports a roster of `count` graduates for the chaos run and answers their student numbers.
async fn enrol(app: &TestApp, count: usize) -> Vec<String> {
    const GIVEN: [char; 20] = [
        '伟', '芳', '娜', '敏', '静', '丽', '强', '磊', '洋', '艳', '勇', '军', '杰', '娟', '涛',
        '明', '超', '霞', '平', '刚',
    ];
    let mut csv = String::from("学号,姓名,证件类型,证件号码,学历类别,层次,专业,毕业年份\n");
    let mut numbers = Vec::new();
    for i in 0..count {
        let number = format!("209901{i:04}");
        let name = format!(
            "李{}{}",
            GIVEN[i / GIVEN.len() % GIVEN.len()],
            GIVEN[i % GIVEN.len()]
        );
        let id = resident_id(&format!("32020320040101{:03}", i % 1000));
        csv.push_str(&format!(
            "{number},{name},居民身份证,{id},{FULL_TIME},本科,食品科学与工程,2026\n"
        ));
        numbers.push(number);
    }
    let report = import_roster(
        app.ledger.db(),
        SCHOOL,
        "chaos.csv",
        csv.as_bytes(),
        None,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(report.inserted, count, "{report:?}");
    numbers
}

/// A resident ID number: the 17 digits and their check character (GB 11643).
fn resident_id(digits: &str) -> String {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = digits
        .chars()
        .zip(WEIGHTS)
        .map(|(c, w)| c.to_digit(10).unwrap() * w)
        .sum();
    let check = b"10X98765432"[(sum % 11) as usize] as char;
    format!("{digits}{check}")
}

/// One step of a student's flow, sent until it is answered with something other than a cut
/// connection, a 5xx or `idempotency.in_progress`; always with the same key.
async fn until_answered(
    retries: &AtomicUsize,
    client: &reqwest::Client,
    base: &str,
    build: impl Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
) -> (StatusCode, Value) {
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < DEADLINE, "a step was never answered");
        // A cut connection (the service is down) is tried again, as the mini-program does.
        if let Ok(response) = build(client, base).send().await {
            let answer = read(response).await;
            let retry = answer.0.is_server_error() || answer.1["code"] == "idempotency.in_progress";
            if !retry {
                return answer;
            }
        }
        retries.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What a student was told, step by step.
#[derive(Debug, Default)]
struct Acknowledged {
    capture: String,
    order: String,
    photo: String,
    standard_photo: String,
}

/// One student's flow; every request sent again is counted in `retries`.
async fn student_flow(
    base: String,
    token: String,
    number: String,
    retries: Arc<AtomicUsize>,
) -> Acknowledged {
    let client = reqwest::Client::new();
    let keyed = |path: String, key: String| {
        let token = token.clone();
        move |client: &reqwest::Client, base: &str| {
            client
                .post(format!("{base}{path}"))
                .bearer_auth(&token)
                .header("idempotency-key", key.clone())
        }
    };
    let mut told = Acknowledged::default();

    let verify = keyed("/api/v1/captures".into(), format!("verify-{number}"));
    let (status, opened) = until_answered(&retries, &client, &base, |c, b| {
        verify(c, b).json(&json!({"school": SCHOOL, "student_number": number}))
    })
    .await;
    assert!(status == 201 || status == 200, "{number}: {opened}");
    told.capture = opened["capture_id"].as_str().unwrap().to_string();
    let capture = told.capture.clone();

    let order = keyed(
        format!("/api/v1/captures/{capture}/orders"),
        format!("order-{number}"),
    );
    let (status, ordered) = until_answered(&retries, &client, &base, |c, b| {
        order(c, b).json(&json!({"purpose": "collection"}))
    })
    .await;
    assert_eq!(status, 201, "{number}: {ordered}");
    told.order = ordered["order_id"].as_str().unwrap().to_string();

    let pay = keyed(
        format!("/api/v1/dev/orders/{}/pay", told.order),
        format!("pay-{number}"),
    );
    let (status, paid) = until_answered(&retries, &client, &base, |c, b| pay(c, b)).await;
    assert_eq!(status, 200, "{number}: {paid}");

    let upload = keyed(
        format!("/api/v1/captures/{capture}/photos"),
        format!("upload-{number}"),
    );
    let photo = astronaut();
    let (status, uploaded) = until_answered(&retries, &client, &base, |c, b| {
        let (content_type, body) = photo_form(&photo, "camera");
        upload(c, b).header("content-type", content_type).body(body)
    })
    .await;
    assert_eq!(status, 201, "{number}: {uploaded}");
    told.photo = uploaded["photo_id"].as_str().unwrap().to_string();
    told.standard_photo = uploaded["standard_photo_id"].as_str().unwrap().to_string();

    let submit = keyed(
        format!("/api/v1/captures/{capture}/submit"),
        format!("submit-{number}"),
    );
    let standard = told.standard_photo.clone();
    let (status, submitted) = until_answered(&retries, &client, &base, |c, b| {
        submit(c, b).json(&json!({"standard_photo_id": standard}))
    })
    .await;
    assert_eq!(status, 200, "{number}: {submitted}");
    assert_eq!(submitted["status"], "in_review", "{number}: {submitted}");
    told
}

async fn students_keep_going_while_the_service_is_killed_and_nothing_is_lost_or_doubled(
    backend: Backend,
) {
    #[cfg(not(feature = "failpoints"))]
    panic!("the chaos test needs the failpoints feature: cargo test --all-features");
    let (students_count, kills) = (knob("CHAOS_STUDENTS", 8), knob("CHAOS_KILLS", 3));
    let app = Arc::new(TestApp::spawn_with(backend, with_photos).await);
    let numbers = enrol(&app, students_count).await;
    let retries = Arc::new(AtomicUsize::new(0));
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    // The first run holds the first upload between its two events for two seconds.
    let mut service = app
        .serve_process(
            port,
            &[("FAILPOINTS", "photos.between_events=1*sleep(2000)")],
        )
        .await;

    let mut students = tokio::task::JoinSet::new();
    for (i, number) in numbers.into_iter().enumerate() {
        let token = app.student(&format!("openid-chaos-{i}")).await;
        students.spawn(student_flow(base.clone(), token, number, retries.clone()));
    }

    // Kill one: while an upload stands between its two events.
    let started = Instant::now();
    while !app.an_upload_awaits_its_standard_photo().await {
        assert!(
            started.elapsed() < DEADLINE,
            "no upload was ever held between its events"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(service);
    service = app.serve_process(port, &[]).await;
    // The others: at random moments while the students keep going.
    for _ in 1..kills {
        let wait = rand::thread_rng().gen_range(300..2500);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        drop(service);
        service = app.serve_process(port, &[]).await;
    }

    let mut told = Vec::new();
    while let Some(flow) = students.join_next().await {
        told.push(flow.expect("a student's flow completes"));
    }
    drop(service);
    let flows_took = started.elapsed();
    assert_eq!(told.len(), students_count);

    // Every acknowledged step is in the log, once.
    for student in &told {
        let trail = app.events_of(&student.capture).await;
        let events = trail["events"].as_array().unwrap();
        let count = |event_type: &str| {
            events
                .iter()
                .filter(|e| e["event_type"] == event_type)
                .count()
        };
        assert_eq!(count("QualificationVerified"), 1, "{trail}");
        assert_eq!(count("OrderPlaced"), 1, "one order for the fee: {trail}");
        assert_eq!(count("Paid"), 1, "one payment kept: {trail}");
        assert_eq!(count("PhotoUploaded"), 1, "{trail}");
        assert_eq!(count("Standardised"), 1, "{trail}");
        assert_eq!(count("Submitted"), 1, "{trail}");
        let text = trail.to_string();
        for acknowledged in [&student.order, &student.photo, &student.standard_photo] {
            assert!(
                text.contains(acknowledged.as_str()),
                "{acknowledged} is in {trail}"
            );
        }
    }
    // No key is left claimed.
    let claimed: i64 = on_db!(app.ledger.db(), pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM idempotency_keys WHERE status IS NULL")
        .fetch_one(pool)
        .await)
    .unwrap();
    assert_eq!(claimed, 0, "keys left claimed");

    // The live views equal a rebuild, row for row.
    app.views_caught_up().await;
    let live = dump_views(app.ledger.db()).await;
    // The rebuild runs alone: the test's own service stops first.
    let app = Arc::into_inner(app).expect("the students are done with the service");
    let replay_command = app.photo_ledger();
    let (db, _store) = app.stop().await;
    let mut replay = replay_command;
    replay.arg("replay");
    let replay = tokio::task::spawn_blocking(move || replay.output())
        .await
        .unwrap()
        .expect("run replay");
    assert!(
        replay.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&replay.stderr)
    );
    assert_eq!(live, dump_views(&db).await);
    eprintln!(
        "chaos on {backend:?}: {students_count} students, {kills} kills, {} steps acknowledged, {} requests sent again, flows done in {:.1} s; nothing lost, nothing twice, no key stuck, views equal a rebuild",
        students_count * 5,
        retries.load(Ordering::Relaxed),
        flows_took.as_secs_f64(),
    );
}
