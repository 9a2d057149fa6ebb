//! Shared test harness: a fresh database per test on either store, a ledger over it, and
//! command builders for whole capture flows.
#![allow(dead_code)]

pub mod ledger_v1;
pub mod school;

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use photo_ledger::configuration::StoreSettings;
use photo_ledger::ledger::{CommandOutcome, CommandRequest, Ledger, LedgerError};
use photo_ledger::startup::open_ledger;
use photo_ledger_domain::commands::*;
use photo_ledger_domain::events::{
    BatchRef, ChsiStage, SchoolRef, StoredPhoto, VerificationMethod,
};
use photo_ledger_domain::feature_code::FeatureCode;
use photo_ledger_domain::id_number::IdNumber;
use photo_ledger_domain::identity::{IdType, StudentIdentity};
use photo_ledger_domain::metadata::{Actor, EventMetadata, Role};
use photo_ledger_domain::orders::{OrderPurpose, PrintRequest};
use photo_ledger_domain::policy::{BatchPolicy, PaperPrintsOffer};
use photo_ledger_domain::reasons::RejectReason;
use photo_ledger_domain::tracking_no::TrackingNo;
use photo_ledger_domain::values::*;
use photo_ledger_domain::CaptureCommand;
use photo_ledger_projections::ProjectorConfig;
use photo_ledger_store::{on_db, Db};
use serde_json::Value;

/// Runs each named `async fn(Backend)` as two tests: `sqlite::name` and `postgres::name`.
#[allow(unused_macros)]
macro_rules! on_both_stores {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $test() { super::$test(super::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $test() { super::$test(super::Backend::Postgres).await })*
        }
    };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestStore {
    pub settings: StoreSettings,
    _dir: tempfile::TempDir,
}

/// The server tests create their databases on. CI starts PostgreSQL; a missing server fails the
/// tests loudly rather than skipping them.
pub fn postgres_admin_url() -> String {
    std::env::var("PHOTO_LEDGER_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Each PostgreSQL test database is dropped with its store, so runs do not pile them up.
impl Drop for TestStore {
    fn drop(&mut self) {
        let Some(name) = self
            .settings
            .database_url()
            .and_then(|url| url.rsplit_once('/'))
            .map(|(_, name)| name.to_string())
        else {
            return;
        };
        let (admin, database) = (postgres_admin_url(), name.clone());
        // Its own thread and runtime: `drop` cannot await, and the test's runtime may be ending.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let pool = sqlx::PgPool::connect(&admin).await.ok()?;
                let sql = format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)");
                sqlx::query(&sql).execute(&pool).await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("test database {name} was left behind");
        }
    }
}

impl TestStore {
    pub async fn new(backend: Backend) -> TestStore {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut settings = StoreSettings::embedded(dir.path());
        settings.person_key = Some("test-person-key".into());
        settings.db_connections = 40;
        if backend == Backend::Postgres {
            let admin = postgres_admin_url();
            let pool = sqlx::PgPool::connect(&admin).await.unwrap_or_else(|e| {
                panic!(
                    "PostgreSQL is required for these tests and is not reachable at {admin}: {e}"
                )
            });
            let name = format!("photo_ledger_test_{}", uuid::Uuid::new_v4().simple());
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&pool)
                .await
                .expect("create test database");
            pool.close().await;
            let base = admin
                .rsplit_once('/')
                .map(|(b, _)| b.to_string())
                .unwrap_or(admin);
            settings.database_url = Some(format!("{base}/{name}").into());
        }
        TestStore {
            settings,
            _dir: dir,
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.settings.data_dir.clone()
    }

    pub async fn ledger(&self) -> Arc<Ledger> {
        self.ledger_with(ProjectorConfig {
            idle_poll: std::time::Duration::from_millis(50),
            ..ProjectorConfig::default()
        })
        .await
    }

