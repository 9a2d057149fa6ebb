//! Collection batches (集中采集批次): one school's collection for one education category, with
//! its feature code, its price and its policy.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use photo_ledger_domain::events::BatchRef;
use photo_ledger_domain::feature_code::FeatureCode;
use photo_ledger_domain::policy::{BatchPolicy, PaperPrintsOffer};
use photo_ledger_domain::values::{Background, Fen};
use photo_ledger_store::{on_db, Db};
use rand::Rng;
use serde::Serialize;

use super::error::EligibilityError;
use super::schools;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Batch {
    pub batch_id: String,
    pub school_id: String,
    pub school_name: String,
    pub education_type: String,
    pub feature_code: FeatureCode,
    pub policy: BatchPolicy,
    /// The first instant after the deadline; `None` never closes.
    pub closes_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl Batch {
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        self.closes_at.is_none_or(|closes| now < closes)
    }

    pub fn require_open(&self, now: DateTime<Utc>) -> Result<(), EligibilityError> {
        match self.closes_at {
            Some(closed_at) if now >= closed_at => Err(EligibilityError::BatchClosed {
                feature_code: self.feature_code.to_string(),
                closed_at,
            }),
            _ => Ok(()),
        }
    }

    pub fn reference(&self) -> BatchRef {
        BatchRef {
            batch_id: self.batch_id.clone(),
            feature_code: self.feature_code.clone(),
        }
    }
}

/// The years a deadline may fall in: any real collection's, and nothing a database or a
/// clock cannot hold.
pub const DEADLINE_YEARS: std::ops::RangeInclusive<i32> = 2000..=2100;

/// A deadline day ends at midnight China time (UTC+8): the batch closes then. Days outside
/// [`DEADLINE_YEARS`] are refused.
pub fn closes_after(deadline: NaiveDate) -> Result<DateTime<Utc>, EligibilityError> {
    if !DEADLINE_YEARS.contains(&deadline.year()) {
        return Err(EligibilityError::InvalidInput(format!(
            "截止日期 {deadline} 不在 {} 至 {} 年之间",
            DEADLINE_YEARS.start(),
            DEADLINE_YEARS.end()
        )));
    }
    Ok(crate::china_time::midnight(deadline + Duration::days(1)))
}

pub struct NewBatch {
    pub school: String,
    pub education_type: String,
    pub policy: BatchPolicy,
    pub closes_at: Option<DateTime<Utc>>,
}

/// Feature codes are drawn until one is free; with 31⁶ codes a clash is already rare.
const CODE_DRAWS: usize = 16;

