//! Where eligibility and API tests start: a school collecting for two categories, a paid batch
//! for its full-time graduates, and the CSV roster imported.

use chrono::{DateTime, NaiveDate, Utc};
use photo_ledger::eligibility::batches::{self, Batch, NewBatch};
use photo_ledger::eligibility::roster::{self, ImportReport, ImportRequest};
use photo_ledger::eligibility::schools::{self, School};
use photo_ledger::eligibility::EligibilityError;
use photo_ledger_domain::feature_code::FeatureCode;
use photo_ledger_domain::policy::{BatchPolicy, PaperPrintsOffer};
use photo_ledger_domain::values::Fen;
use photo_ledger_store::Db;

pub const SCHOOL: &str = "江南大学";
pub const FULL_TIME: &str = "普通高等教育";
pub const ONLINE: &str = "网络教育";
pub const FEE_FEN: u64 = 2500;
pub const SHEET_FEN: u64 = 1500;
pub const IMPORTED_BY: &str = "教务处 王老师";

/// A roster file from `fixtures/rosters/`.
pub fn roster_fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/fixtures/rosters/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The collection fee paid before upload, paper prints offered.
pub fn paid_policy() -> BatchPolicy {
    BatchPolicy {
        price_fen: Fen::new(FEE_FEN),
        pay_before_upload: true,
        paper_prints: Some(PaperPrintsOffer {
            price_per_sheet_fen: Fen::new(SHEET_FEN),
        }),
        ..BatchPolicy::default()
    }
}

/// Imports roster `bytes` into `school` as the registrar would.
pub async fn import_roster(
    db: &Db,
    school: &str,
    file_name: &str,
    bytes: &[u8],
    batch: Option<&FeatureCode>,
    at: DateTime<Utc>,
) -> Result<ImportReport, EligibilityError> {
    roster::import(
        db,
        ImportRequest {
            school,
            batch,
            file_name,
            bytes,
            imported_by: IMPORTED_BY,
            at,
        },
    )
    .await
}

/// The school, its paid full-time batch (open until `closes_on`) and `graduates.csv`.
pub async fn seed_school(db: &Db, closes_on: NaiveDate, at: DateTime<Utc>) -> (School, Batch) {
    let (school, _) = schools::add(db, SCHOOL, &[FULL_TIME.into(), ONLINE.into()], at)
        .await
        .unwrap();
    let batch = batches::add(
        db,
        NewBatch {
            school: SCHOOL.into(),
            education_type: FULL_TIME.into(),
            policy: paid_policy(),
            closes_at: Some(batches::closes_after(closes_on).unwrap()),
        },
        at,
    )
    .await
    .unwrap();
    let graduates = roster_fixture("graduates.csv");
    import_roster(db, SCHOOL, "graduates.csv", &graduates, None, at)
        .await
        .unwrap();
    (school, batch)
}
