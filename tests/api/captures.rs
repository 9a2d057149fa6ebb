//! Opening a capture with the three proofs, and reading captures' status.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use photo_ledger::captures::status_reads::StatusReads;
use photo_ledger::configuration::StoreSettings;
use photo_ledger_store::db::SQLITE_FILE;
use photo_ledger_store::Db;
use serde_json::{json, Value};
use sqlx::pool::PoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};

use crate::api_support::*;
use crate::support::Backend;

on_both_stores!(
    the_three_proofs_open_a_capture_and_verifying_again_returns_it,
    status_reads_in_one_batch_each_get_their_own_capture,
    a_student_consents_before_verifying_and_the_capture_records_it,
);

async fn a_student_consents_before_verifying_and_the_capture_records_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let student = app.student_without_consent("openid-consent").await;
    let verify = || {
        app.post(
            "/api/v1/captures",
            &student,
            json!({"school": SCHOOL, "student_number": WU.number}),
        )
    };
    // Nothing of the student is looked up before the consent: refused, and no capture.
    assert_error(&verify().await, 422, "consent.required");
    let (_, listed) = app.get("/api/v1/captures", &student).await;
    assert_eq!(listed["captures"], json!([]));

    let (status, policy) = app
        .call(reqwest::Method::GET, "/api/v1/policies/privacy", None, None)
        .await;
    assert_eq!(status, 200, "{policy}");
    let text = policy["text"].as_str().unwrap();
    assert!(text.contains("人脸照片") && text.contains(policy["version"].as_str().unwrap()));
    assert_eq!(
        policy["sha256"].as_str().unwrap(),
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes()))
    );
    let consent = |version: &Value, sha256: &Value, face_images: bool| {
        app.post(
            "/api/v1/me/consent",
            &student,
            json!({"version": version, "sha256": sha256, "face_images": face_images}),
        )
    };
    let outdated = consent(&json!("2020-01-01"), &policy["sha256"], true).await;
    assert_error(&outdated, 422, "consent.outdated");
    assert_eq!(outdated.1["details"]["current_version"], policy["version"]);
    let other_text = consent(&policy["version"], &json!("00".repeat(32)), true).await;
    assert_error(&other_text, 422, "consent.outdated");
    let no_faces = consent(&policy["version"], &policy["sha256"], false).await;
    assert_error(&no_faces, 422, "consent.face_images_required");
    assert_error(&verify().await, 422, "consent.required");

    let (status, given) = consent(&policy["version"], &policy["sha256"], true).await;
    assert_eq!(status, 200, "{given}");
    assert_eq!(given["consent"]["channel"], "mini_program");
    let (status, again) = consent(&policy["version"], &policy["sha256"], true).await;
    assert_eq!(status, 200);
    assert_eq!(
        again["consent"]["given_at"], given["consent"]["given_at"],
        "the first consent is kept"
    );

    let (status, opened) = verify().await;
    assert_eq!(status, 201, "{opened}");
    let admin = app.staff("admin").await;
    let (status, events) = app
        .get(
            &format!(
                "/api/v1/admin/captures/{}/events",
                opened["capture_id"].as_str().unwrap()
            ),
            &admin,
        )
        .await;
    assert_eq!(status, 200, "{events}");
    let recorded = &events["events"][0]["payload"]["QualificationVerified"]["consent"];
    assert_eq!(recorded["version"], policy["version"]);
    assert_eq!(recorded["sha256"], policy["sha256"]);
    assert_eq!(recorded["face_images"], true);
    assert_eq!(recorded["given_at"], given["consent"]["given_at"]);
}

