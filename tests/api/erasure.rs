//! Erasure end to end: an admin erases a student (every capture of theirs), after which the
//! status reads 已删除, the capture refuses every command, its photos are gone, the log still
//! verifies and replays to the same views, and a dump of the whole database and the photo store
//! holds neither the name, nor the ID number, nor any photo's bytes. The retention policy erases
//! exactly the captures past their school's period.

use chrono::{Duration, Utc};
use photo_ledger::captures::Captures;
use photo_ledger::erasure::{retention, Erasure};
use photo_ledger::photos::PhotoStore;
use photo_ledger::telemetry::metrics::Metrics;
use photo_ledger_store::{on_db, Db};
use serde_json::json;

use crate::api_support::*;
use crate::support::{full_flow, run, run_full_flow, Backend, TestStore};
use photo_ledger_domain::values::CaptureId;
use photo_ledger_domain::CaptureCommand;

on_both_stores!(
    an_erased_student_leaves_nothing_personal_and_the_log_still_proves_itself,
    the_retention_policy_erases_exactly_the_captures_past_their_period,
    erasure_needs_an_admin_and_a_known_reason,
);

/// 64 bytes from the middle of `bytes`: found in a file only if the file holds the photo.
fn window(bytes: &[u8]) -> Vec<u8> {
    let middle = bytes.len() / 2;
    bytes[middle..middle + 64].to_vec()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every byte the database holds, as its own dump tool writes it (PostgreSQL) or as a compacted
/// copy of the file (SQLite: no free pages, the write-ahead log folded in).
async fn dump(db: &Db, store: &TestStore) -> Vec<u8> {
    match db {
        Db::Postgres(_) => {
            let url = store.settings.database_url().unwrap().to_string();
            let output = std::process::Command::new("pg_dump")
                .arg(&url)
                .output()
                .expect("run pg_dump");
            assert!(
                output.status.success(),
                "pg_dump failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            output.stdout
        }
        Db::Sqlite(pool) => {
            let copy = store.data_dir().join("dump.sqlite3");
            sqlx::query(&format!("VACUUM INTO '{}'", copy.display()))
                .execute(pool)
                .await
                .unwrap();
            let bytes = std::fs::read(&copy).unwrap();
            std::fs::remove_file(copy).unwrap();
            bytes
        }
    }
}

/// Every file under `dir`, read.
fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    files
}

fn cli_succeeds(command: &mut std::process::Command, what: &str) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("run {what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn an_erased_student_leaves_nothing_personal_and_the_log_still_proves_itself(
    backend: Backend,
) {
    let app = TestApp::spawn_with(backend, with_photos).await;
    let admin = app.staff("admin").await;
    // 吴晓兰 has two education records: one at the default school, paid, approved, delivered…
    let wu = app.student("openid-wu").await;
    let first = paid_capture(&app, &wu).await;
    let standard = app.standard_photo_of(&first, &wu).await;
    let standard_bytes = app
        .client
        .get(app.url(&format!("/api/v1/photos/{standard}")))
        .bearer_auth(&wu)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    app.submit(&wu, &first, &standard).await;
    app.approve(&first).await;
    let (status, body) = app
        .post(
            &format!("/api/v1/admin/captures/{first}/delivered"),
            &admin,
            json!({"stage": "completed"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // …and one at a second school, in review.
    app.free_exam_school().await;
    let (_, second) = app
        .submitted_by_student_number("openid-wu", EXAM_SCHOOL, EXAM_STUDENT)
        .await;
    // 欧阳娜娜 is not erased.
    let ouyang = app.student("openid-ouyang").await;
    let kept = app.open_capture(&ouyang, &OUYANG).await;

    let (status, erased) = app
        .post(
            &format!("/api/v1/admin/captures/{first}/erasure"),
            &admin,
            json!({"reason": "student_request"}),
        )
        .await;
    assert_eq!(status, 200, "{erased}");
    let mut both = vec![first.clone(), second.clone()];
    both.sort();
    assert_eq!(erased["captures"], json!(both));
    // The upload and its standard photo, stored once by content for both captures.
    assert!(erased["photos_deleted"].as_u64().unwrap() >= 2, "{erased}");

    // The student sees 已删除; nothing can be done with the capture; its photos are gone.
    let (status, view) = app.get(&format!("/api/v1/captures/{first}"), &wu).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["status"], "erased");
    assert_eq!(view["status_label"], "已删除");
    assert_eq!(view["student"]["name_masked"], "已删除");
    assert_eq!(view["student"]["student_number"], json!(null));
    let (status, _) = app.get(&format!("/api/v1/captures/{second}"), &wu).await;
    assert_eq!(status, 200);
    let refused = app
        .post(
            &format!("/api/v1/captures/{second}/withdraw"),
            &wu,
            json!({}),
        )
        .await;
    assert_error(&refused, 409, "capture.erased");
    let photo = app
        .client
        .get(app.url(&format!("/api/v1/photos/{standard}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(photo.status(), 404);
    let reviewer = app.staff("reviewer").await;
    let (_, queue) = app.get("/api/v1/review/queue", &reviewer).await;
    assert!(
        !queue.to_string().contains(&second),
        "an erased capture left the queue: {queue}"
    );
    let (_, history) = app.get("/api/v1/me/history", &wu).await;
    assert!(
        !history.to_string().contains(&standard),
        "the photo history no longer lists the photos: {history}"
    );

    // Erasing again changes nothing.
    let (status, again) = app
        .post(
            &format!("/api/v1/admin/captures/{first}/erasure"),
            &admin,
            json!({"reason": "student_request"}),
        )
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["photos_deleted"], 0);
    let (_, trail) = app
        .get(&format!("/api/v1/admin/captures/{first}/events"), &admin)
        .await;
    assert_eq!(count_events(&trail, "Erased"), 1, "{trail}");

    // The other student's capture reads as before.
    let (_, view) = app.get(&format!("/api/v1/captures/{kept}"), &ouyang).await;
    assert_eq!(view["student"]["name_masked"], "欧**娜", "{view}");

    let photos = app.data_dir().join("photos");
    let (db, store) = app.stop().await;
    let live = crate::support::dump_views(&db).await;

    // The log still proves itself, and replays to the same views.
    let args = store.cli_args();
    let photo_ledger = || {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_photo-ledger"));
        command.args(&args);
        command
    };
    cli_succeeds(photo_ledger().args(["audit", "seal"]), "audit seal");
    cli_succeeds(photo_ledger().args(["audit", "verify"]), "audit verify");
    cli_succeeds(photo_ledger().arg("replay"), "replay");
    // The log's own sealed fields no longer open: its key is gone.
    for capture in [&first, &second] {
        let trail = cli_succeeds(photo_ledger().args(["events", capture]), "events");
        assert!(trail.contains("已删除"), "{trail}");
        assert!(!trail.contains(WU.name), "the log still opens: {trail}");
    }
    assert_eq!(live, crate::support::dump_views(&db).await);

    // Nothing of 吴晓兰 is left: not in the database, not in the photo store.
    let dumped = dump(&db, &store).await;
    assert!(
        contains(&dumped, OUYANG.name.as_bytes()),
        "the dump holds the student who was not erased (her roster row): the search works"
    );
    for (what, needle) in [
        ("name", WU.name.as_bytes().to_vec()),
        ("ID number", WU.id_number.as_bytes().to_vec()),
        ("uploaded photo", window(&astronaut())),
        ("standard photo", window(&standard_bytes)),
    ] {
        assert!(
            !contains(&dumped, &needle),
            "the database still holds the {what}"
        );
        for (path, bytes) in files_under(&photos) {
            assert!(
                !contains(&bytes, &needle),
                "{} still holds the {what}",
                path.display()
            );
        }
    }
}

async fn the_retention_policy_erases_exactly_the_captures_past_their_period(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.staff("admin").await;
    let db = app.ledger.db().clone();
    for school in ["school-1", "school-2"] {
        on_db!(&db, pool => sqlx::query(
            "INSERT INTO schools (school_id, name, created_at) VALUES ($1, $1, $2)")
            .bind(school)
            .bind(Utc::now())
            .execute(pool)
            .await
            .map(|_| ()))
        .unwrap();
    }
    // school-1 keeps information 30 days after delivery; school-2 until erased by hand.
    assert!(retention::set_period(&db, "school-1", Some(30))
        .await
        .unwrap());
    assert!(!retention::set_period(&db, "no-such-school", Some(30))
        .await
        .unwrap());
    // Delivered at school-1 (then a reprint ordered and paid): past its period after 30 days.
    let delivered = run_full_flow(&app.ledger, 1).await;
    // Approved at school-1, not delivered yet: kept.
    let approved = CaptureId::new();
    for (role, command) in full_flow(approved, 4)
        .into_iter()
        .take_while(|(_, c)| !matches!(c, CaptureCommand::MarkDelivered(_)))
    {
        run(&app.ledger, &approved.to_string(), role, command)
            .await
            .unwrap();
    }
    // Delivered at school-2: kept.
    let elsewhere = run_full_flow(&app.ledger, 2).await;
    app.views_caught_up().await;

    let erasure = Erasure::new(
        Captures::new(app.ledger.clone(), Metrics::new()),
        PhotoStore::local(&app.data_dir().join("photos")).unwrap(),
        app.store_settings().person_keyer().unwrap(),
    );
    let within = retention::erase_expired(&erasure, Utc::now() + Duration::days(29))
        .await
        .unwrap();
    assert!(
        within.is_empty(),
        "nothing is past its period yet: {within:?}"
    );
    let past = retention::erase_expired(&erasure, Utc::now() + Duration::days(31))
        .await
        .unwrap();
    assert_eq!(past, [delivered]);
    let status = |capture: CaptureId| {
        let db = db.clone();
        async move {
            photo_ledger_projections::capture_status::by_capture(&db, &capture.to_string())
                .await
                .unwrap()
                .unwrap()
                .1
        }
    };
    let view = status(delivered).await;
    assert_eq!(view.status, "erased");
    assert_eq!(view.student.name_masked, "已删除");
    assert!(view.orders.iter().all(|o| o
        .prints
        .as_ref()
        .is_none_or(|p| p.recipient == "已删除" && p.address.is_empty())));
    assert_eq!(status(approved).await.status, "approved");
    assert_eq!(status(elsewhere).await.status, "delivered");
    let (_, trail) = app
        .get(
            &format!("/api/v1/admin/captures/{delivered}/events"),
            &admin,
        )
        .await;
    let erased = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_type"] == "Erased")
        .unwrap_or_else(|| panic!("no Erased event: {trail}"));
    assert_eq!(erased["payload"]["Erased"]["reason"], "retention_expired");
    assert_eq!(erased["payload"]["Erased"]["erased_by"], "retention");
    // Run again: an erased capture is no longer delivered, so nothing more is erased.
    let again = retention::erase_expired(&erasure, Utc::now() + Duration::days(31))
        .await
        .unwrap();
    assert!(again.is_empty(), "{again:?}");
}

async fn erasure_needs_an_admin_and_a_known_reason(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let wu = app.student("openid-wu").await;
    let capture = app.open_capture(&wu, &WU).await;
    let path = format!("/api/v1/admin/captures/{capture}/erasure");
    let reviewer = app.staff("reviewer").await;
    let refused = app
        .post(&path, &reviewer, json!({"reason": "student_request"}))
        .await;
    assert_eq!(refused.0, 403, "{}", refused.1);
    let refused = app
        .post(&path, &wu, json!({"reason": "student_request"}))
        .await;
    assert_eq!(refused.0, 403, "{}", refused.1);
    let admin = app.staff("admin").await;
    let refused = app.post(&path, &admin, json!({"reason": "because"})).await;
    assert_error(&refused, 422, "request.invalid");
    let refused = app.post(&path, &admin, json!({})).await;
    assert_error(&refused, 422, "request.invalid");
    let unknown = app
        .post(
            &format!("/api/v1/admin/captures/{}/erasure", uuid::Uuid::new_v4()),
            &admin,
            json!({"reason": "student_request"}),
        )
        .await;
    assert_error(&unknown, 404, "capture.not_found");
    let (_, view) = app.get(&format!("/api/v1/captures/{capture}"), &wu).await;
    assert_ne!(view["status"], "erased", "{view}");
}
