//! The `ledger-v1` fixture: a capture log written by an earlier version of the service, and the
//! views that version built from it, kept in `fixtures/ledger-v1/` so every later version proves
//! it still reads that log and rebuilds the same views from it.
//!
//! The log covers all 14 event types: a capture taken through the whole flow (paid with prints,
//! rejected, approved, delivered, reprinted, printed, shipped), one claimed and withdrawn before
//! it was submitted again, one rejected under `Rejected` schema 1.0 (one free-text reason), and a
//! free one proven by student number without a batch. Ids and times are fixed, so regenerating
//! on the same code writes the same files.
//!
//! Files, JSON Lines: `events.jsonl` holds the `events` rows in global order, `payload` and
//! `metadata` as the stored text; `<view table>.jsonl` holds each view table's rows ordered by
//! key, timestamps as RFC 3339 UTC and JSON columns as JSON.
//!
//! The fixture is a record of what was written, not of what the current code writes: do not
//! regenerate it to make a failing replay test pass. Regenerate only to start a new generation
//! (as a new directory, keeping this one), with
//! `cargo test --test ledger -- --ignored write_ledger_v1_fixture`.

use std::path::PathBuf;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use photo_ledger::ledger::{CommandRequest, Ledger};
use photo_ledger_domain::checks::CheckResult;
use photo_ledger_domain::commands::*;
use photo_ledger_domain::events::{SchoolRef, VerificationMethod};
use photo_ledger_domain::identity::{IdType, StudentIdentity};
use photo_ledger_domain::metadata::{Actor, EventMetadata, Role};
use photo_ledger_domain::policy::BatchPolicy;
use photo_ledger_domain::values::*;
use photo_ledger_domain::CaptureCommand;
use photo_ledger_store::{on_db, Db};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::Row;
use uuid::Uuid;

use super::{catch_up_all, full_flow_with, recorded_id_number, stored, t0, FlowIds};

pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/ledger-v1")
}

/// One row of the `events` table, payload and metadata as stored text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRow {
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: String,
    pub metadata: String,
}

