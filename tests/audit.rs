//! Tamper evidence on both stores: the chains and seals the ledger writes verify, and every kind
//! of tampering an operator with database access could do in plain SQL is found and located.

#[macro_use]
mod support;

use std::sync::Arc;
use std::time::Duration;

use photo_ledger::audit::export::{export, verify_export, ExportRequest, Manifest};
use photo_ledger::audit::point_in_time::{capture_at, fold_named, view_at};
use photo_ledger::audit::verify::verify;
use photo_ledger::audit::{seal, AuditKey, AuditSettings, Finding, Report, Seal, Sealer};
use photo_ledger::ledger::Ledger;
use photo_ledger_domain::metadata::Role;
use photo_ledger_domain::values::CaptureId;
use photo_ledger_domain::CaptureCommand;
use photo_ledger_store::chain::{EventBytes, EventHash};
use photo_ledger_store::{on_db, Db};
use serde_json::Value;
use std::collections::BTreeMap;
use support::*;

on_both_stores!(
    the_ledgers_chains_and_seals_verify_and_extend_a_kept_digest,
    a_changed_payload_byte_is_found_at_its_event,
    a_deleted_event_is_found_by_its_chain_and_its_seal,
    a_forged_event_is_found_by_its_hash_or_by_its_seal,
    swapped_and_resequenced_events_are_found,
    a_consistently_rewritten_chain_is_found_by_the_seal_and_the_kept_digest,
    events_stored_before_hashing_are_chained_once_and_never_after_a_seal,
    identities_stored_in_clear_are_sealed_once_before_the_first_seal,
    a_finished_sealing_migration_is_not_looked_for_again,
    the_service_seals_in_the_background,
    the_command_line_seals_prints_the_digest_and_fails_on_tampering,
    a_capture_and_the_review_queue_at_a_moment_are_what_the_live_views_showed,
    a_schools_export_verifies_offline_and_any_changed_byte_fails_it,
);

const AUDIT_SEED: [u8; 32] = [9; 32];

fn key() -> AuditKey {
    AuditKey::from_seed(AUDIT_SEED)
}

/// Small seals, so a few flows span several.
fn sealer(db: &Db) -> Sealer {
    Sealer::new(
        db.clone(),
        key(),
        &AuditSettings {
            seal_every_events: 7,
            ..AuditSettings::default()
        },
    )
}

async fn check(db: &Db, kept: Option<&Seal>) -> Report {
    verify(db, &[key().public_key()], kept)
        .await
        .expect("the log can be read")
}

/// Three captures through the whole flow, everything sealed; answers the captures and the latest
/// seal, which the auditor keeps.
async fn sealed_log(store: &TestStore) -> (Arc<Ledger>, Vec<CaptureId>, Seal) {
    let ledger = store.ledger().await;
    let mut captures = Vec::new();
    for n in 1..=3 {
        captures.push(run_full_flow(&ledger, n).await);
    }
    let seals = sealer(ledger.db()).seal_all().await.unwrap();
    assert!(seals.len() > 2, "the log spans several seals");
    let report = check(ledger.db(), None).await;
    assert!(report.verified(), "{:?}", report.findings);
    (ledger, captures, seals.last().unwrap().clone())
}

fn sql<'a>(db: &Db, postgres: &'a str, sqlite: &'a str) -> &'a str {
    if db.is_postgres() {
        postgres
    } else {
        sqlite
    }
}

async fn execute(db: &Db, statement: &str) {
    on_db!(db, pool => sqlx::query(statement).execute(pool).await.map(|_| ())).unwrap();
}

async fn payload(db: &Db, capture: &CaptureId, sequence: i64) -> String {
    on_db!(db, pool => sqlx::query_scalar("SELECT CAST(payload AS TEXT) FROM events WHERE aggregate_id = $1 AND sequence = $2")
        .bind(capture.to_string())
        .bind(sequence)
        .fetch_one(pool)
        .await)
    .unwrap()
}

async fn set_payload(db: &Db, capture: &CaptureId, sequence: i64, payload: &str) {
    let statement = sql(
        db,
        "UPDATE events SET payload = $1::text::json WHERE aggregate_id = $2 AND sequence = $3",
        "UPDATE events SET payload = $1 WHERE aggregate_id = $2 AND sequence = $3",
    );
    on_db!(db, pool => sqlx::query(statement)
        .bind(payload)
        .bind(capture.to_string())
        .bind(sequence)
        .execute(pool)
        .await
        .map(|_| ()))
    .unwrap();
}