    pub async fn ledger_with(&self, config: ProjectorConfig) -> Arc<Ledger> {
        open_ledger(&self.settings, config)
            .await
            .expect("ledger opens")
    }

    /// The CLI's store arguments for this database.
    pub fn cli_args(&self) -> Vec<String> {
        let mut args = vec![
            "--data-dir".to_string(),
            self.settings.data_dir.display().to_string(),
        ];
        if let Some(url) = self.settings.database_url() {
            args.extend(["--database-url".to_string(), url.to_string()]);
        }
        args.extend(["--person-key".to_string(), "test-person-key".to_string()]);
        args
    }
}

pub fn t0() -> DateTime<Utc> {
    "2026-06-01T08:00:00Z".parse().unwrap()
}

/// `role` is `None` for the service's own commands.
pub fn meta(role: impl Into<Option<Role>>, actor: &str, command_id: &str) -> EventMetadata {
    EventMetadata {
        actor: Actor {
            role: role.into(),
            id: actor.into(),
        },
        request_id: format!("req-{command_id}"),
        command_id: command_id.into(),
        recorded_at: Utc::now(),
    }
}

pub async fn run(
    ledger: &Ledger,
    capture: &str,
    kind: impl Into<Option<Role>>,
    command: CaptureCommand,
) -> Result<CommandOutcome, LedgerError> {
    ledger
        .execute(CommandRequest {
            capture_id: capture.into(),
            command,
            metadata: meta(kind, "actor-1", &uuid::Uuid::new_v4().to_string()),
        })
        .await
}

pub fn policy() -> BatchPolicy {
    BatchPolicy {
        price_fen: Fen::new(2500),
        paper_prints: Some(PaperPrintsOffer {
            price_per_sheet_fen: Fen::new(1500),
        }),
        ..BatchPolicy::default()
    }
}

pub fn verify(capture: CaptureId, n: usize) -> CaptureCommand {
    CaptureCommand::VerifyQualification(VerifyQualification {
        capture_id: capture,
        owner: format!("openid-{n}"),
        school: SchoolRef {
            school_id: format!("school-{}", n % 3),
            name: "江南大学".into(),
        },
        education_type: "普通高等教育".into(),
        batch: Some(BatchRef {
            batch_id: "batch-1".into(),
            feature_code: FeatureCode::parse("Z3K8F7").unwrap(),
        }),
        student: StudentIdentity {
            name: "吴晓兰".into(),
            id_type: IdType::ResidentId,
            id_number: recorded_id_number(&format!("11010119900307{:04}", n % 10_000)),
            student_number: Some(format!("2022{n:06}")),
            collection_code: None,
            major: None,
            level: Some("本科".into()),
            graduation_year: Some(2026),
        },
        policy: policy(),
        verified_by: VerificationMethod::CollectionCode,
        consent: None,
        at: t0(),
    })
}

/// An ID number as these tests' logs hold it. Most were made up before numbers were checked, so
/// they do not pass [`IdNumber::parse`]; they are read the way the log reads a recorded number,
/// from JSON, without checking.
pub fn recorded_id_number(number: &str) -> IdNumber {
    serde_json::from_value(Value::String(number.into())).expect("any string reads as recorded")
}

pub fn stored(photo: PhotoId) -> StoredPhoto {
    StoredPhoto {
        photo_id: photo,
        sha256: "ab".repeat(32),
        bytes: 30_000,
        width: 480,
        height: 640,
        format: "jpeg".into(),
    }
}

fn prints() -> PrintRequest {
    PrintRequest {
        layout: PrintLayout::One,
        sheets: 1,
        recipient: "吴晓兰".into(),
        phone: "13800000000".into(),
        address: "无锡市蠡湖大道1800号".into(),
    }
}

/// Commands that take one capture through every stage: paid with prints, rejected once,
/// approved, delivered, reprinted, printed and shipped. 19 events.
pub fn full_flow(capture: CaptureId, n: usize) -> Vec<(Option<Role>, CaptureCommand)> {
    full_flow_with(capture, n, FlowIds::random())
}