pub async fn add(db: &Db, new: NewBatch, now: DateTime<Utc>) -> Result<Batch, EligibilityError> {
    let school = schools::by_name(db, &new.school).await?;
    let education_type = new.education_type.trim();
    school.require_category(education_type)?;
    let batch_id = uuid::Uuid::new_v4().to_string();
    let policy = &new.policy;
    let (backgrounds, paper_prints_fen) = stored(policy)?;
    for _ in 0..CODE_DRAWS {
        let code = FeatureCode::generate(|n| rand::thread_rng().gen_range(0..n));
        let inserted = on_db!(db, pool => sqlx::query(
            "INSERT INTO batches (batch_id, school_id, education_type, feature_code, price_fen,
                pay_before_upload, album_allowed, backgrounds, paper_prints_fen, closes_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (feature_code) DO NOTHING")
            .bind(&batch_id)
            .bind(&school.school_id)
            .bind(education_type)
            .bind(code.as_str())
            .bind(price_to_db(policy.price_fen)?)
            .bind(policy.pay_before_upload)
            .bind(policy.album_allowed)
            .bind(&backgrounds)
            .bind(paper_prints_fen)
            .bind(new.closes_at)
            .bind(now)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
        if inserted == 1 {
            return by_id(db, &batch_id)
                .await?
                .ok_or_else(|| EligibilityError::UnknownBatch(code.to_string()));
        }
    }
    Err(EligibilityError::InvalidInput(
        "未能生成未被占用的特征码，请重试".into(),
    ))
}

/// A policy's backgrounds and paper-print price as the `batches` table stores them: at least one
/// background (a capture's policy with none would offer any colour at all), each once.
fn stored(policy: &BatchPolicy) -> Result<(String, Option<i64>), EligibilityError> {
    if policy.backgrounds.is_empty() {
        return Err(EligibilityError::InvalidInput("至少提供一种背景色".into()));
    }
    let mut backgrounds: Vec<String> = Vec::new();
    for background in policy.backgrounds.iter().map(Background::to_string) {
        if !backgrounds.contains(&background) {
            backgrounds.push(background);
        }
    }
    let backgrounds = backgrounds.join(",");
    let paper_prints_fen = policy
        .paper_prints
        .map(|offer| price_to_db(offer.price_per_sheet_fen))
        .transpose()?;
    Ok((backgrounds, paper_prints_fen))
}

/// Whether any student has proved who they are in the batch: from then on its policy is part
/// of their captures (each capture keeps the policy it was verified under).
/// (One probe of `collection_progress`'s (school, batch, status) index.)
pub async fn in_use(db: &Db, batch: &Batch) -> Result<bool, EligibilityError> {
    let used: Option<(String,)> = on_db!(db, pool => sqlx::query_as(
        "SELECT capture_id FROM collection_progress
          WHERE school_id = $1 AND batch_id = $2 LIMIT 1")
        .bind(&batch.school_id)
        .bind(&batch.batch_id)
        .fetch_optional(pool)
        .await)?;
    Ok(used.is_some())
}

/// Changes a batch's policy and deadline, while no student has been verified in it.
pub async fn edit(
    db: &Db,
    batch_id: &str,
    policy: &BatchPolicy,
    closes_at: Option<DateTime<Utc>>,
) -> Result<Batch, EligibilityError> {
    let batch = by_id(db, batch_id)
        .await?
        .ok_or_else(|| EligibilityError::UnknownBatch(batch_id.to_string()))?;
    if in_use(db, &batch).await? {
        return Err(EligibilityError::BatchInUse(batch.feature_code.to_string()));
    }
    let (backgrounds, paper_prints_fen) = stored(policy)?;
    on_db!(db, pool => sqlx::query(
        "UPDATE batches SET price_fen = $2, pay_before_upload = $3, album_allowed = $4,
                backgrounds = $5, paper_prints_fen = $6, closes_at = $7
          WHERE batch_id = $1")
        .bind(batch_id)
        .bind(price_to_db(policy.price_fen)?)
        .bind(policy.pay_before_upload)
        .bind(policy.album_allowed)
        .bind(&backgrounds)
        .bind(paper_prints_fen)
        .bind(closes_at)
        .execute(pool)
        .await
        .map(|_| ()))?;
    by_id(db, batch_id)
        .await?
        .ok_or(EligibilityError::UnknownBatch(
            batch.feature_code.to_string(),
        ))
}

/// Closes a batch now; one already closed keeps the moment it closed.
pub async fn close(db: &Db, batch_id: &str, now: DateTime<Utc>) -> Result<Batch, EligibilityError> {
    on_db!(db, pool => sqlx::query(
        "UPDATE batches SET closes_at = $2
          WHERE batch_id = $1 AND (closes_at IS NULL OR closes_at > $2)")
        .bind(batch_id)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))?;
    by_id(db, batch_id)
        .await?
        .ok_or_else(|| EligibilityError::UnknownBatch(batch_id.to_string()))
}

/// The most a batch may charge for a collection or for a sheet of prints: far above any real
/// fee, and low enough that an order of the most sheets stays well inside what WeChat Pay takes
/// (a 32-bit count of fen) and what the tables store.
pub const MAX_PRICE: Fen = Fen::new(1_000_000); // ¥10,000.00

/// A batch's price as the `batches` table stores it, once within [`MAX_PRICE`].
fn price_to_db(fen: Fen) -> Result<i64, EligibilityError> {
    if fen > MAX_PRICE {
        return Err(EligibilityError::InvalidInput(format!(
            "金额 {fen} 超过上限 {MAX_PRICE}"
        )));
    }
    Ok(i64::try_from(fen.fen()).expect("within MAX_PRICE"))
}

const SELECT: &str = "SELECT b.batch_id, b.school_id, s.name, b.education_type, b.feature_code,
    b.price_fen, b.pay_before_upload, b.album_allowed, b.backgrounds, b.paper_prints_fen,
    b.closes_at, b.created_at
    FROM batches b JOIN schools s ON s.school_id = b.school_id";

type Row = (
    String,
    String,
    String,
    String,
    String,
    i64,
    bool,
    bool,
    String,
    Option<i64>,
    Option<DateTime<Utc>>,
    DateTime<Utc>,
);

fn from_row(row: Row) -> Result<Batch, EligibilityError> {
    let (
        batch_id,
        school_id,
        school_name,
        education_type,
        feature_code,
        price_fen,
        pay_before_upload,
        album_allowed,
        backgrounds,
        paper_prints_fen,
        closes_at,
        created_at,
    ) = row;
    let corrupt = |what: &str| {
        EligibilityError::Store(sqlx::Error::Decode(
            format!("batch {batch_id}: stored {what} is invalid").into(),
        ))
    };
    let fen = |v: i64| u64::try_from(v).map(Fen::new).map_err(|_| corrupt("price"));
    let backgrounds = backgrounds
        .split(',')
        .filter(|b| !b.is_empty())
        .map(|b| b.parse::<Background>().map_err(|_| corrupt("background")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Batch {
        feature_code: FeatureCode::parse(&feature_code).map_err(|_| corrupt("feature code"))?,
        policy: BatchPolicy {
            price_fen: fen(price_fen)?,
            pay_before_upload,
            album_allowed,
            backgrounds,
            paper_prints: paper_prints_fen
                .map(|v| {
                    fen(v).map(|price_per_sheet_fen| PaperPrintsOffer {
                        price_per_sheet_fen,
                    })
                })
                .transpose()?,
        },
        batch_id,
        school_id,
        school_name,
        education_type,
        closes_at,
        created_at,
    })
}

/// Every batch, newest first.
pub async fn list(db: &Db) -> Result<Vec<Batch>, EligibilityError> {
    let sql = format!("{SELECT} ORDER BY b.created_at DESC, b.batch_id");
    let rows: Vec<Row> = on_db!(db, pool => sqlx::query_as(&sql).fetch_all(pool).await)?;
    rows.into_iter().map(from_row).collect()
}

pub async fn by_id(db: &Db, batch_id: &str) -> Result<Option<Batch>, EligibilityError> {
    let sql = format!("{SELECT} WHERE b.batch_id = $1");
    let row: Option<Row> =
        on_db!(db, pool => sqlx::query_as(&sql).bind(batch_id).fetch_optional(pool).await)?;
    row.map(from_row).transpose()
}

pub async fn by_feature_code(db: &Db, code: &FeatureCode) -> Result<Batch, EligibilityError> {
    let sql = format!("{SELECT} WHERE b.feature_code = $1");
    let row: Option<Row> =
        on_db!(db, pool => sqlx::query_as(&sql).bind(code.as_str()).fetch_optional(pool).await)?;
    row.map(from_row)
        .transpose()?
        .ok_or_else(|| EligibilityError::UnknownBatch(code.to_string()))
}

/// The newest batch of a school's category still open at `now`: the one a student joins when
/// they name their school rather than a feature code.
pub async fn open_for(
    db: &Db,
    school_id: &str,
    education_type: &str,
    now: DateTime<Utc>,
) -> Result<Option<Batch>, EligibilityError> {
    let sql = format!(
        "{SELECT} WHERE b.school_id = $1 AND b.education_type = $2 ORDER BY b.created_at DESC"
    );
    let rows: Vec<Row> = on_db!(db, pool => sqlx::query_as(&sql)
        .bind(school_id)
        .bind(education_type)
        .fetch_all(pool)
        .await)?;
    for row in rows {
        let batch = from_row(row)?;
        if batch.is_open(now) {
            return Ok(Some(batch));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_closes_the_batch_at_the_next_midnight_in_china_within_sane_years() {
        let day = NaiveDate::from_ymd_opt(2026, 6, 30).unwrap();
        assert_eq!(
            closes_after(day).unwrap().to_rfc3339(),
            "2026-06-30T16:00:00+00:00"
        );
        for year in [1999, 2101, -262_143, 262_142] {
            let far = NaiveDate::from_ymd_opt(year, 12, 31).unwrap();
            assert!(closes_after(far).is_err(), "{year}");
        }
    }
}