async fn last_sequence(db: &Db, capture: &CaptureId) -> i64 {
    on_db!(db, pool => sqlx::query_scalar("SELECT max(sequence) FROM events WHERE aggregate_id = $1")
        .bind(capture.to_string())
        .fetch_one(pool)
        .await)
    .unwrap()
}

/// A capture's rows as stored, in sequence order: (sequence, type, version, payload, metadata,
/// hash).
async fn rows(db: &Db, capture: &CaptureId) -> Vec<(i64, String, String, String, String, String)> {
    on_db!(db, pool => sqlx::query_as("SELECT sequence, event_type, event_version, CAST(payload AS TEXT), CAST(metadata AS TEXT), hash FROM events WHERE aggregate_id = $1 ORDER BY sequence")
        .bind(capture.to_string())
        .fetch_all(pool)
        .await)
    .unwrap()
}

fn hash_of(
    capture: &CaptureId,
    row: &(i64, String, String, String, String, String),
    previous: &EventHash,
) -> EventHash {
    let id = capture.to_string();
    EventBytes {
        aggregate_type: "Capture",
        aggregate_id: &id,
        sequence: row.0,
        event_type: &row.1,
        event_version: &row.2,
        payload: &row.3,
        metadata: &row.4,
    }
    .hash(previous)
}

fn of_capture(report: &Report, capture: &CaptureId) -> Vec<Finding> {
    let id = capture.to_string();
    report
        .findings
        .iter()
        .filter(|f| match f {
            Finding::Altered { capture_id, .. }
            | Finding::Unhashed { capture_id, .. }
            | Finding::BrokenLink { capture_id, .. }
            | Finding::Missing { capture_id, .. }
            | Finding::OutOfOrder { capture_id, .. } => *capture_id == id,
            _ => false,
        })
        .cloned()
        .collect()
}

fn seal_mismatches(report: &Report) -> Vec<i64> {
    report
        .findings
        .iter()
        .filter_map(|f| match f {
            Finding::SealMismatch { seal_no, .. } => Some(*seal_no),
            _ => None,
        })
        .collect()
}

async fn the_ledgers_chains_and_seals_verify_and_extend_a_kept_digest(backend: Backend) {
    let store = TestStore::new(backend).await;
    let (ledger, _, kept) = sealed_log(&store).await;
    let db = ledger.db();
    // The log grows and is sealed again: it still extends the digest kept before.
    run_full_flow(&ledger, 4).await;
    let unsealed = check(db, Some(&kept)).await;
    assert!(unsealed.verified(), "{:?}", unsealed.findings);
    assert!(unsealed.unsealed > 0 && unsealed.digest_checked);
    sealer(db).seal_all().await.unwrap();
    let report = check(db, Some(&kept)).await;
    assert!(report.verified(), "{:?}", report.findings);
    assert_eq!((report.captures, report.unsealed), (4, 0));
    let latest = seal::latest(db).await.unwrap().unwrap();
    assert_eq!(latest.total_events as u64, report.events);

    // Seals by a key the auditor does not trust are reported, as is a kept digest they did not
    // sign.
    let stranger = AuditKey::from_seed([1; 32]);
    let distrusted = verify(db, &[stranger.public_key()], Some(&kept))
        .await
        .unwrap();
    assert_eq!(
        distrusted
            .findings
            .iter()
            .filter(|f| matches!(f, Finding::SealNotSigned { .. }))
            .count() as i64,
        latest.seal_no
    );
    assert!(distrusted
        .findings
        .iter()
        .any(|f| matches!(f, Finding::DigestNotExtended { .. })));
}

async fn a_changed_payload_byte_is_found_at_its_event(backend: Backend) {
    let store = TestStore::new(backend).await;
    let (ledger, captures, _) = sealed_log(&store).await;
    let db = ledger.db();
    let original = payload(db, &captures[1], 2).await;
    // One digit, one byte: still valid JSON.
    let at = original.find(|c: char| c.is_ascii_digit()).unwrap();
    let digit = original.as_bytes()[at] - b'0';
    let mut changed = original.clone();
    changed.replace_range(at..=at, &((digit + 1) % 10).to_string());
    set_payload(db, &captures[1], 2, &changed).await;

    let report = check(db, None).await;
    assert!(!report.verified());
    assert_eq!(
        report.findings.len(),
        1,
        "only the event is reported: {:?}",
        report.findings
    );
    assert!(matches!(
        &report.findings[0],
        Finding::Altered { capture_id, sequence: 2, .. } if *capture_id == captures[1].to_string()
    ));

    // Put back, the log verifies again: the finding was the change, nothing else.
    set_payload(db, &captures[1], 2, &original).await;
    assert!(check(db, None).await.verified());
}