/// How a view table's column is read.
#[derive(Clone, Copy)]
enum Column {
    Text(&'static str),
    OptionalText(&'static str),
    Time(&'static str),
    Json(&'static str),
}

/// Every view table, its columns, and its key order.
const VIEW_TABLES: &[(&str, &[Column], &str)] = {
    use Column::*;
    &[
        (
            "capture_status",
            &[
                Text("capture_id"),
                Text("owner"),
                Text("school_id"),
                Text("status"),
                Time("updated_at"),
                Json("view"),
            ],
            "capture_id",
        ),
        (
            "review_queue",
            &[
                Text("capture_id"),
                Text("school_id"),
                OptionalText("batch_id"),
                Text("education_type"),
                Time("submitted_at"),
                Json("item"),
            ],
            "capture_id",
        ),
        (
            "courier_orders",
            &[
                Text("order_id"),
                Text("capture_id"),
                Text("status"),
                Time("paid_at"),
                Json("item"),
            ],
            "order_id",
        ),
        (
            "photo_history",
            &[Text("capture_id"), Text("person_key"), Json("item")],
            "capture_id",
        ),
        (
            "history_photos",
            &[Text("photo_id"), Text("capture_id"), Json("item")],
            "photo_id",
        ),
    ]
};

pub fn view_tables() -> impl Iterator<Item = &'static str> {
    VIEW_TABLES.iter().map(|(name, _, _)| *name)
}

fn fixed(n: u128) -> Uuid {
    Uuid::from_u128(0x1ed9_e7a0_0000_4000_8000_0000_0000_0000 | n)
}

pub fn capture(n: u128) -> CaptureId {
    CaptureId::from_uuid(fixed(n << 8))
}

fn flow_ids(capture: u128) -> FlowIds {
    let id = |k: u128| fixed((capture << 8) | k);
    FlowIds {
        fee: OrderId::from_uuid(id(1)),
        reprint: OrderId::from_uuid(id(2)),
        photos: [
            PhotoId::from_uuid(id(3)),
            PhotoId::from_uuid(id(4)),
            PhotoId::from_uuid(id(5)),
            PhotoId::from_uuid(id(6)),
        ],
    }
}

/// Runs commands with fixed metadata: each one recorded a minute after the one before.
struct Recorder<'a> {
    ledger: &'a Ledger,
    clock: DateTime<Utc>,
    count: usize,
}

impl Recorder<'_> {
    async fn run(&mut self, capture: CaptureId, role: Option<Role>, command: CaptureCommand) {
        self.count += 1;
        self.clock += Duration::minutes(1);
        let actor = match role {
            Some(Role::Student) => Actor::new(Role::Student, "openid-fixture"),
            Some(role) => Actor::new(role, format!("{role}-1")),
            None => Actor::system(match &command {
                CaptureCommand::ConfirmPayment(_) => "wechat-pay",
                _ => "standardiser",
            }),
        };
        let name = command.name();
        self.ledger
            .execute(CommandRequest {
                capture_id: capture.to_string(),
                command,
                metadata: EventMetadata {
                    actor,
                    request_id: format!("req-{:04}", self.count),
                    command_id: format!("cmd-{:04}", self.count),
                    recorded_at: self.clock,
                },
            })
            .await
            .unwrap_or_else(|e| panic!("fixture step {} ({name}) refused: {e}", self.count));
    }
}

/// Records the fixture's log through the ledger, then lets every projection catch up.
pub async fn record(ledger: &Ledger) {
    let mut recorder = Recorder {
        ledger,
        clock: t0(),
        count: 0,
    };

    // 1: the whole flow.
    let whole = capture(1);
    for (role, command) in full_flow_with(whole, 1, flow_ids(1)) {
        recorder.run(whole, role, command).await;
    }

    // 2: submitted, claimed, withdrawn, submitted again; waiting in the review queue.
    let withdrawn = capture(2);
    let flow = full_flow_with(withdrawn, 2, flow_ids(2));
    for (role, command) in flow.iter().take(7).cloned() {
        recorder.run(withdrawn, role, command).await;
    }
    recorder
        .run(
            withdrawn,
            Some(Role::Student),
            CaptureCommand::Withdraw(Withdraw { at: t0() }),
        )
        .await;
    let (role, resubmit) = flow[5].clone();
    recorder.run(withdrawn, role, resubmit).await;

    // 3: submitted, then rejected by a version that wrote `Rejected` 1.0.
    let legacy = capture(3);
    let flow = full_flow_with(legacy, 3, flow_ids(3));
    for (role, command) in flow.into_iter().take(6) {
        recorder.run(legacy, role, command).await;
    }
    let v1 = json!({"Rejected": {"reviewer_id": "reviewer-1", "reason": "背景有杂物", "note": "", "rejected_at": "2026-06-01T09:00:00Z"}});
    let metadata = json!({"actor_kind": "reviewer", "actor_id": "reviewer-1", "request_id": "req-legacy", "command_id": "cmd-legacy", "recorded_at": "2026-06-01T09:00:00+00:00"});
    insert_events(
        ledger.db(),
        &[EventRow {
            aggregate_type: "Capture".into(),
            aggregate_id: legacy.to_string(),
            sequence: 7,
            event_type: "Rejected".into(),
            event_version: "1.0".into(),
            payload: v1.to_string(),
            metadata: metadata.to_string(),
        }],
    )
    .await;

    // 4: free, proven by student number without a batch, camera only; one advisory check failed.
    let free = capture(4);
    let ids = flow_ids(4);
    recorder
        .run(
            free,
            Some(Role::Student),
            CaptureCommand::VerifyQualification(VerifyQualification {
                capture_id: free,
                owner: "openid-fixture".into(),
                school: SchoolRef {
                    school_id: "school-2".into(),
                    name: "苏州大学".into(),
                },
                education_type: "成人高等教育".into(),
                batch: None,
                student: StudentIdentity {
                    name: "欧阳娜娜".into(),
                    id_type: IdType::ResidentId,
                    id_number: recorded_id_number("32050219980515002X"),
                    student_number: Some("2023000004".into()),
                    collection_code: None,
                    major: Some("会计学".into()),
                    level: Some("专升本".into()),
                    graduation_year: Some(2027),
                },
                policy: BatchPolicy {
                    album_allowed: false,
                    backgrounds: vec![Background::White],
                    ..BatchPolicy::default()
                },
                verified_by: VerificationMethod::StudentNumber,
                consent: None,
                at: t0(),
            }),
        )
        .await;
    recorder
        .run(
            free,
            Some(Role::Student),
            CaptureCommand::UploadPhoto(UploadPhoto {
                photo: stored(ids.photos[0]),
                source: PhotoSource::Camera,
                at: t0(),
            }),
        )
        .await;
    recorder
        .run(
            free,
            None,
            CaptureCommand::RecordStandardisation(RecordStandardisation {
                source_photo_id: ids.photos[0],
                result: stored(ids.photos[1]),
                background: Background::White,
                spec_name: "chsi".into(),
                spec_version: "1".into(),
                checks: vec![CheckResult {
                    code: "photo.too_dark".into(),
                    value: 0.25,
                    limit: 0.3,
                    passed: false,
                    blocking: false,
                }],
                perceptual_hash: Some("c3c3e1f0f0e1c3c3".into()),
                at: t0(),
            }),
        )
        .await;

    catch_up_all(ledger).await;
}

/// Appends rows to the `events` table as they are, with plain INSERTs in the given order.
pub async fn insert_events(db: &Db, rows: &[EventRow]) {
    let sql = if db.is_postgres() {
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) VALUES ($1, $2, $3, $4, $5, $6::text::json, $7::text::json)"
    } else {
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    };
    on_db!(db, pool => {
        let mut tx = pool.begin().await.unwrap();
        for row in rows {
            sqlx::query(sql)
                .bind(&row.aggregate_type)
                .bind(&row.aggregate_id)
                .bind(row.sequence)
                .bind(&row.event_type)
                .bind(&row.event_version)
                .bind(&row.payload)
                .bind(&row.metadata)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    });
}

/// The `events` table in global order.
pub async fn dump_events(db: &Db) -> Vec<EventRow> {
    let order = if db.is_postgres() {
        "txid, position"
    } else {
        "rowid"
    };
    let sql = format!(
        "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, CAST(payload AS text) AS payload, CAST(metadata AS text) AS metadata FROM events ORDER BY {order}"
    );
    on_db!(db, pool => {
        sqlx::query(&sql)
            .fetch_all(pool)
            .await
            .unwrap()
            .into_iter()
            .map(|row| EventRow {
                aggregate_type: row.get("aggregate_type"),
                aggregate_id: row.get("aggregate_id"),
                sequence: row.get("sequence"),
                event_type: row.get("event_type"),
                event_version: row.get("event_version"),
                payload: row.get("payload"),
                metadata: row.get("metadata"),
            })
            .collect()
    })
}

/// Every row of one view table ordered by key, as JSON objects.
pub async fn dump_view(db: &Db, table: &str) -> Vec<Value> {
    let (_, columns, order) = VIEW_TABLES
        .iter()
        .find(|(name, _, _)| *name == table)
        .unwrap_or_else(|| panic!("{table} is not a view table"));
    let select: Vec<String> = columns
        .iter()
        .map(|column| match column {
            Column::Json(name) => format!("CAST({name} AS text) AS {name}"),
            Column::Text(name) | Column::OptionalText(name) | Column::Time(name) => {
                name.to_string()
            }
        })
        .collect();
    let sql = format!("SELECT {} FROM {table} ORDER BY {order}", select.join(", "));
    on_db!(db, pool => {
        sqlx::query(&sql)
            .fetch_all(pool)
            .await
            .unwrap()
            .into_iter()
            .map(|row| {
                let mut out = serde_json::Map::new();
                for column in columns.iter() {
                    let (name, value) = match *column {
                        Column::Text(name) => (name, json!(row.get::<String, _>(name))),
                        Column::OptionalText(name) => {
                            (name, json!(row.get::<Option<String>, _>(name)))
                        }
                        Column::Time(name) => (
                            name,
                            json!(row
                                .get::<DateTime<Utc>, _>(name)
                                .to_rfc3339_opts(SecondsFormat::AutoSi, true)),
                        ),
                        Column::Json(name) => (
                            name,
                            serde_json::from_str(&row.get::<String, _>(name))
                                .expect("a view column holds JSON"),
                        ),
                    };
                    out.insert(name.to_string(), value);
                }
                Value::Object(out)
            })
            .collect()
    })
}

/// The rows of view table `table` that the fixture's version built, in today's layout. That
/// version kept each capture's photos in its `photo_history` document, and each photo's capture
/// in `photo_captures`; since migration 0020 a photo is a row of `history_photos`, and the
/// capture's row names the photo approved. The recorded tables say the same either way.
pub fn expected_view(table: &str) -> Vec<Value> {
    match table {
        "photo_history" => read_jsonl::<Value>("photo_history.jsonl")
            .into_iter()
            .map(|mut row| {
                let item = &mut row["item"];
                let photos = item
                    .as_object_mut()
                    .and_then(|item| item.remove("photos"))
                    .expect("a v1 history row holds its photos");
                let approved: Vec<&Value> = photos
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|photo| photo["approved"] == json!(true))
                    .map(|photo| &photo["photo_id"])
                    .collect();
                assert!(approved.len() <= 1, "one approved photo at most");
                if let Some(photo_id) = approved.first() {
                    item["approved"] = (*photo_id).clone();
                }
                row
            })
            .collect(),
        "history_photos" => {
            let mut photos: Vec<Value> = read_jsonl::<Value>("photo_history.jsonl")
                .into_iter()
                .flat_map(|row| {
                    let capture_id = row["capture_id"].clone();
                    row["item"]["photos"]
                        .as_array()
                        .expect("a v1 history row holds its photos")
                        .iter()
                        .map(|photo| {
                            json!({
                                "photo_id": photo["photo_id"],
                                "capture_id": capture_id,
                                "item": {"kind": photo["kind"], "recorded_at": photo["recorded_at"]},
                            })
                        })
                        .collect::<Vec<_>>()
                })
                .collect();
            photos.sort_by(|a, b| a["photo_id"].as_str().cmp(&b["photo_id"].as_str()));
            let pairs = |rows: &[Value]| -> Vec<(Value, Value)> {
                rows.iter()
                    .map(|row| (row["photo_id"].clone(), row["capture_id"].clone()))
                    .collect()
            };
            assert_eq!(
                pairs(&photos),
                pairs(&read_jsonl::<Value>("photo_captures.jsonl")),
                "the v1 documents' photos are the photos photo_captures recorded"
            );
            photos
        }
        _ => read_jsonl(&format!("{table}.jsonl")),
    }
}

pub fn read_jsonl<T: serde::de::DeserializeOwned>(name: &str) -> Vec<T> {
    let path = dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), i + 1))
        })
        .collect()
}

pub fn write_jsonl<T: Serialize>(name: &str, rows: &[T]) {
    let mut text = String::new();
    for row in rows {
        text.push_str(&serde_json::to_string(row).expect("fixture rows serialise"));
        text.push('\n');
    }
    std::fs::create_dir_all(dir()).expect("create the fixture directory");
    std::fs::write(dir().join(name), text).expect("write the fixture");
}
