//! The 学信网 delivery: the approved photos of a batch (or a whole school) as the one ZIP the
//! collection unit uploads, and the record of who took it.
//!
//! - Making a package ([`Deliveries::prepare`]) takes every approved capture of the batch that
//!   is neither delivered nor in another package, in one transaction ([`packages::claim`]): a
//!   capture is in one package at most, so two staff making packages at once split the
//!   captures, and a capture approved afterwards waits for the next package.
//! - Downloading it ([`Deliveries::download`]) records who took names and ID numbers in clear,
//!   marks each capture in it 上网中 (`DeliveredToChsi`, one idempotent command each, so a
//!   second download or a second member of staff records nothing new), then streams the ZIP
//!   ([`archive`]): `<学历类别>/<证件号码>.jpg` per photo and `manifest.csv` ([`manifest`]),
//!   named by the manifest's SHA-256 and the same bytes at every download.
//! - Marking it completed ([`Deliveries::complete`]) records 已完成 for each capture, once 学信网
//!   shows the photos.

pub mod archive;
pub mod manifest;
pub mod packages;

use std::collections::HashMap;

use chrono::Utc;
use futures::{Stream, StreamExt, TryStreamExt};
use photo_ledger_domain::commands::MarkDelivered;
use photo_ledger_domain::events::ChsiStage;
use photo_ledger_domain::status::CaptureStatus;
use photo_ledger_domain::values::CaptureId;
use photo_ledger_domain::{CaptureCommand, CaptureError};
use photo_ledger_projections::capture_doc::CaptureDoc;
use photo_ledger_projections::capture_status::{self, CaptureStatusView};
use photo_ledger_projections::ProjectionError;
use photo_ledger_store::Db;

use crate::captures::{Captures, Requester};
use crate::eligibility::cohort::Cohort;
use crate::eligibility::EligibilityError;
use crate::ledger::LedgerError;
use crate::photos::PhotoStore;
use manifest::Entry;
pub use packages::{Download, Package};

/// Capture commands a download or a completion sends at once.
const MARKING_AT_ONCE: usize = 8;