async fn the_three_proofs_open_a_capture_and_verifying_again_returns_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = app.student("openid-a").await;
    let (status, opened) = app
        .post(
            "/api/v1/captures",
            &a,
            json!({"school": SCHOOL, "education_type": FULL_TIME, "collection_code": app.collection_code(&WU), "id_last4": WU.last4()}),
        )
        .await;
    assert_eq!(status, 201, "{opened}");
    assert_eq!(opened["created"], true);
    assert_eq!(opened["status"], "awaiting_payment");
    assert_eq!(opened["status_label"], "待支付");
    assert_eq!(opened["student"]["school"], SCHOOL);
    assert_eq!(opened["student"]["education_type"], FULL_TIME);
    let masked = opened["student"]["id_masked"].as_str().unwrap();
    assert!(!masked.contains("20040815"), "{masked}");
    assert_ne!(opened["student"]["name_masked"], WU.name);
    assert_eq!(
        opened["capture"]["next_actions"],
        json!(["pay", "order_prints"])
    );
    let capture = opened["capture_id"].as_str().unwrap();

    // The same record by student number from the same account: the same capture, 200.
    let (status, again) = app
        .post(
            "/api/v1/captures",
            &a,
            json!({"school": SCHOOL, "student_number": WU.number}),
        )
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["capture_id"], capture);
    assert_eq!(again["created"], false);

    // Another account cannot take it.
    let b = app.student("openid-b").await;
    let taken = app
        .post(
            "/api/v1/captures",
            &b,
            json!({"school": SCHOOL, "student_number": WU.number}),
        )
        .await;
    assert_error(&taken, 409, "eligibility.claimed_by_another");

    // The batch's feature code with a picture of the collection code.
    let png = photo_ledger::eligibility::qr::render_png(&app.collection_code(&OUYANG)).unwrap();
    let (status, by_feature) = app
        .post(
            "/api/v1/captures",
            &b,
            json!({"feature_code": app.batch.feature_code.as_str(), "collection_code_image": data_encoding::BASE64.encode(&png), "id_last4": OUYANG.last4()}),
        )
        .await;
    assert_eq!(status, 201, "{by_feature}");
    let wrong_last4 = app
        .post(
            "/api/v1/captures",
            &b,
            json!({"feature_code": app.batch.feature_code.as_str(), "collection_code": app.collection_code(&OUYANG), "id_last4": "9999"}),
        )
        .await;
    assert_error(&wrong_last4, 422, "eligibility.last4_mismatch");
    let not_listed = app
        .post(
            "/api/v1/captures",
            &b,
            json!({"school": SCHOOL, "student_number": "1999000000"}),
        )
        .await;
    assert_error(&not_listed, 422, "eligibility.not_on_roster");

    // Each student lists only their own.
    let (_, mine) = app.get("/api/v1/captures", &a).await;
    let ids: Vec<&Value> = mine["captures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["capture_id"])
        .collect();
    assert_eq!(ids, vec![&json!(capture)]);
    let (_, theirs) = app.get("/api/v1/captures", &b).await;
    assert_eq!(
        theirs["captures"][0]["capture_id"],
        by_feature["capture_id"]
    );
}