async fn a_deleted_event_is_found_by_its_chain_and_its_seal(backend: Backend) {
    let store = TestStore::new(backend).await;
    let (ledger, captures, _) = sealed_log(&store).await;
    let db = ledger.db();
    execute(
        db,
        &format!(
            "DELETE FROM events WHERE aggregate_id = '{}' AND sequence = 3",
            captures[0]
        ),
    )
    .await;
    let report = check(db, None).await;
    assert!(
        matches!(
            of_capture(&report, &captures[0]).as_slice(),
            [Finding::Missing {
                from_sequence: 3,
                to_sequence: 3,
                ..
            }]
        ),
        "{:?}",
        report.findings
    );
    assert_eq!(seal_mismatches(&report).len(), 1, "{:?}", report.findings);

    // A capture's last event deleted leaves its chain whole: the seal finds it.
    let last = last_sequence(db, &captures[2]).await;
    execute(
        db,
        &format!(
            "DELETE FROM events WHERE aggregate_id = '{}' AND sequence = {last}",
            captures[2]
        ),
    )
    .await;
    let report = check(db, None).await;
    assert!(of_capture(&report, &captures[2]).is_empty());
    assert_eq!(seal_mismatches(&report).len(), 2, "{:?}", report.findings);
}

async fn a_forged_event_is_found_by_its_hash_or_by_its_seal(backend: Backend) {
    let store = TestStore::new(backend).await;
    let (ledger, captures, _) = sealed_log(&store).await;
    let db = ledger.db();
    let capture = &captures[1];
    let stored = rows(db, capture).await;
    let last = stored.last().unwrap();
    let forged_sequence = last.0 + 1;
    let forged_payload = payload(db, capture, last.0).await;
    // At the end of the log, or (`first`) before every other event: inside the first seal.
    let insert = |hash: &str, prev: &str, first: bool| {
        let (columns, overriding, place) = match (first, db.is_postgres()) {
            (false, _) => ("", "", ""),
            (true, true) => (
                ", txid, position",
                "OVERRIDING SYSTEM VALUE",
                ", '1'::xid8, 1",
            ),
            (true, false) => (", rowid", "", ", 0"),
        };
        format!(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata, hash, prev_hash{columns}) {overriding} \
             VALUES ('Capture', '{capture}', {forged_sequence}, '{}', '{}', '{}', '{}', '{hash}', '{prev}'{place})",
            last.1, last.2, forged_payload.replace('\'', "''"), last.4.replace('\'', "''")
        )
    };

    // A made-up hash: the event does not hash to it.
    let made_up = "ab".repeat(32);
    execute(db, &insert(&made_up, &last.5, false)).await;
    let report = check(db, None).await;
    assert!(
        matches!(
            of_capture(&report, capture).as_slice(),
            [Finding::Altered { sequence, .. }] if *sequence == forged_sequence
        ),
        "{:?}",
        report.findings
    );
    assert!(seal_mismatches(&report).is_empty(), "after the last seal");
    execute(
        db,
        &format!(
            "DELETE FROM events WHERE aggregate_id = '{capture}' AND sequence = {forged_sequence}"
        ),
    )
    .await;
    assert!(check(db, None).await.verified());

    // A correctly chained forgery placed among sealed events: the chain reads it as the
    // capture's events out of order, and the seal's count changes.
    let row = (
        forged_sequence,
        last.1.clone(),
        last.2.clone(),
        forged_payload.clone(),
        last.4.clone(),
        String::new(),
    );
    let previous = EventHash::parse(&last.5).unwrap();
    let hash = hash_of(capture, &row, &previous);
    execute(db, &insert(&hash.to_hex(), &last.5, true)).await;
    let report = check(db, None).await;
    assert_eq!(seal_mismatches(&report), vec![1], "{:?}", report.findings);
    assert!(!of_capture(&report, capture).is_empty());
}