/// Why a package cannot be made, downloaded or completed.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("nothing to deliver: every approved capture is delivered or in a package already")]
    NothingToDeliver,
    #[error("no delivery package {0}")]
    UnknownPackage(String),
    #[error(
        "package {0} no longer matches its manifest: a capture in it has changed since it was made"
    )]
    PackageChanged(String),
    #[error("the photo of capture {capture_id} cannot be read from the photo store")]
    PhotoUnreadable {
        capture_id: String,
        #[source]
        cause: object_store::Error,
    },
    #[error("the photo of capture {capture_id} in the photo store is not the one recorded (SHA-256 {sha256})")]
    PhotoAltered { capture_id: String, sha256: String },
    #[error("writing the ZIP")]
    Zip(#[from] zip::result::ZipError),
    #[error("writing the ZIP")]
    Write(#[from] std::io::Error),
    #[error(transparent)]
    Eligibility(#[from] EligibilityError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("the captures' views cannot be read")]
    View(#[from] ProjectionError),
    #[error("database: {0}")]
    Store(#[from] sqlx::Error),
}

impl DeliveryError {
    /// The stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            DeliveryError::NothingToDeliver => "delivery.nothing_to_deliver",
            DeliveryError::UnknownPackage(_) => "delivery.unknown_package",
            DeliveryError::PackageChanged(_) => "delivery.package_changed",
            DeliveryError::PhotoUnreadable { .. } => "delivery.photo_unreadable",
            DeliveryError::PhotoAltered { .. } => "delivery.photo_altered",
            DeliveryError::Zip(_) | DeliveryError::Write(_) => "internal",
            DeliveryError::Eligibility(e) => e.code(),
            DeliveryError::Ledger(e) => e.code(),
            DeliveryError::View(_) | DeliveryError::Store(_) => "store.unavailable",
        }
    }

    /// What staff are told.
    pub fn message(&self) -> String {
        match self {
            DeliveryError::NothingToDeliver => {
                "没有待交付的照片：审核通过的照片都已上传学信网或已在交付包中".into()
            }
            DeliveryError::UnknownPackage(_) => "没有找到该交付包".into(),
            DeliveryError::PackageChanged(_) => {
                "交付包中的采集记录在生成后有变化，无法再按原样下载，请联系管理员".into()
            }
            DeliveryError::PhotoUnreadable { .. } => "照片存储暂时无法读取，请稍后重试".into(),
            DeliveryError::PhotoAltered { .. } => {
                "照片存储中的文件与记录不符，已停止下载，请联系管理员".into()
            }
            DeliveryError::Eligibility(e) => e.message(),
            _ => "服务暂时不可用，请稍后重试".into(),
        }
    }
}

/// A package on its way to whoever downloads it.
pub struct PackageFile<S> {
    pub package: Package,
    pub body: S,
}

/// Makes, serves and completes delivery packages.
#[derive(Clone)]
pub struct Deliveries {
    captures: Captures,
    photos: PhotoStore,
}

impl Deliveries {
    pub fn new(captures: Captures, photos: PhotoStore) -> Self {
        Self { captures, photos }
    }

    fn db(&self) -> &Db {
        self.captures.ledger().db()
    }

    /// Makes a package of every approved capture of `cohort` that is neither delivered nor in
    /// another package, for `created_by`.
    pub async fn prepare(
        &self,
        cohort: &Cohort,
        created_by: &str,
    ) -> Result<Package, DeliveryError> {
        let db = self.db();
        let found = cohort.find(db).await?;
        let school_id = found.school_id;
        let batch_id = found.batch.as_ref().map(|b| &b.batch_id);
        let label = match &found.batch {
            Some(batch) => batch.feature_code.clone(),
            None => format!("school-{}", school_id.chars().take(8).collect::<String>()),
        };
        let candidates = self.ready(&school_id, batch_id.map(String::as_str)).await?;
        let package_id = uuid::Uuid::new_v4().to_string();
        let new = packages::NewPackage {
            package_id: &package_id,
            school_id: &school_id,
            batch_id: batch_id.map(String::as_str),
            label: &label,
            created_by,
            created_at: Utc::now(),
        };
        let (package, _) = packages::claim(db, new, candidates)
            .await?
            .ok_or(DeliveryError::NothingToDeliver)?;
        tracing::info!(
            package_id = %package.package_id,
            captures = package.captures,
            created_by,
            "delivery package made"
        );
        Ok(package)
    }

    /// A school's approved captures that no package holds yet.
    async fn unpackaged(&self, school_id: &str) -> Result<Vec<CaptureStatusView>, DeliveryError> {
        let db = self.db();
        let packaged = packages::packaged_in_school(db, school_id).await?;
        let mut approved =
            capture_status::by_school_in_status(db, school_id, CaptureStatus::Approved).await?;
        approved.retain(|view| !packaged.contains(&view.capture_id));
        Ok(approved)
    }

    /// How many of a school's approved captures wait for a package, by batch.
    pub async fn waiting(
        &self,
        school_id: &str,
    ) -> Result<HashMap<Option<String>, usize>, DeliveryError> {
        let mut waiting = HashMap::new();
        for view in self.unpackaged(school_id).await? {
            *waiting.entry(view.batch_id).or_default() += 1;
        }
        Ok(waiting)
    }

    /// The entries of a school's (or one batch's) approved captures that no package holds yet,
    /// in the order a package lists them; of two with the same file name, the first.
    async fn ready(
        &self,
        school_id: &str,
        batch_id: Option<&str>,
    ) -> Result<Vec<Entry>, DeliveryError> {
        let mut entries = Vec::new();
        for view in self.unpackaged(school_id).await? {
            if batch_id.is_none_or(|b| view.batch_id.as_deref() == Some(b)) {
                entries.extend(self.entry(&view.capture_id).await?);
            }
        }
        manifest::sort(&mut entries);
        let mut paths = std::collections::HashSet::new();
        entries.retain(|e| paths.insert(e.path()));
        Ok(entries)
    }

    async fn entry(&self, capture_id: &str) -> Result<Option<Entry>, DeliveryError> {
        Ok(
            CaptureDoc::load(self.captures.ledger().decoder(), capture_id)
                .await?
                .and_then(|doc| Entry::of(capture_id, &doc)),
        )
    }

    /// The package, its entries as they are now and their manifest; refused when they no longer
    /// make the manifest the package was made with.
    async fn load(
        &self,
        package_id: &str,
    ) -> Result<(Package, Vec<Entry>, Vec<u8>), DeliveryError> {
        let unknown = || DeliveryError::UnknownPackage(package_id.to_string());
        let (package, capture_ids) = packages::load(self.db(), package_id)
            .await?
            .ok_or_else(unknown)?;
        let mut entries = Vec::with_capacity(capture_ids.len());
        for capture_id in &capture_ids {
            let entry = self
                .entry(capture_id)
                .await?
                .ok_or_else(|| DeliveryError::PackageChanged(package_id.to_string()))?;
            entries.push(entry);
        }
        let manifest = manifest::csv(&entries);
        if manifest::sha256(&manifest) != package.manifest_sha256 {
            return Err(DeliveryError::PackageChanged(package_id.to_string()));
        }
        Ok((package, entries, manifest))
    }

    /// The package's ZIP for `requester`: the download is recorded and every capture in it
    /// marked 上网中 before the first byte.
    pub async fn download(
        &self,
        package_id: &str,
        requester: &Requester,
    ) -> Result<
        PackageFile<impl Stream<Item = Result<actix_web::web::Bytes, DeliveryError>>>,
        DeliveryError,
    > {
        let (package, entries, manifest) = self.load(package_id).await?;
        packages::record_download(self.db(), package_id, &requester.actor.id, Utc::now()).await?;
        tracing::info!(
            package_id,
            downloaded_by = %requester.actor.id,
            captures = entries.len(),
            "delivery package downloaded"
        );
        self.mark(&entries, ChsiStage::Uploading, requester).await?;
        let body = archive::stream(entries, manifest, package.created_at, self.photos.clone());
        Ok(PackageFile { package, body })
    }

    /// Records 已完成 for every capture in the package.
    pub async fn complete(
        &self,
        package_id: &str,
        requester: &Requester,
    ) -> Result<Package, DeliveryError> {
        let (_, entries, _) = self.load(package_id).await?;
        self.mark(&entries, ChsiStage::Completed, requester).await?;
        packages::record_completed(self.db(), package_id, &requester.actor.id, Utc::now()).await?;
        // The record again, with its completion; the captures were checked above.
        let (package, _) = packages::load(self.db(), package_id)
            .await?
            .ok_or_else(|| DeliveryError::UnknownPackage(package_id.to_string()))?;
        Ok(package)
    }

    /// Every package, newest first, with its downloads.
    pub async fn list(&self, limit: u32) -> Result<Vec<(Package, Vec<Download>)>, DeliveryError> {
        let mut listed = Vec::new();
        for package in packages::list(self.db(), limit).await? {
            let downloads = packages::downloads(self.db(), &package.package_id).await?;
            listed.push((package, downloads));
        }
        Ok(listed)
    }

    /// Sends `stage` for each entry's capture, a few at a time; a capture already further on
    /// (已完成 when marking 上网中) stays as it is.
    async fn mark(
        &self,
        entries: &[Entry],
        stage: ChsiStage,
        requester: &Requester,
    ) -> Result<(), DeliveryError> {
        futures::stream::iter(entries)
            .map(|entry| async move {
                let capture_id: CaptureId = entry
                    .capture_id
                    .parse()
                    .map_err(|_| DeliveryError::PackageChanged(entry.capture_id.clone()))?;
                let command = CaptureCommand::MarkDelivered(MarkDelivered {
                    stage,
                    at: Utc::now(),
                });
                match self.captures.send(requester, capture_id, command).await {
                    Ok(_) | Err(LedgerError::Refused(CaptureError::DeliveryStageRegress)) => Ok(()),
                    Err(e) => Err(DeliveryError::from(e)),
                }
            })
            .buffer_unordered(MARKING_AT_ONCE)
            .try_collect::<()>()
            .await
    }
}