/// The orders and photos a [`full_flow`] creates.
#[derive(Clone, Copy, Debug)]
pub struct FlowIds {
    pub fee: OrderId,
    pub reprint: OrderId,
    /// First upload, its standard photo, second upload, its standard photo.
    pub photos: [PhotoId; 4],
}

impl FlowIds {
    pub fn random() -> Self {
        FlowIds {
            fee: OrderId::new(),
            reprint: OrderId::new(),
            photos: [
                PhotoId::new(),
                PhotoId::new(),
                PhotoId::new(),
                PhotoId::new(),
            ],
        }
    }
}

/// [`full_flow`] with the given order and photo ids, for logs that must come out the same on
/// every run.
pub fn full_flow_with(
    capture: CaptureId,
    n: usize,
    ids: FlowIds,
) -> Vec<(Option<Role>, CaptureCommand)> {
    let FlowIds {
        fee,
        reprint,
        photos: [p1, s1, p2, s2],
    } = ids;
    let at = t0();
    let standardise = |source, result| {
        CaptureCommand::RecordStandardisation(RecordStandardisation {
            source_photo_id: source,
            result: stored(result),
            background: Background::Blue,
            spec_name: "chsi".into(),
            spec_version: "1".into(),
            checks: vec![],
            perceptual_hash: None,
            at,
        })
    };
    // Who sends each command: a person in a role, or the service itself (`None`).
    let (student, reviewer, courier, admin, system) = (
        Some(Role::Student),
        Some(Role::Reviewer),
        Some(Role::Courier),
        Some(Role::Admin),
        None,
    );
    vec![
        (student, verify(capture, n)),
        (
            student,
            CaptureCommand::PlaceOrder(PlaceOrder {
                order_id: fee,
                purpose: OrderPurpose::Collection,
                prints: Some(prints()),
                at,
            }),
        ),
        (
            system,
            CaptureCommand::ConfirmPayment(ConfirmPayment {
                order_id: fee,
                amount_fen: Fen::new(4000),
                provider: "wechat".into(),
                transaction_id: format!("tx-{capture}"),
                paid_at: at,
            }),
        ),
        (
            student,
            CaptureCommand::UploadPhoto(UploadPhoto {
                photo: stored(p1),
                source: PhotoSource::Camera,
                at,
            }),
        ),
        (system, standardise(p1, s1)),
        (
            student,
            CaptureCommand::Submit(Submit {
                standard_photo_id: s1,
                same_photos: vec![],
                at,
            }),
        ),
        (
            reviewer,
            CaptureCommand::ClaimReview(ClaimReview {
                reviewer_id: "r1".into(),
                at,
                ttl: Duration::minutes(10),
            }),
        ),
        (
            reviewer,
            CaptureCommand::Reject(Reject {
                reviewer_id: "r1".into(),
                reasons: vec![RejectReason::Blurred],
                note: "请重拍".into(),
                at,
            }),
        ),
        (
            student,
            CaptureCommand::UploadPhoto(UploadPhoto {
                photo: stored(p2),
                source: PhotoSource::Album,
                at,
            }),
        ),
        (system, standardise(p2, s2)),
        (
            student,
            CaptureCommand::Submit(Submit {
                standard_photo_id: s2,
                same_photos: vec![],
                at,
            }),
        ),
        (
            reviewer,
            CaptureCommand::Approve(Approve {
                reviewer_id: "r2".into(),
                at,
            }),
        ),
        (
            admin,
            CaptureCommand::MarkDelivered(MarkDelivered {
                stage: ChsiStage::Uploading,
                at,
            }),
        ),
        (
            admin,
            CaptureCommand::MarkDelivered(MarkDelivered {
                stage: ChsiStage::Completed,
                at,
            }),
        ),
        (
            courier,
            CaptureCommand::MarkPrinted(MarkPrinted { order_id: fee, at }),
        ),
        (
            courier,
            CaptureCommand::Ship(Ship {
                order_id: fee,
                carrier: "顺丰".into(),
                tracking_no: TrackingNo::parse(&format!("SF{n}")).unwrap(),
                at,
            }),
        ),
        (
            student,
            CaptureCommand::PlaceOrder(PlaceOrder {
                order_id: reprint,
                purpose: OrderPurpose::Reprint,
                prints: Some(prints()),
                at,
            }),
        ),
        (
            system,
            CaptureCommand::ConfirmPayment(ConfirmPayment {
                order_id: reprint,
                amount_fen: Fen::new(1500),
                provider: "wechat".into(),
                transaction_id: format!("tx-r-{capture}"),
                paid_at: at,
            }),
        ),
    ]
}

