//! Ledger benchmarks on PostgreSQL, without HTTP. Results go to BENCHMARKS.md.
//!
//!     cargo bench --bench ledger -- [--seconds 10] [--events 1000000] [--rounds 3] [--lag-only]
//!                                   [--trace]
//!
//! 1. Commands/s at 1 and 32 concurrent clients, next to pgbench inserting one row of the same
//!    size at the same concurrency, in the same run: the two alternate for `--rounds` rounds
//!    (3 unless told), and the median ratio is reported.
//! 2. Commit-to-view lag p50/p99 under the 32-client load, from a caught-up projector: a probe
//!    client measures, for each of its commands, the time from the command's answer until every
//!    projection has applied it. The clients run on a runtime of their own, apart from the
//!    projector's, as the service's HTTP workers do.
//! 3. Rebuilding all projections from N events, next to `\copy` of the events table: in
//!    process, then `photo-ledger replay` and `\copy` into a fresh table alternating for
//!    `--rounds` rounds, each replay against the `\copy` just before it, and the median ratio
//!    is reported.
//! 4. Audit on the same N events: sealing the identities of a log stored in clear (the one-time
//!    migration), chaining a log stored before hashing, sealing it, `audit
//!    verify` next to the rebuild's time, and the peak memory of `photo-ledger audit export` of
//!    every event (one school's), with the export checked offline.
//!
//! `--lag-only` stops after 2, for comparing the lag of two builds in a few minutes. `--trace`
//! logs each projector batch from 2 on with where its time went (claiming the projections,
//! reading the events and histories, folding, writing, committing), as JSON lines on standard
//! error; the rebuilds' batches too unless `--lag-only` stops the run first.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use photo_ledger::audit::verify as audit_verify;
use photo_ledger::audit::{AuditKey, AuditSettings, Sealer};
use photo_ledger::configuration::{LogSettings, StoreSettings};
use photo_ledger::ledger::{CommandRequest, Ledger};
use photo_ledger::startup::open_ledger;
use photo_ledger_domain::commands::{UploadPhoto, VerifyQualification};
use photo_ledger_domain::events::{SchoolRef, StoredPhoto, VerificationMethod};
use photo_ledger_domain::id_number::IdNumber;
use photo_ledger_domain::identity::{IdType, StudentIdentity};
use photo_ledger_domain::metadata::{Actor, EventMetadata, Role};
use photo_ledger_domain::policy::BatchPolicy;
use photo_ledger_domain::values::{CaptureId, PhotoId, PhotoSource};
use photo_ledger_domain::CaptureCommand;
use photo_ledger_projections::ProjectorConfig;
use photo_ledger_store::log::capture_history;
use photo_ledger_store::personal::{holds_personal_fields, KeyRing};
use photo_ledger_store::seal_existing::seal_existing;
use photo_ledger_store::Db;
use support::{arg, keeping_database, percentile, pgbench, pgbench_tps, psql, BenchDatabase};

mod support;

/// Rewrites the personal fields of every event in the log in clear (the keys stay).
async fn store_personal_fields_in_clear(ledger: &Ledger) {
    let Db::Postgres(pool) = ledger.db() else {
        unreachable!("the ledger benchmark runs on PostgreSQL")
    };
    let captures: Vec<String> = sqlx::query_scalar("SELECT DISTINCT aggregate_id FROM events")
        .fetch_all(pool)
        .await
        .unwrap();
    for capture_id in captures {
        let (mut sequences, mut payloads) = (Vec::new(), Vec::new());
        for logged in capture_history(ledger.decoder(), &capture_id)
            .await
            .unwrap()
        {
            let clear = serde_json::to_value(&logged.event).unwrap();
            let event_type = clear.as_object().unwrap().keys().next().unwrap().clone();
            if holds_personal_fields(&event_type) {
                sequences.push(logged.sequence);
                payloads.push(clear.to_string());
            }
        }
        sqlx::query(
            "UPDATE events SET payload = CAST(u.payload AS json)
               FROM unnest($2::bigint[], $3::text[]) AS u(sequence, payload)
              WHERE aggregate_id = $1 AND events.sequence = u.sequence",
        )
        .bind(&capture_id)
        .bind(&sequences)
        .bind(&payloads)
        .execute(pool)
        .await
        .unwrap();
    }
    sqlx::query("DELETE FROM snapshots")
        .execute(pool)
        .await
        .unwrap();
}