async fn swapped_and_resequenced_events_are_found(backend: Backend) {
    let store = TestStore::new(backend).await;
    let (ledger, captures, _) = sealed_log(&store).await;
    let db = ledger.db();
    let capture = &captures[2];
    let (second, third) = (payload(db, capture, 2).await, payload(db, capture, 3).await);
    set_payload(db, capture, 2, &third).await;
    set_payload(db, capture, 3, &second).await;
    let report = check(db, None).await;
    assert!(
        matches!(
            of_capture(&report, capture).as_slice(),
            [
                Finding::Altered { sequence: 2, .. },
                Finding::Altered { sequence: 3, .. }
            ]
        ),
        "{:?}",
        report.findings
    );
    set_payload(db, capture, 2, &second).await;
    set_payload(db, capture, 3, &third).await;

    let last = last_sequence(db, capture).await;
    execute(
        db,
        &format!(
            "UPDATE events SET sequence = {} WHERE aggregate_id = '{capture}' AND sequence = {last}",
            last + 5
        ),
    )
    .await;
    let report = check(db, None).await;
    let found = of_capture(&report, capture);
    assert!(
        found
            .iter()
            .any(|f| matches!(f, Finding::Missing { from_sequence, .. } if *from_sequence == last))
            && found
                .iter()
                .any(|f| matches!(f, Finding::Altered { sequence, .. } if *sequence == last + 5)),
        "{:?}",
        report.findings
    );
}

async fn a_consistently_rewritten_chain_is_found_by_the_seal_and_the_kept_digest(backend: Backend) {
    let store = TestStore::new(backend).await;
    let (ledger, captures, kept) = sealed_log(&store).await;
    let db = ledger.db();
    let capture = &captures[0];
    // The school's name changed in the first event, and every hash of the capture recomputed.
    let first = payload(db, capture, 1).await;
    assert!(first.contains("江南大学"));
    set_payload(db, capture, 1, &first.replace("江南大学", "江南大學")).await;
    let mut previous = EventHash::GENESIS;
    for row in rows(db, capture).await {
        let hash = hash_of(capture, &row, &previous);
        execute(
            db,
            &format!(
                "UPDATE events SET hash = '{hash}', prev_hash = '{previous}' WHERE aggregate_id = '{capture}' AND sequence = {}",
                row.0
            ),
        )
        .await;
        previous = hash;
    }
    let report = check(db, None).await;
    assert!(
        of_capture(&report, capture).is_empty(),
        "the chain itself is consistent"
    );
    assert!(
        !seal_mismatches(&report).is_empty(),
        "{:?}",
        report.findings
    );

    // Even re-sealed with the audit key itself, the digest the auditor kept no longer matches.
    execute(db, "DELETE FROM audit_seals").await;
    sealer(db).seal_all().await.unwrap();
    assert!(
        check(db, None).await.verified(),
        "re-sealed, the log is consistent in itself"
    );
    let report = check(db, Some(&kept)).await;
    assert!(
        matches!(
            report.findings.as_slice(),
            [Finding::DigestNotExtended { seal_no, .. }] if *seal_no == kept.seal_no
        ),
        "{:?}",
        report.findings
    );
}

async fn events_stored_before_hashing_are_chained_once_and_never_after_a_seal(backend: Backend) {
    let store = TestStore::new(backend).await;
    let ledger = store.ledger().await;
    let capture = CaptureId::new();
    let steps = full_flow(capture, 5);
    let (before, after) = steps.split_at(steps.len() / 2);
    for (role, command) in before.iter().cloned() {
        run(&ledger, &capture.to_string(), role, command)
            .await
            .unwrap();
    }
    let db = ledger.db().clone();
    // As a log written before hashing: no hashes at all.
    execute(&db, "UPDATE events SET hash = NULL, prev_hash = NULL").await;
    assert!(!check(&db, None).await.verified());
    drop(ledger);
    let ledger = store.ledger().await;
    let db = ledger.db();
    let report = check(db, None).await;
    assert!(report.verified(), "{:?}", report.findings);
    // A new instance goes on chaining from the chained history it loads.
    for (role, command) in after.iter().cloned() {
        run(&ledger, &capture.to_string(), role, command)
            .await
            .unwrap();
    }
    sealer(db).seal_all().await.unwrap();
    assert!(check(db, None).await.verified());

    // After a seal, an unhashed row is a finding, and reopening does not chain it.
    let last = last_sequence(db, &capture).await;
    execute(
        db,
        &format!(
            "UPDATE events SET hash = NULL WHERE aggregate_id = '{capture}' AND sequence = {last}"
        ),
    )
    .await;
    drop(ledger);
    let ledger = store.ledger().await;
    let report = check(ledger.db(), None).await;
    assert!(
        matches!(
            of_capture(&report, &capture).as_slice(),
            [Finding::Unhashed { sequence, .. }] if *sequence == last
        ),
        "{:?}",
        report.findings
    );
}

