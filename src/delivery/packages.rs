//! The packages' own records: which captures each holds (a capture in one package at most),
//! and every download of one.

use chrono::{DateTime, Utc};
use photo_ledger_store::{on_db, Db};
use serde::Serialize;

use super::manifest::{self, Entry};

/// A package as recorded when it was made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Package {
    pub package_id: String,
    pub school_id: String,
    /// The batch it was made for; `None` for a whole school.
    pub batch_id: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// The name the ZIP downloads under; it carries the manifest's SHA-256.
    pub file_name: String,
    pub manifest_sha256: String,
    pub captures: i64,
    /// When staff marked every capture in it 已完成 on 学信网.
    pub completed_at: Option<DateTime<Utc>>,
    pub completed_by: Option<String>,
}

/// A package about to be made.
pub struct NewPackage<'a> {
    pub package_id: &'a str,
    pub school_id: &'a str,
    pub batch_id: Option<&'a str>,
    /// What the file name says the package is of (a batch's feature code, say).
    pub label: &'a str,
    pub created_by: &'a str,
    pub created_at: DateTime<Utc>,
}

/// One download of a package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Download {
    pub downloaded_by: String,
    pub downloaded_at: DateTime<Utc>,
}

const PACKAGE_COLUMNS: &str = "SELECT package_id, school_id, batch_id, created_by, created_at, \
     file_name, manifest_sha256, captures, completed_at, completed_by FROM delivery_packages";

type PackageRow = (
    String,
    String,
    Option<String>,
    String,
    DateTime<Utc>,
    String,
    String,
    i64,
    Option<DateTime<Utc>>,
    Option<String>,
);

fn package(
    (id, school, batch, by, at, file, sha, captures, done_at, done_by): PackageRow,
) -> Package {
    Package {
        package_id: id,
        school_id: school,
        batch_id: batch,
        created_by: by,
        created_at: at,
        file_name: file,
        manifest_sha256: sha,
        captures,
        completed_at: done_at,
        completed_by: done_by,
    }
}

/// Makes the package: records it with every candidate that is in no other package yet, in one
/// transaction, so captures two staff reach for at once each land in exactly one package.
/// Answers the package and the entries it holds (in the candidates' order), or `None` when
/// every candidate was taken.
pub async fn claim(
    db: &Db,
    new: NewPackage<'_>,
    candidates: Vec<Entry>,
) -> Result<Option<(Package, Vec<Entry>)>, sqlx::Error> {
    on_db!(db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query(
            "INSERT INTO delivery_packages (package_id, school_id, batch_id, created_by, created_at,
                                            file_name, manifest_sha256, captures)
             VALUES ($1, $2, $3, $4, $5, '', '', 0)")
            .bind(new.package_id)
            .bind(new.school_id)
            .bind(new.batch_id)
            .bind(new.created_by)
            .bind(new.created_at)
            .execute(&mut *tx)
            .await?;
        let mut held = Vec::new();
        for entry in candidates {
            let inserted = sqlx::query(
                "INSERT INTO delivery_package_captures (capture_id, package_id, position)
                 VALUES ($1, $2, $3) ON CONFLICT (capture_id) DO NOTHING")
                .bind(&entry.capture_id)
                .bind(new.package_id)
                .bind(held.len() as i64)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if inserted == 1 {
                held.push(entry);
            }
        }
        if held.is_empty() {
            tx.rollback().await?;
            return Ok(None);
        }
        let manifest_sha256 = manifest::sha256(&manifest::csv(&held));
        let file_name = format!("chsi-{}-{manifest_sha256}.zip", new.label);
        sqlx::query(
            "UPDATE delivery_packages SET file_name = $1, manifest_sha256 = $2, captures = $3
             WHERE package_id = $4")
            .bind(&file_name)
            .bind(&manifest_sha256)
            .bind(held.len() as i64)
            .bind(new.package_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some((
            Package {
                package_id: new.package_id.to_string(),
                school_id: new.school_id.to_string(),
                batch_id: new.batch_id.map(str::to_string),
                created_by: new.created_by.to_string(),
                created_at: new.created_at,
                file_name,
                manifest_sha256,
                captures: held.len() as i64,
                completed_at: None,
                completed_by: None,
            },
            held,
        )))
    })
}

/// The package and its captures, in the manifest's order.
pub async fn load(
    db: &Db,
    package_id: &str,
) -> Result<Option<(Package, Vec<String>)>, sqlx::Error> {
    let row: Option<PackageRow> = on_db!(db, pool =>
        sqlx::query_as(&format!("{PACKAGE_COLUMNS} WHERE package_id = $1"))
            .bind(package_id)
            .fetch_optional(pool)
            .await)?;
    let Some(row) = row else {
        return Ok(None);
    };
    let captures: Vec<(String,)> = on_db!(db, pool =>
        sqlx::query_as(
            "SELECT capture_id FROM delivery_package_captures WHERE package_id = $1 ORDER BY position")
            .bind(package_id)
            .fetch_all(pool)
            .await)?;
    Ok(Some((
        package(row),
        captures.into_iter().map(|(id,)| id).collect(),
    )))
}

/// The newest packages first.
pub async fn list(db: &Db, limit: u32) -> Result<Vec<Package>, sqlx::Error> {
    let rows: Vec<PackageRow> = on_db!(db, pool =>
        sqlx::query_as(&format!("{PACKAGE_COLUMNS} ORDER BY created_at DESC, package_id LIMIT $1"))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await)?;
    Ok(rows.into_iter().map(package).collect())
}

/// Which of a school's captures are in a package already.
pub async fn packaged_in_school(
    db: &Db,
    school_id: &str,
) -> Result<std::collections::HashSet<String>, sqlx::Error> {
    let rows: Vec<(String,)> = on_db!(db, pool =>
        sqlx::query_as(
            "SELECT c.capture_id FROM delivery_package_captures c
             JOIN delivery_packages p ON p.package_id = c.package_id
             WHERE p.school_id = $1")
            .bind(school_id)
            .fetch_all(pool)
            .await)?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Keeps who took the package, and when.
pub async fn record_download(
    db: &Db,
    package_id: &str,
    by: &str,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "INSERT INTO delivery_downloads (package_id, downloaded_by, downloaded_at) VALUES ($1, $2, $3)")
        .bind(package_id)
        .bind(by)
        .bind(at)
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// Every download of the package, oldest first.
pub async fn downloads(db: &Db, package_id: &str) -> Result<Vec<Download>, sqlx::Error> {
    let rows: Vec<(String, DateTime<Utc>)> = on_db!(db, pool =>
        sqlx::query_as(
            "SELECT downloaded_by, downloaded_at FROM delivery_downloads
             WHERE package_id = $1 ORDER BY downloaded_at, download_id")
            .bind(package_id)
            .fetch_all(pool)
            .await)?;
    Ok(rows
        .into_iter()
        .map(|(downloaded_by, downloaded_at)| Download {
            downloaded_by,
            downloaded_at,
        })
        .collect())
}

/// Notes that the package's captures are all 已完成 (the first time only).
pub async fn record_completed(
    db: &Db,
    package_id: &str,
    by: &str,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "UPDATE delivery_packages SET completed_at = $1, completed_by = $2
         WHERE package_id = $3 AND completed_at IS NULL")
        .bind(at)
        .bind(by)
        .bind(package_id)
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(())
}