pub async fn run_full_flow(ledger: &Ledger, n: usize) -> CaptureId {
    let capture = CaptureId::new();
    for (kind, command) in full_flow(capture, n) {
        run(ledger, &capture.to_string(), kind, command)
            .await
            .expect("every step of the flow is accepted");
    }
    capture
}

/// Every projection table and document, as ordered JSON, to compare live views with a replay.
pub async fn dump_views(db: &Db) -> Value {
    let queries = [
        (
            "capture_status",
            "SELECT capture_id AS k, CAST(view AS text) AS v FROM capture_status ORDER BY 1",
        ),
        (
            "review_queue",
            "SELECT capture_id AS k, CAST(item AS text) AS v FROM review_queue ORDER BY 1",
        ),
        (
            "courier_orders",
            "SELECT order_id AS k, CAST(item AS text) AS v FROM courier_orders ORDER BY 1",
        ),
        (
            "photo_history",
            "SELECT capture_id || person_key AS k, CAST(item AS text) AS v FROM photo_history ORDER BY 1",
        ),
        (
            "history_photos",
            "SELECT photo_id AS k, capture_id || ' ' || CAST(item AS text) AS v FROM history_photos ORDER BY 1",
        ),
        (
            "refunds",
            "SELECT refund_id AS k, CAST(item AS text) AS v FROM refunds ORDER BY 1",
        ),
        (
            // Everything but `added`, which numbers rows as they are written.
            "same_photo_index",
            "SELECT photo_id AS k, capture_id || ' ' || person_key || ' ' || hash || ' ' || school || ' ' || education_type AS v FROM same_photo_index ORDER BY 1",
        ),
        (
            "collection_progress",
            "SELECT capture_id AS k, school_id || ' ' || COALESCE(batch_id, '') || ' ' || education_type || ' ' \
             || COALESCE(student_number, '') || ' ' || status || ' ' || COALESCE(CAST(paid_at AS text), '') || ' ' \
             || COALESCE(CAST(photographed_at AS text), '') || ' ' || COALESCE(CAST(submitted_at AS text), '') || ' ' \
             || COALESCE(CAST(decided_at AS text), '') || ' ' || COALESCE(CAST(review_wait_secs AS text), '') AS v \
             FROM collection_progress ORDER BY 1",
        ),
    ];
    let mut out = serde_json::Map::new();
    for (name, sql) in queries {
        let rows: Vec<(String, String)> =
            on_db!(db, pool => sqlx::query_as(sql).fetch_all(pool).await).unwrap();
        out.insert(
            name.into(),
            Value::Array(
                rows.into_iter()
                    .map(|(k, v)| serde_json::json!([k, v]))
                    .collect(),
            ),
        );
    }
    Value::Object(out)
}

/// Runs every projection until it has consumed the whole log.
pub async fn catch_up_all(ledger: &Ledger) {
    let projector = ledger.projector();
    projector
        .catch_up(&projector.names(), |_| {})
        .await
        .expect("catch up");
}