/// Rewrites a capture's events as a log written before sealing existed stored them: every
/// field in clear, no data key, no snapshot.
async fn store_in_clear(ledger: &Ledger, capture: &CaptureId) {
    let db = ledger.db();
    let history = photo_ledger_store::log::capture_history(ledger.decoder(), &capture.to_string())
        .await
        .unwrap();
    let update = sql(
        db,
        "UPDATE events SET payload = CAST($1 AS json) WHERE aggregate_id = $2 AND sequence = $3",
        "UPDATE events SET payload = $1 WHERE aggregate_id = $2 AND sequence = $3",
    );
    for logged in history {
        let clear = serde_json::to_string(&logged.event).unwrap();
        on_db!(db, pool => sqlx::query(update)
            .bind(clear)
            .bind(capture.to_string())
            .bind(logged.sequence)
            .execute(pool)
            .await
            .map(|_| ()))
        .unwrap();
    }
    for statement in [
        "DELETE FROM data_keys WHERE capture_id = $1",
        "DELETE FROM snapshots WHERE aggregate_id = $1",
    ] {
        on_db!(db, pool => sqlx::query(statement)
            .bind(capture.to_string())
            .execute(pool)
            .await
            .map(|_| ()))
        .unwrap();
    }
}

/// Every payload of the capture as stored, joined.
async fn stored_text(db: &Db, capture: &CaptureId) -> String {
    let payloads: Vec<String> = on_db!(db, pool => sqlx::query_scalar(
        "SELECT CAST(payload AS TEXT) FROM events WHERE aggregate_id = $1 ORDER BY sequence")
        .bind(capture.to_string())
        .fetch_all(pool)
        .await)
    .unwrap();
    payloads.join("\n")
}

async fn identities_stored_in_clear_are_sealed_once_before_the_first_seal(backend: Backend) {
    let store = TestStore::new(backend).await;
    let ledger = store.ledger().await;
    // One capture part-way through its flow, one erased: both written before sealing existed.
    let (live, erased) = (CaptureId::new(), CaptureId::new());
    let steps = full_flow(live, 5);
    let (before, after) = steps.split_at(steps.len() / 2);
    for (role, command) in before.iter().cloned() {
        run(&ledger, &live.to_string(), role, command)
            .await
            .unwrap();
    }
    for (role, command) in full_flow(erased, 6).into_iter().take(4) {
        run(&ledger, &erased.to_string(), role, command)
            .await
            .unwrap();
    }
    run(
        &ledger,
        &erased.to_string(),
        Role::Admin,
        CaptureCommand::Erase(photo_ledger_domain::commands::Erase {
            reason: photo_ledger_domain::erasure::ErasureReason::StudentRequest,
            by: "admin-1".into(),
            at: t0(),
        }),
    )
    .await
    .unwrap();
    let (state, _) = ledger.load(&live.to_string()).await.unwrap();
    let identity = state.qualification.unwrap().student;
    for capture in [&live, &erased] {
        store_in_clear(&ledger, capture).await;
    }
    let db = ledger.db().clone();
    execute(&db, "UPDATE events SET hash = NULL, prev_hash = NULL").await;
    // A log from before sealing existed has no record of the migration having run.
    execute(&db, "DELETE FROM data_migrations").await;
    assert!(stored_text(&db, &live).await.contains("吴晓兰"));
    assert!(stored_text(&db, &erased).await.contains("吴晓兰"));
    drop(ledger);

    // Opening the store seals them and chains the log again; the identity reads as before.
    let ledger = store.ledger().await;
    let db = ledger.db().clone();
    for capture in [&live, &erased] {
        let text = stored_text(&db, capture).await;
        assert!(!text.contains("吴晓兰"), "{text}");
        assert!(!text.contains(identity.id_number.as_str()), "{text}");
        assert!(!text.contains("13800000000"), "{text}");
    }
    let report = check(&db, None).await;
    assert!(report.verified(), "{:?}", report.findings);
    let (state, _) = ledger.load(&live.to_string()).await.unwrap();
    assert_eq!(state.qualification.unwrap().student, identity);
    // The erased capture's fields read as erased: no key opens them.
    let history = photo_ledger_store::log::capture_history(ledger.decoder(), &erased.to_string())
        .await
        .unwrap();
    let verified = history
        .iter()
        .find_map(|logged| match &logged.event {
            photo_ledger_domain::CaptureEvent::QualificationVerified(e) => Some(e),
            _ => None,
        })
        .unwrap();
    assert!(verified.student.is_erased(), "{:?}", verified.student);
    // The flow goes on, sealed as usual.
    for (role, command) in after.iter().cloned() {
        run(&ledger, &live.to_string(), role, command)
            .await
            .unwrap();
    }
    sealer(&db).seal_all().await.unwrap();
    assert!(check(&db, None).await.verified());
    drop(ledger);

    // After the first seal, a field stored in clear is left as it is: rewriting it now would
    // change what an auditor's digest covers. The seal alone says so, with or without the record
    // of the finished migration.
    let ledger = store.ledger().await;
    store_in_clear(&ledger, &live).await;
    execute(ledger.db(), "DELETE FROM data_migrations").await;
    drop(ledger);
    let ledger = store.ledger().await;
    assert!(stored_text(ledger.db(), &live).await.contains("吴晓兰"));
}