fn request(capture: CaptureId, command: CaptureCommand) -> CommandRequest {
    CommandRequest {
        capture_id: capture.to_string(),
        command,
        metadata: EventMetadata {
            actor: Actor::new(Role::Student, "bench"),
            request_id: "bench".into(),
            command_id: uuid::Uuid::new_v4().to_string(),
            recorded_at: Utc::now(),
        },
    }
}

fn verify(capture: CaptureId) -> CaptureCommand {
    CaptureCommand::VerifyQualification(VerifyQualification {
        capture_id: capture,
        owner: "openid-bench".into(),
        school: SchoolRef {
            school_id: "s1".into(),
            name: "江南大学".into(),
        },
        education_type: "普通高等教育".into(),
        batch: None,
        student: StudentIdentity {
            name: "吴晓兰".into(),
            id_type: IdType::ResidentId,
            id_number: IdNumber::parse(
                IdType::ResidentId,
                "110101199003076624",
                chrono::NaiveDate::from_ymd_opt(2026, 6, 1).unwrap(),
            )
            .unwrap(),
            student_number: None,
            collection_code: None,
            major: None,
            level: None,
            graduation_year: Some(2026),
        },
        policy: BatchPolicy::default(),
        verified_by: VerificationMethod::StudentNumber,
        consent: None,
        at: Utc::now(),
    })
}

fn upload() -> CaptureCommand {
    CaptureCommand::UploadPhoto(UploadPhoto {
        photo: StoredPhoto {
            photo_id: PhotoId::new(),
            sha256: "ab".repeat(32),
            bytes: 30_000,
            width: 480,
            height: 640,
            format: "jpeg".into(),
        },
        source: PhotoSource::Camera,
        at: Utc::now(),
    })
}