/// Reads of different captures, by their owners, by another student and of an unknown capture,
/// all at once: they are read together, and each caller still gets exactly their own answer.
/// Over HTTP the batches depend on timing; the batching itself is checked on [`StatusReads`]
/// with a pool that counts its statements: sixty reads asked together take one statement.
async fn status_reads_in_one_batch_each_get_their_own_capture(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut owned = Vec::new();
    for (openid, student) in [
        ("openid-a", &WU),
        ("openid-b", &OUYANG),
        ("openid-c", &CHEN),
    ] {
        let token = app.student(openid).await;
        let capture = app.open_capture(&token, student).await;
        owned.push((token, capture));
    }
    let unknown = photo_ledger_domain::values::CaptureId::new().to_string();
    let reads = (0..READS).map(|n| {
        let (token, capture) = &owned[n % 3];
        let (asked, expected) = match n % 5 {
            0 => (owned[(n + 1) % 3].1.clone(), 404), // another student's
            1 => (unknown.clone(), 404),
            _ => (capture.clone(), 200),
        };
        let app = &app;
        async move {
            let (status, body) = app.get(&format!("/api/v1/captures/{asked}"), token).await;
            (asked, expected, status, body)
        }
    });
    for (asked, expected, status, body) in futures::future::join_all(reads).await {
        assert_eq!(status, expected, "{asked}: {body}");
        if expected == 200 {
            assert_eq!(body["capture_id"], asked.as_str(), "{body}");
        }
    }

    let captures: Vec<String> = owned.into_iter().map(|(_, capture)| capture).collect();
    let settings = app.store_settings().clone();
    // Its own thread and a current-thread runtime: every read is queued before the reading task
    // first runs, so how they are batched does not depend on timing.
    let (statements, answers) = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(read_together(&settings, &captures, &unknown))
    })
    .join()
    .unwrap();
    assert_eq!(
        statements, 1,
        "{READS} status reads asked together took {statements} statements: they were not batched"
    );
    let mut owners = std::collections::HashMap::new();
    for (asked, answer) in answers {
        match answer {
            None => assert_eq!(asked, 1, "capture {asked} has a status but was not found"),
            Some((capture, owner, view)) => {
                assert_ne!(
                    asked, 1,
                    "the unknown capture was answered with {capture}'s status"
                );
                let view: Value = serde_json::from_str(&view).unwrap();
                assert_eq!(view["capture_id"], capture.as_str(), "{view}");
                // The same capture always comes with the same owner, and no two share one.
                assert_eq!(
                    *owners.entry(capture.clone()).or_insert(owner.clone()),
                    owner
                );
            }
        }
    }
    let distinct: std::collections::HashSet<&String> = owners.values().collect();
    assert_eq!((owners.len(), distinct.len()), (3, 3), "{owners:?}");
}

/// Reads asked at once in [`status_reads_in_one_batch_each_get_their_own_capture`].
const READS: usize = 60;

/// Asks [`READS`] statuses of `captures` (every fifth of `unknown`) at once through
/// [`StatusReads`] on a pool that counts statements; returns how many statements they took, and
/// for each read which it was (`n % 5`, 1 for the unknown capture) with the answer's capture id,
/// owner and view.
#[allow(clippy::type_complexity)]
async fn read_together(
    settings: &StoreSettings,
    captures: &[String],
    unknown: &str,
) -> (usize, Vec<(usize, Option<(String, String, String)>)>) {
    let (db, statements) = counting_db(settings).await;
    let reads = StatusReads::start(db.clone());
    let before = statements.load(Ordering::SeqCst);
    let asks = (0..READS).map(|n| {
        let asked = match n % 5 {
            1 => unknown.to_string(),
            _ => captures[n % 3].clone(),
        };
        let reads = &reads;
        async move {
            let answer = reads.get(asked.clone()).await.expect("the status is read");
            (n % 5, answer.map(|(owner, view)| (asked, owner, view)))
        }
    });
    let answers = futures::future::join_all(asks).await;
    let taken = statements.load(Ordering::SeqCst) - before;
    db.close().await;
    (taken, answers)
}

/// A handle on the service's database whose pool counts the statements run through it: each
/// takes a connection, a new one or an idle one.
async fn counting_db(settings: &StoreSettings) -> (Db, Arc<AtomicUsize>) {
    let statements = Arc::new(AtomicUsize::new(0));
    let db = match settings.database_url() {
        Some(url) => Db::Postgres(
            counted(&statements)
                .connect(url)
                .await
                .expect("PostgreSQL connects"),
        ),
        None => Db::Sqlite(
            counted(&statements)
                .connect_with(
                    SqliteConnectOptions::new()
                        .filename(settings.data_dir.join(SQLITE_FILE))
                        .journal_mode(SqliteJournalMode::Wal),
                )
                .await
                .expect("SQLite opens"),
        ),
    };
    (db, statements)
}

fn counted<DB: sqlx::Database>(statements: &Arc<AtomicUsize>) -> PoolOptions<DB> {
    let (fresh, idle) = (statements.clone(), statements.clone());
    PoolOptions::new()
        .max_connections(8)
        .after_connect(move |_, _| {
            fresh.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { Ok(()) })
        })
        .before_acquire(move |_, _| {
            idle.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { Ok(true) })
        })
}