/// Looking for identities in clear reads every payload in the log: a pass that found nothing left
/// is recorded, and the store is opened without looking again.
async fn a_finished_sealing_migration_is_not_looked_for_again(backend: Backend) {
    let store = TestStore::new(backend).await;
    let ledger = store.ledger().await;
    let capture = CaptureId::new();
    for (role, command) in full_flow(capture, 5).into_iter().take(4) {
        run(&ledger, &capture.to_string(), role, command)
            .await
            .unwrap();
    }
    assert_eq!(
        finished_migrations(ledger.db()).await,
        ["seal_existing"],
        "opening the store on an empty log finished the migration"
    );

    // Given a field in clear that only a scan of the log would find,
    store_in_clear(&ledger, &capture).await;
    drop(ledger);
    // when the store is opened again, it is not looked for;
    let ledger = store.ledger().await;
    assert!(stored_text(ledger.db(), &capture).await.contains("吴晓兰"));
    // and without the record, it is found and sealed.
    execute(ledger.db(), "DELETE FROM data_migrations").await;
    drop(ledger);
    let ledger = store.ledger().await;
    assert!(!stored_text(ledger.db(), &capture).await.contains("吴晓兰"));
    assert_eq!(finished_migrations(ledger.db()).await, ["seal_existing"]);
}

async fn finished_migrations(db: &Db) -> Vec<String> {
    on_db!(db, pool => sqlx::query_scalar("SELECT name FROM data_migrations")
        .fetch_all(pool)
        .await)
    .unwrap()
}

async fn the_service_seals_in_the_background(backend: Backend) {
    let store = TestStore::new(backend).await;
    let ledger = store.ledger().await;
    let db = ledger.db().clone();
    let task = tokio::spawn(
        Sealer::new(
            db.clone(),
            key(),
            &AuditSettings {
                seal_every_events: 1_000,
                seal_interval_secs: 1,
                ..AuditSettings::default()
            },
        )
        .run(),
    );
    run_full_flow(&ledger, 6).await;
    let events: i64 =
        on_db!(&db, pool => sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(pool).await)
            .unwrap();
    let mut sealed = 0;
    for _ in 0..100 {
        sealed = seal::latest(&db)
            .await
            .unwrap()
            .map_or(0, |s| s.total_events);
        if sealed == events {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    task.abort();
    assert_eq!(sealed, events, "every event sealed within the interval");
    assert!(check(&db, None).await.verified());
}

async fn the_command_line_seals_prints_the_digest_and_fails_on_tampering(backend: Backend) {
    let store = TestStore::new(backend).await;
    let ledger = store.ledger().await;
    let capture = run_full_flow(&ledger, 8).await;
    let photo_ledger = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_photo-ledger"))
            .args(store.cli_args())
            .args(args)
            .env("PHOTO_LEDGER__AUDIT__SIGNING_KEY", hex::encode(AUDIT_SEED))
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).to_string(),
            String::from_utf8_lossy(&output.stderr).to_string(),
        )
    };
    let (ok, _, said) = photo_ledger(&["audit", "digest"]);
    assert!(!ok && said.contains("audit seal"), "{said}");
    let (ok, _, said) = photo_ledger(&["audit", "seal"]);
    assert!(ok, "{said}");
    let (ok, digest, said) = photo_ledger(&["audit", "digest"]);
    assert!(ok, "{said}");
    let kept: Seal = serde_json::from_str(&digest).unwrap();
    assert_eq!(kept.public_key, key().public_key_hex());
    let exported = store.data_dir().join("export");
    let exported = exported.display().to_string();
    let (ok, _, said) = photo_ledger(&["audit", "export", "--school-id", "school-2", &exported]);
    let events = last_sequence(ledger.db(), &capture).await;
    assert!(
        ok && said.contains(&format!("exported {events} events of 1 captures")),
        "{said}"
    );
    let (ok, out, said) = photo_ledger(&[
        "audit",
        "verify",
        "--export",
        &exported,
        "--public-key",
        &key().public_key_hex(),
    ]);
    assert!(ok, "{out}{said}");
    let (ok, _, said) = photo_ledger(&[
        "audit",
        "verify",
        "--export",
        &exported,
        "--public-key",
        &AuditKey::from_seed([1; 32]).public_key_hex(),
    ]);
    assert!(!ok && said.contains("does not verify"), "{said}");
    let file = store.data_dir().join("kept-digest.json");
    std::fs::write(&file, &digest).unwrap();
    let file = file.display().to_string();
    let (ok, out, said) = photo_ledger(&["audit", "verify", "--digest", &file]);
    assert!(ok, "{out}{said}");

    let db = ledger.db();
    let second = payload(db, &capture, 2).await;
    set_payload(db, &capture, 2, &second.replacen('1', "2", 1)).await;
    let (ok, out, said) = photo_ledger(&[
        "audit",
        "verify",
        "--digest",
        &file,
        "--public-key",
        &key().public_key_hex(),
    ]);
    assert!(!ok, "tampering fails the command: {out}");
    assert!(
        out.contains(&format!("event {capture}#2 was modified")),
        "{out}"
    );
    assert!(said.contains("does not verify"), "{said}");
}