/// One client: a new capture, then photo uploads, each a command.
async fn client(ledger: Arc<Ledger>, until: Instant, done: Arc<AtomicU64>) {
    while Instant::now() < until {
        let capture = CaptureId::new();
        ledger
            .execute(request(capture, verify(capture)))
            .await
            .expect("verify");
        done.fetch_add(1, Ordering::Relaxed);
        for _ in 0..20 {
            if Instant::now() >= until {
                return;
            }
            ledger
                .execute(request(capture, upload()))
                .await
                .expect("upload");
            done.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn commands_per_second(ledger: &Arc<Ledger>, clients: usize, seconds: u64) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let until = start + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..clients)
        .map(|_| tokio::spawn(client(ledger.clone(), until, done.clone())))
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

/// pgbench inserting one row shaped like an average event row, `clients` at a time.
fn pgbench_inserts(url: &str, clients: usize, seconds: u64) -> f64 {
    let (payload, metadata) = (
        psql(
            url,
            "SELECT payload::text FROM events WHERE event_type = 'PhotoUploaded' LIMIT 1",
        ),
        psql(
            url,
            "SELECT metadata::text FROM events WHERE event_type = 'PhotoUploaded' LIMIT 1",
        ),
    );
    psql(url, "CREATE TABLE IF NOT EXISTS pgbench_rows (aggregate_type text, aggregate_id text, sequence bigint, event_type text, event_version text, payload json, metadata json)");
    let script = std::env::temp_dir().join("photo-ledger-pgbench.sql");
    std::fs::write(
        &script,
        format!(
            "INSERT INTO pgbench_rows VALUES ('Capture', md5(random()::text), 1, 'PhotoUploaded', '1.0.0', '{}', '{}');\n",
            payload.replace('\'', "''"),
            metadata.replace('\'', "''")
        ),
    )
    .unwrap();
    pgbench_tps(&pgbench(url, clients, seconds, &[&script], &[]))
}

/// Runs the release `photo-ledger` on the benchmark's store under GNU time: its peak resident
/// memory in KiB and its wall time in seconds.
fn measured_cli(data_dir: &std::path::Path, url: &str, args: &[&str]) -> (u64, f64) {
    let measured = std::process::Command::new("/usr/bin/time")
        .args(["-f", "%M %e"])
        .arg(env!("CARGO_BIN_EXE_photo-ledger"))
        .args(["--data-dir", &data_dir.display().to_string()])
        .args(["--database-url", url])
        .env("PHOTO_LEDGER__AUDIT__SIGNING_KEY", hex::encode([5u8; 32]))
        .env("PHOTO_LEDGER__STORE__PERSON_KEY", "bench")
        .args(args)
        .output()
        .unwrap();
    assert!(
        measured.status.success(),
        "{}",
        String::from_utf8_lossy(&measured.stderr)
    );
    let stderr = String::from_utf8_lossy(&measured.stderr);
    stderr
        .lines()
        .last()
        .and_then(|line| line.split_once(' '))
        .map(|(kib, secs)| (kib.parse::<u64>().unwrap(), secs.parse::<f64>().unwrap()))
        .expect("GNU time's last line: max RSS in KiB and seconds")
}

/// The middle value (the upper of the two middle ones for an even count).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() {
    let seconds = arg("--seconds", 10);
    let total_events = arg("--events", 1_000_000);
    let database = BenchDatabase::create("photo_ledger_bench");
    let url = database.url.clone();
    let mut dir = tempfile::tempdir().unwrap();
    if keeping_database() {
        // The master key the data keys are wrapped by lives there: without it the kept
        // database could not be replayed.
        dir.disable_cleanup(true);
        eprintln!("kept the data directory {}", dir.path().display());
    }
    let store = StoreSettings {
        data_dir: dir.path().into(),
        database_url: Some(url.clone().into()),
        person_key: Some("bench".into()),
        db_connections: 40,
        ..StoreSettings::default()
    };
    let ledger = open_ledger(&store, ProjectorConfig::default())
        .await
        .unwrap();

    // The machine's speed drifts over a run by more than the difference measured, so the two
    // alternate, `rounds` times each, and the ratio reported is the median of the rounds'.
    let rounds = arg("--rounds", 3).max(1);
    println!(
        "## Commands/s (PostgreSQL, no HTTP, {seconds} s each, {rounds} alternating rounds)\n"
    );
    println!("| clients | round | photo-ledger commands/s | pgbench single-row inserts/s | ratio |\n|---|---|---|---|---|");
    // pgbench's inserts/s at 32 clients, every round: its mean latency is the lag's yardstick.
    let mut pgbench_32 = Vec::new();
    for clients in [1usize, 32] {
        let mut ratios = Vec::new();
        for round in 1..=rounds {
            let ours = commands_per_second(&ledger, clients, seconds).await;
            let theirs = pgbench_inserts(&url, clients, seconds);
            if clients == 32 {
                pgbench_32.push(theirs);
            }
            ratios.push(ours / theirs);
            println!(
                "| {clients} | {round} | {ours:.0} | {theirs:.0} | {:.2} |",
                ours / theirs
            );
        }
        println!("| {clients} | **median** | | | **{:.2}** |", median(ratios));
    }

    // Lag under load: 32 clients plus a probe, with the projector running.
    let projector_tasks = ledger.projector().spawn();
    let names = ledger.projector().names();
    // Start from a caught-up projector: the backlog of the runs above is not lag under load.
    ledger.projector().catch_up(&names, |_| {}).await.unwrap();
    if std::env::args().any(|a| a == "--trace") {
        let batches = LogSettings {
            json: true,
            filter: "warn,photo_ledger_projections=debug".into(),
        };
        photo_ledger::telemetry::init(&batches).unwrap();
    }
    // The clients and the probe run on a runtime of their own, as the service's HTTP workers
    // do (each has its own), apart from the projector's: in one run queue with 32 busy
    // clients, the projector's task waited behind them at every round trip to the database.
    // It lives as long as the benchmark: the connections its tasks opened are driven by it.
    let clients: &'static tokio::runtime::Runtime = Box::leak(Box::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap(),
    ));
    let done = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(seconds);
    let load: Vec<_> = (0..32)
        .map(|_| clients.spawn(client(ledger.clone(), until, done.clone())))
        .collect();
    let (probe_ledger, probe_names) = (ledger.clone(), names.clone());
    let probing = clients.spawn(async move {
        let (ledger, names) = (probe_ledger, probe_names);
        let mut lags = Vec::new();
        let mut probe = CaptureId::new();
        ledger.execute(request(probe, verify(probe))).await.unwrap();
        while Instant::now() < until {
            if lags.len() % 20 == 19 {
                // A capture holds a bounded number of photos: the probe moves on to a new one.
                probe = CaptureId::new();
                ledger.execute(request(probe, verify(probe))).await.unwrap();
            }
            let outcome = ledger.execute(request(probe, upload())).await.unwrap();
            let answered = Instant::now();
            // A wait that times out (5 s) counts at its full length.
            let _ = ledger.wait_for_projections(&outcome, &names).await;
            lags.push(answered.elapsed());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        lags
    });
    let mut lags = probing.await.unwrap();
    for t in load {
        t.await.unwrap();
    }
    lags.sort();
    println!(
        "\n## Commit-to-view lag under 32 clients ({} probes, all {} projections)\n",
        lags.len(),
        names.len()
    );
    pgbench_32.sort_by(f64::total_cmp);
    // Little's law: 32 clients at pgbench's median rate wait this long per insert on average.
    let pgbench_latency = Duration::from_secs_f64(32.0 / pgbench_32[pgbench_32.len() / 2]);
    let p99 = percentile(&lags, 0.99);
    println!(
        "| p50 | p99 | max | pgbench's mean latency at 32 clients | p99 as a multiple of it (target ≤ 10) |\n|---|---|---|---|---|\n| {:.1?} | {p99:.1?} | {:.1?} | {pgbench_latency:.2?} | **{:.1}** |",
        percentile(&lags, 0.5),
        lags[lags.len() - 1],
        p99.as_secs_f64() / pgbench_latency.as_secs_f64()
    );
    drop(projector_tasks);
    if std::env::args().any(|a| a == "--lag-only") {
        return;
    }

    // Rebuild: fill the log to `total_events` by repeating real captures' histories under new ids.
    // A copy rewrites every id in the payloads' text, the data keys' ids included, so a sealed
    // field could not be opened in a copy: the recorded captures' personal fields are stored in
    // clear first, as a log written before sealing existed, and the one-time migration then
    // seals every copy under a key of its own (timed below).
    store_personal_fields_in_clear(&ledger).await;
    let have: i64 = psql(&url, "SELECT count(*) FROM events").parse().unwrap();
    let template_captures: i64 = psql(&url, "SELECT count(DISTINCT aggregate_id) FROM events")
        .parse()
        .unwrap();
    let copies = ((total_events as i64 - have).max(0) + have - 1) / have.max(1);
    // Every id in a copy (capture, photos, orders) gets the copy's number as its first 8 hex
    // digits, so copies are distinct captures with distinct photos; copies follow one another,
    // each replaying the recorded timeline in its global order (heap order is not that order:
    // concurrent writers fill different pages).
    psql(
        &url,
        &format!(
            r#"INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
        SELECT aggregate_type, lpad(to_hex(g), 8, '0') || substr(aggregate_id, 9), sequence, event_type, event_version,
               regexp_replace(payload::text, '"[0-9a-f]{{8}}(-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{12}})"',
                              '"' || lpad(to_hex(g), 8, '0') || '\1"', 'g')::json,
               metadata
          FROM events, generate_series(1, {copies}) g
         ORDER BY g, events.txid, events.position"#
        ),
    );
    let events: i64 = psql(&url, "SELECT count(*) FROM events").parse().unwrap();
    let copy_file = dir.path().join("events.copy");
    let started = Instant::now();
    psql(&url, &format!("\\copy (SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata FROM events) TO '{}'", copy_file.display()));
    let copy_out = started.elapsed();
    // `\copy` of the events into a fresh table without indexes: the floor the rebuild is
    // compared with.
    let time_copy_in = || {
        psql(
            &url,
            "DROP TABLE IF EXISTS events_copy; \
             CREATE TABLE events_copy (LIKE events INCLUDING DEFAULTS INCLUDING IDENTITY)",
        );
        let started = Instant::now();
        psql(&url, &format!("\\copy events_copy (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) FROM '{}'", copy_file.display()));
        started.elapsed()
    };

    let db = ledger.db().clone();
    let keys = KeyRing::new(db.clone(), store.master_keys().unwrap());
    // The copies stand for a log written before sealing existed, which has no record of the
    // migration: opening the store on the benchmark's first events recorded it as finished.
    psql(&url, "DELETE FROM data_migrations");
    let started = Instant::now();
    let migrated = seal_existing(&db, &keys).await.unwrap();
    let migration_time = started.elapsed();
    // What autovacuum would have done by now in a deployment (a development machine's
    // PostgreSQL may run without it): the rewritten rows' old versions gone from the table and
    // its indexes, and statistics for the planner and for `replay`'s progress estimate.
    psql(&url, "VACUUM ANALYZE");

    let rebuild = ProjectorConfig {
        batch_size: 5000,
        ..ProjectorConfig::default()
    };
    let ledger = open_ledger(&store, rebuild).await.unwrap();
    let mut rows = Vec::new();
    let names = ledger.projector().names();
    for name in &names {
        ledger.projector().reset(name).await.unwrap();
        let started = Instant::now();
        let n = ledger.projector().catch_up(&[name], |_| {}).await.unwrap();
        rows.push((*name, n, started.elapsed()));
    }
    for name in &names {
        ledger.projector().reset(name).await.unwrap();
    }
    let all = Instant::now();
    ledger.projector().catch_up(&names, |_| {}).await.unwrap();
    let all = all.elapsed();
    // The replay and the `\copy` alternate, as the commands and pgbench do: a `\copy` timed
    // once, just after the log was generated, took up to twice as long as on the quiet database
    // and flattered the ratio.
    let mut replays = Vec::new();
    for _ in 0..rounds {
        let copy = time_copy_in();
        let (kib, secs) = measured_cli(dir.path(), &url, &["replay"]);
        replays.push((copy, Duration::from_secs_f64(secs), kib));
    }
    let copy_in = Duration::from_secs_f64(median(
        replays
            .iter()
            .map(|(copy, ..)| copy.as_secs_f64())
            .collect(),
    ));
    println!("\n## Rebuilding projections from {events} events ({template_captures} captures repeated {copies} times)\n");
    println!("| what | time | events/s | vs \\copy in |\n|---|---|---|---|");
    let rate = |d: Duration| events as f64 / d.as_secs_f64();
    println!(
        "| `\\copy events TO file` | {copy_out:.2?} | {:.0} | |",
        rate(copy_out)
    );
    println!(
        "| `\\copy FROM file` into a copy of events, the median of {rounds} | {copy_in:.2?} | {:.0} | 1.00 |",
        rate(copy_in)
    );
    for (name, n, d) in &rows {
        println!(
            "| rebuild {name} | {d:.2?} | {:.0} | {:.2} |",
            *n as f64 / d.as_secs_f64(),
            rate(*d) / rate(copy_in)
        );
    }
    println!(
        "| rebuild all {} in one pass, in process | {all:.2?} | {:.0} | {:.2} |",
        names.len(),
        rate(all),
        rate(all) / rate(copy_in)
    );
    println!(
        "\n`photo-ledger replay` of all {} (whole process), each round against the `\\copy` just before it:\n",
        names.len()
    );
    println!("| round | `\\copy` in | replay | ratio | peak resident |\n|---|---|---|---|---|");
    for (round, (copy, replay, kib)) in replays.iter().enumerate() {
        println!(
            "| {} | {copy:.2?} | {replay:.2?} | {:.2} | {:.1} MiB |",
            round + 1,
            copy.as_secs_f64() / replay.as_secs_f64(),
            *kib as f64 / 1024.0
        );
    }
    println!(
        "| **median** | | | **{:.2}** (target ≥ 0.6) | at most **{:.1} MiB** (target ≤ 256 MB) |",
        median(
            replays
                .iter()
                .map(|(copy, replay, _)| copy.as_secs_f64() / replay.as_secs_f64())
                .collect()
        ),
        replays.iter().map(|(.., kib)| *kib).max().unwrap_or(0) as f64 / 1024.0
    );

    // Audit. The copies were inserted without hashes: opening the store chained them (no seal
    // existed yet); time it again on a fresh copy of the question, then seal and verify.
    let db = ledger.db().clone();
    psql(&url, "UPDATE events SET hash = NULL, prev_hash = NULL");
    let started = Instant::now();
    let chained = photo_ledger_store::chain::chain_unhashed(&db)
        .await
        .unwrap();
    let chain_time = started.elapsed();
    let key = AuditKey::from_seed([5; 32]);
    let started = Instant::now();
    let seals = Sealer::new(db.clone(), key.clone(), &AuditSettings::default())
        .seal_all()
        .await
        .unwrap();
    let seal_time = started.elapsed();
    let started = Instant::now();
    let report = audit_verify::verify(&db, &[key.public_key()], None)
        .await
        .unwrap();
    let verify_time = started.elapsed();
    assert!(
        report.verified(),
        "{:?}",
        &report.findings[..report.findings.len().min(5)]
    );
    let export_dir = dir.path().join("export");
    let export_dir_arg = export_dir.display().to_string();
    let (export_kib, export_secs) = measured_cli(
        dir.path(),
        &url,
        &["audit", "export", "--school-id", "s1", &export_dir_arg],
    );
    let started = Instant::now();
    let checked =
        photo_ledger::audit::export::verify_export(&export_dir, &key.public_key()).unwrap();
    let export_check_time = started.elapsed();
    assert!(
        checked.verified(),
        "{:?}",
        &checked.findings[..checked.findings.len().min(5)]
    );
    println!("\n## Audit on the same {events} events\n");
    println!("| what | time | events/s | vs the rebuild of all projections |\n|---|---|---|---|");
    println!(
        "| seal the identities of a log stored in clear ({} captures, {} events sealed, every event chained again) | {migration_time:.2?} | {:.0} | |",
        migrated.captures,
        migrated.events,
        rate(migration_time)
    );
    println!(
        "| chain a log stored before hashing ({chained} events) | {chain_time:.2?} | {:.0} | |",
        rate(chain_time)
    );
    println!(
        "| `audit seal` ({} seals) | {seal_time:.2?} | {:.0} | |",
        seals.len(),
        rate(seal_time)
    );
    println!(
        "| `audit verify` | {verify_time:.2?} | {:.0} | **{:.2}** of its time (target ≤ 1.00) |",
        rate(verify_time),
        verify_time.as_secs_f64() / all.as_secs_f64()
    );
    println!(
        "| `audit export` of all {} events (whole process) | {export_secs:.2} s | | peak resident **{:.1} MiB** (target ≤ 100 MB) |",
        checked.events,
        export_kib as f64 / 1024.0
    );
    println!(
        "| `audit verify --export` (in process) | {export_check_time:.2?} | {:.0} | |",
        checked.events as f64 / export_check_time.as_secs_f64()
    );
    ledger.db().close().await;
}