/// The live review queue: each capture's item.
async fn live_queue(db: &Db) -> BTreeMap<String, Value> {
    let rows: Vec<(String, String)> = on_db!(db, pool => sqlx::query_as("SELECT capture_id, CAST(item AS TEXT) FROM review_queue")
        .fetch_all(pool)
        .await)
    .unwrap();
    rows.into_iter()
        .map(|(id, item)| (id, serde_json::from_str(&item).unwrap()))
        .collect()
}

async fn live_status(db: &Db, capture: &CaptureId) -> Value {
    let view: String = on_db!(db, pool => sqlx::query_scalar("SELECT CAST(view AS TEXT) FROM capture_status WHERE capture_id = $1")
        .bind(capture.to_string())
        .fetch_one(pool)
        .await)
    .unwrap();
    serde_json::from_str(&view).unwrap()
}

async fn a_capture_and_the_review_queue_at_a_moment_are_what_the_live_views_showed(
    backend: Backend,
) {
    let store = TestStore::new(backend).await;
    let ledger = store.ledger().await;
    let db = ledger.db();
    let keyer = store.settings.person_keyer().unwrap();
    let before_anything = chrono::Utc::now();
    // Three captures waiting for review.
    let mut flows = Vec::new();
    for n in 1..=3 {
        let capture = CaptureId::new();
        let steps = full_flow(capture, n);
        let submit = steps
            .iter()
            .position(|(_, c)| matches!(c, CaptureCommand::Submit(_)))
            .unwrap();
        for (role, command) in steps[..=submit].iter().cloned() {
            run(&ledger, &capture.to_string(), role, command)
                .await
                .unwrap();
        }
        flows.push((capture, steps, submit));
    }
    catch_up_all(&ledger).await;
    let queue_then = live_queue(db).await;
    let status_then = live_status(db, &flows[0].0).await;
    assert_eq!(queue_then.len(), 3);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let moment = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(20)).await;

    // Since: the first capture through the rest of its flow, the second claimed and rejected.
    let (first, steps, submit) = &flows[0];
    for (role, command) in steps[submit + 1..].iter().cloned() {
        run(&ledger, &first.to_string(), role, command)
            .await
            .unwrap();
    }
    let (second, steps, submit) = &flows[1];
    for (role, command) in steps[submit + 1..submit + 3].iter().cloned() {
        run(&ledger, &second.to_string(), role, command)
            .await
            .unwrap();
    }
    catch_up_all(&ledger).await;
    assert_eq!(live_queue(db).await.len(), 1);
    assert_ne!(live_status(db, first).await, status_then);

    let queue = fold_named("review_queue", keyer.clone()).unwrap();
    let view = view_at(ledger.decoder(), queue.as_ref(), moment)
        .await
        .unwrap();
    let replayed: BTreeMap<String, Value> = view.tables["review_queue"]
        .iter()
        .map(|row| {
            (
                row["capture_id"].as_str().unwrap().to_string(),
                row["item"].clone(),
            )
        })
        .collect();
    assert_eq!(replayed, queue_then);
    let statuses = fold_named("capture_status", keyer.clone()).unwrap();
    let capture = capture_at(
        ledger.decoder(),
        statuses.as_ref(),
        &first.to_string(),
        moment,
    )
    .await
    .unwrap();
    assert_eq!(capture.status, Some(status_then));
    assert_eq!(capture.sequence as usize, flows[0].2 + 1);

    // Now is what the live views show now; before anything, nothing.
    let now = view_at(ledger.decoder(), queue.as_ref(), chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(now.tables["review_queue"].len(), 1);
    let none = capture_at(
        ledger.decoder(),
        statuses.as_ref(),
        &first.to_string(),
        before_anything,
    )
    .await
    .unwrap();
    assert_eq!((none.sequence, none.status), (0, None));
    assert!(fold_named("queue", keyer).is_err());
}

async fn a_schools_export_verifies_offline_and_any_changed_byte_fails_it(backend: Backend) {
    let store = TestStore::new(backend).await;
    let (ledger, captures, _) = sealed_log(&store).await;
    let db = ledger.db();
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("school-1");
    // The flows' schools are `school-{n % 3}`: the first capture's is school-1.
    let request = ExportRequest {
        school_id: "school-1".into(),
        from: None,
        to: None,
    };
    let manifest = export(db, &key(), &request, &whole).await.unwrap();
    let of_first = last_sequence(db, &captures[0]).await as u64;
    assert_eq!((manifest.events, manifest.captures), (of_first, 1));
    let events = std::fs::read_to_string(whole.join("events.jsonl")).unwrap();
    assert!(events
        .lines()
        .all(|line| line.contains(&captures[0].to_string())));
    let report = verify_export(&whole, &key().public_key()).unwrap();
    assert!(report.verified(), "{:?}", report.findings);
    assert_eq!((report.events, report.seals), (of_first, manifest.seals));
    let again = export(db, &key(), &request, &whole).await;
    assert!(again.is_err(), "an export is never written over");

    // Any byte changed, in any file, fails it.
    let fails = |dir: &std::path::Path| {
        verify_export(dir, &key().public_key()).map_or(true, |report| !report.verified())
    };
    for name in ["events.jsonl", "seals.jsonl", "manifest.json"] {
        let original = std::fs::read(whole.join(name)).unwrap();
        let step = (original.len() / 23).max(1);
        for at in (0..original.len())
            .step_by(step)
            .chain([original.len() - 2])
        {
            let mut changed = original.clone();
            changed[at] = if changed[at] == b'0' { b'1' } else { b'0' };
            std::fs::write(whole.join(name), &changed).unwrap();
            assert!(fails(&whole), "{name} changed at byte {at} still verifies");
        }
        std::fs::write(whole.join(name), &original).unwrap();
    }
    assert!(!fails(&whole));
    assert!(fails(dir.path()), "an export without its files fails");
    let stranger = AuditKey::from_seed([1; 32]);
    let report = verify_export(&whole, &stranger.public_key()).unwrap();
    assert!(!report.verified());

    // Even with every file hash and the manifest's signature made again, an event changed and
    // hashed again is not among the sealed leaves.
    let mut lines: Vec<Value> = events
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let last = lines.last_mut().unwrap();
    let payload = last["payload"].as_str().unwrap().replacen('1', "2", 1);
    let row = (
        last["sequence"].as_i64().unwrap(),
        last["event_type"].as_str().unwrap().to_string(),
        last["event_version"].as_str().unwrap().to_string(),
        payload.clone(),
        last["metadata"].as_str().unwrap().to_string(),
        String::new(),
    );
    let link = EventHash::parse(last["prev_hash"].as_str().unwrap()).unwrap();
    last["payload"] = Value::String(payload);
    last["hash"] = Value::String(hash_of(&captures[0], &row, &link).to_hex());
    let forged: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(whole.join("events.jsonl"), &forged).unwrap();
    let mut manifest: Manifest =
        serde_json::from_str(&std::fs::read_to_string(whole.join("manifest.json")).unwrap())
            .unwrap();
    manifest.files[0].sha256 =
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(forged.as_bytes()));
    manifest.signature = hex::encode(
        ed25519_dalek::Signer::sign(key().signing(), &manifest.signed_bytes()).to_bytes(),
    );
    std::fs::write(
        whole.join("manifest.json"),
        serde_json::to_string(&manifest).unwrap(),
    )
    .unwrap();
    let report = verify_export(&whole, &key().public_key()).unwrap();
    assert!(
        report.findings.len() == 1 && report.findings[0].contains("not the ones it sealed"),
        "{:?}",
        report.findings
    );

    // A period: nothing was recorded before the log began.
    let before = dir.path().join("before");
    let empty = ExportRequest {
        to: Some(chrono::Utc::now() - chrono::Duration::days(1)),
        ..request
    };
    let manifest = export(db, &key(), &empty, &before).await.unwrap();
    assert_eq!((manifest.events, manifest.seals), (0, 0));
    assert!(verify_export(&before, &key().public_key())
        .unwrap()
        .verified());
}
