//! A capture's photos in the service: taking an upload, standardising it, storing both files and
//! recording them in the ledger; making a new standard photo of an upload on another
//! background; and serving a photo to the people who may see it.
//!
//! [`PhotoService`] holds the use cases; [`store`] keeps the files by SHA-256, [`pipeline`]
//! bounds how many standardisations run at once and [`same_photos`] finds a submitted photo in
//! other captures. What a capture's photos are (their files, which
//! upload a standard photo was made from) is read from the capture's document, folded from its
//! events, never from a second record.

pub mod pipeline;
pub mod same_photos;
pub mod store;

use std::sync::Arc;

use chrono::Utc;
use photo_ledger_domain::checks::CheckResult;
use photo_ledger_domain::commands::{RecordStandardisation, Submit, UploadPhoto};
use photo_ledger_domain::events::StoredPhoto;
use photo_ledger_domain::metadata::Actor;
use photo_ledger_domain::values::{Background, CaptureId, PhotoId, PhotoSource, PrintLayout};
use photo_ledger_domain::{Capture, CaptureCommand, CaptureError};
use photo_ledger_photo::checks::Check;
use photo_ledger_photo::error::PhotoError;
use photo_ledger_photo::prints;
use photo_ledger_photo::report::Verdict;
use photo_ledger_photo::spec::InputLimits;
use photo_ledger_photo::Standardised;
use photo_ledger_projections::capture_doc::{CaptureDoc, PhotoEntry, PhotoKind};
use photo_ledger_projections::capture_status::CaptureStatusView;
use photo_ledger_projections::{photo_history, ProjectionError};

use crate::captures::{CaptureAccessError, Captures, Requester};
use crate::ledger::LedgerError;
use crate::memory_budget::MemoryBudget;
use crate::telemetry::metrics::Metrics;
use pipeline::decoding_cost;
pub use pipeline::PhotoPipeline;
pub use same_photos::SamePhotos;
pub use store::PhotoStore;

/// The standard the standardiser produces, recorded with each result.
const SPEC_NAME: &str = "chsi";
const SPEC_VERSION: &str = "1";

/// The longest side of a preview.
const THUMB_SIDE: u32 = 240;

/// What a stored photo may cost to decode again: what uploads are held to.
const INPUT_LIMITS: InputLimits = InputLimits::DEFAULT;

#[derive(Debug, thiserror::Error)]
pub enum PhotoServiceError {
    /// Standardisation is not configured (no ONNX Runtime).
    #[error("photo standardisation is not configured")]
    Unavailable,
    /// No such photo, or not one the requester may see.
    #[error("no such photo for this requester")]
    PhotoNotFound,
    /// The picture cannot be standardised, or standardisation failed.
    #[error(transparent)]
    Photo(#[from] PhotoError),
    #[error(transparent)]
    Capture(#[from] CaptureAccessError),
    #[error("the photo store failed")]
    Store(#[from] object_store::Error),
    #[error("making a preview failed")]
    Preview(#[source] image::ImageError),
}

impl From<LedgerError> for PhotoServiceError {
    fn from(e: LedgerError) -> Self {
        Self::Capture(CaptureAccessError::Ledger(e))
    }
}

impl From<ProjectionError> for PhotoServiceError {
    fn from(e: ProjectionError) -> Self {
        Self::Capture(CaptureAccessError::View(e))
    }
}

impl From<CaptureError> for PhotoServiceError {
    fn from(e: CaptureError) -> Self {
        LedgerError::Refused(e).into()
    }
}

/// A standardisation's outcome, as the student is answered.
pub struct PhotoResult {
    /// The upload.
    pub photo_id: PhotoId,
    /// Absent when no standard photo could be made from the picture.
    pub standard_photo_id: Option<PhotoId>,
    pub verdict: Verdict,
    pub checks: Vec<Check>,
    /// A failed blocking check: the photo cannot be submitted.
    pub blocking: bool,
    pub capture: CaptureStatusView,
}

/// A capture a student may upload to, as it was when the upload began; the ledger decides
/// again when the upload is recorded.
pub struct UploadTo {
    capture_id: CaptureId,
    capture: Capture,
}

/// A photo's file and how it was recorded.
pub struct PhotoFile {
    pub photo: PhotoEntry,
    pub bytes: Vec<u8>,
}

impl PhotoFile {
    /// The file's media type: uploads as they came, standard photos and previews as JPEG.
    pub fn content_type(&self) -> &'static str {
        match image::guess_format(&self.bytes) {
            Ok(image::ImageFormat::Png) => "image/png",
            Ok(image::ImageFormat::WebP) => "image/webp",
            _ => "image/jpeg",
        }
    }
}

pub struct PhotoService {
    captures: Captures,
    store: PhotoStore,
    /// Standardisation, when ONNX Runtime is configured.
    pipeline: Option<PhotoPipeline>,
    /// Memory for every picture decoded here, shared with every other route that decodes.
    budget: Arc<MemoryBudget>,
    /// Held while a preview is made, so a burst of requests for one photo's preview makes it
    /// once and the rest read what was kept.
    making_preview: tokio::sync::Mutex<()>,
    same_photos: SamePhotos,
    metrics: Metrics,
}

impl PhotoService {
    pub fn new(
        captures: Captures,
        store: PhotoStore,
        pipeline: Option<PhotoPipeline>,
        budget: Arc<MemoryBudget>,
        metrics: Metrics,
    ) -> Self {
        Self {
            same_photos: SamePhotos::new(captures.ledger().db().clone()),
            captures,
            store,
            pipeline,
            budget,
            making_preview: tokio::sync::Mutex::new(()),
            metrics,
        }
    }

    /// The same-photo search, to load ahead of the first submission.
    pub fn same_photos(&self) -> &SamePhotos {
        &self.same_photos
    }

    /// Sends a standard photo for review, with what the same-photo search finds for it.
    pub async fn submit(
        &self,
        requester: &Requester,
        capture_id: CaptureId,
        standard_photo_id: PhotoId,
    ) -> Result<CaptureStatusView, PhotoServiceError> {
        let same_photos = self.same_photos.of(capture_id, standard_photo_id).await?;
        let command = CaptureCommand::Submit(Submit {
            standard_photo_id,
            same_photos,
            at: Utc::now(),
        });
        Ok(self.captures.act(requester, capture_id, command).await?)
    }

    /// Whether photos can be standardised (the models are loaded).
    pub fn can_standardise(&self) -> bool {
        self.pipeline.is_some()
    }

    /// The capture, when `actor` may act on it and photos can be standardised: what every
    /// photo use case checks before any work.
    async fn workable(
        &self,
        actor: &Actor,
        capture_id: CaptureId,
    ) -> Result<(Capture, &PhotoPipeline), PhotoServiceError> {
        let capture = self.captures.accessible(actor, capture_id).await?;
        Ok((capture, self.pipeline()?))
    }

    /// Whether `actor` may upload to the capture at all and photos can be standardised: what
    /// to know before reading an upload's body. The answer is handed to [`Self::upload`], so
    /// the capture is read once.
    pub async fn accepts_uploads(
        &self,
        actor: &Actor,
        capture_id: CaptureId,
    ) -> Result<UploadTo, PhotoServiceError> {
        let (capture, _) = self.workable(actor, capture_id).await?;
        Ok(UploadTo {
            capture_id,
            capture,
        })
    }

    /// Takes a student's photo into the capture [`Self::accepts_uploads`] opened: checks the
    /// capture would accept it, standardises it on the batch's first background, stores both
    /// files and records the upload and its result.
    pub async fn upload(
        &self,
        requester: &Requester,
        to: UploadTo,
        bytes: Vec<u8>,
        source: PhotoSource,
    ) -> Result<PhotoResult, PhotoServiceError> {
        let UploadTo {
            capture_id,
            capture,
        } = to;
        let pipeline = self.pipeline()?;
        // The capture's own rules (paid first? album allowed? full?) before the expensive work.
        capture.may_upload(source)?;
        let background = capture
            .qualification
            .as_ref()
            .and_then(|q| q.policy.backgrounds.first().copied())
            .unwrap_or(Background::Blue);
        let bytes = Arc::new(bytes);
        let standardised = self
            .standardise(pipeline, bytes.clone(), background)
            .await?;
        let photo = StoredPhoto {
            photo_id: PhotoId::from_uuid(requester.new_id("photo")),
            bytes: bytes.len() as u64,
            width: standardised.report.input.width,
            height: standardised.report.input.height,
            format: format_of(&bytes),
            // Standardising is done with the bytes: stored without another copy.
            sha256: self
                .store
                .put(Arc::try_unwrap(bytes).unwrap_or_else(|shared| shared.to_vec()))
                .await?,
        };
        let photo_id = photo.photo_id;
        self.captures
            .send(
                requester,
                capture_id,
                CaptureCommand::UploadPhoto(UploadPhoto {
                    photo,
                    source,
                    at: Utc::now(),
                }),
            )
            .await?;
        // Crash tests stop here, between an upload's two events, to kill the service under it;
        // compiled in only with the `failpoints` feature.
        fail::fail_point!("photos.between_events");
        self.record(requester, capture_id, photo_id, background, standardised)
            .await
    }

    /// Makes a new standard photo of an upload (named by itself or by any standard photo made
    /// from it) on another background the batch offers.
    pub async fn change_background(
        &self,
        requester: &Requester,
        capture_id: CaptureId,
        photo_id: PhotoId,
        background: Background,
    ) -> Result<PhotoResult, PhotoServiceError> {
        let (capture, pipeline) = self.workable(&requester.actor, capture_id).await?;
        if capture
            .qualification
            .as_ref()
            .is_some_and(|q| !q.policy.offers_background(background))
        {
            return Err(CaptureError::BackgroundNotOffered.into());
        }
        // Before the expensive work; the ledger decides again when the result is recorded.
        capture.room_for_photos(1)?;
        let doc = self.document(capture_id).await?;
        let upload = doc
            .photo(photo_id)
            .map(|p| match p.kind {
                PhotoKind::Standard {
                    source_photo_id, ..
                } => source_photo_id,
                PhotoKind::Uploaded { .. } => p.photo_id,
            })
            .and_then(|id| doc.photo(id))
            .filter(|p| matches!(p.kind, PhotoKind::Uploaded { .. }))
            .ok_or(PhotoServiceError::PhotoNotFound)?;
        let bytes = self.store.get(&upload.sha256).await?;
        let standardised = self
            .standardise(pipeline, Arc::new(bytes), background)
            .await?;
        self.record(
            requester,
            capture_id,
            upload.photo_id,
            background,
            standardised,
        )
        .await
    }

    /// A photo's file, to its owner and to staff; anyone else is told it does not exist.
    pub async fn file(
        &self,
        actor: &Actor,
        photo_id: PhotoId,
    ) -> Result<PhotoFile, PhotoServiceError> {
        let photo = self.photo(actor, photo_id).await?;
        let bytes = self.store.get(&photo.sha256).await?;
        Ok(PhotoFile { photo, bytes })
    }

    /// How a photo was recorded, to its owner and to staff; anyone else is told it does not
    /// exist.
    async fn photo(
        &self,
        actor: &Actor,
        photo_id: PhotoId,
    ) -> Result<PhotoEntry, PhotoServiceError> {
        let capture_id: CaptureId =
            photo_history::capture_of(self.captures.ledger().db(), &photo_id.to_string())
                .await?
                .and_then(|id| id.parse().ok())
                .ok_or(PhotoServiceError::PhotoNotFound)?;
        self.captures
            .accessible(actor, capture_id)
            .await
            .map_err(|e| match e {
                CaptureAccessError::NotFound => PhotoServiceError::PhotoNotFound,
                other => other.into(),
            })?;
        self.document(capture_id)
            .await?
            .photo(photo_id)
            .cloned()
            .ok_or(PhotoServiceError::PhotoNotFound)
    }

    /// A small JPEG preview of a photo (its longest side [`THUMB_SIDE`]), to those who may see
    /// the photo. Made once, one at a time, and kept beside the file: the original is decoded
    /// only the first time it is asked for.
    pub async fn preview(
        &self,
        actor: &Actor,
        photo_id: PhotoId,
    ) -> Result<Vec<u8>, PhotoServiceError> {
        let sha256 = self.photo(actor, photo_id).await?.sha256;
        if let Some(kept) = self.store.preview(&sha256).await? {
            return Ok(kept);
        }
        let _making = self.making_preview.lock().await;
        // Made while this request waited its turn?
        if let Some(kept) = self.store.preview(&sha256).await? {
            return Ok(kept);
        }
        let original = self.store.get(&sha256).await?;
        let jpeg = self.decoding("preview", original, 0, thumbnail).await?;
        self.store.put_preview(&sha256, jpeg.clone()).await?;
        Ok(jpeg)
    }

    /// A standard photo laid out on a 6寸 print sheet in `layout`, as JPEG or PDF; to staff and
    /// to the photo's owner.
    pub async fn print_sheet(
        &self,
        actor: &Actor,
        photo_id: PhotoId,
        layout: PrintLayout,
        pdf: bool,
    ) -> Result<Vec<u8>, PhotoServiceError> {
        let file = self.file(actor, photo_id).await?;
        // The sheet: 1800 × 1200 RGB, and its JPEG.
        const SHEET_BYTES: u64 = 2 * 1800 * 1200 * 3;
        self.decoding("print sheet", file.bytes, SHEET_BYTES, move |bytes| {
            let master = photo_ledger_photo::input::decode(bytes, &INPUT_LIMITS)?;
            let sheet = prints::sheet(&master, layout);
            let jpeg = prints::sheet_jpeg(&sheet)?;
            Ok(if pdf {
                crate::printing::document::sheet_pdf(&jpeg)
            } else {
                jpeg
            })
        })
        .await
    }

    /// Runs `work` on a blocking thread over a picture, once the picture (refused from its
    /// header when the input limits refuse it) and `extra` bytes fit in the decoding budget.
    async fn decoding<T: Send + 'static>(
        &self,
        what: &'static str,
        bytes: Vec<u8>,
        extra: u64,
        work: impl FnOnce(&[u8]) -> Result<T, PhotoServiceError> + Send + 'static,
    ) -> Result<T, PhotoServiceError> {
        let header = photo_ledger_photo::input::peek(&bytes, &INPUT_LIMITS)?;
        let _memory = self.budget.spend(decoding_cost(&header) + extra).await;
        tokio::task::spawn_blocking(move || work(&bytes))
            .await
            .map_err(|e| PhotoError::Inference {
                model: what,
                reason: e.to_string(),
            })?
    }

    async fn document(&self, capture_id: CaptureId) -> Result<CaptureDoc, PhotoServiceError> {
        CaptureDoc::load(self.captures.ledger().decoder(), &capture_id.to_string())
            .await?
            .ok_or(PhotoServiceError::PhotoNotFound)
    }

    fn pipeline(&self) -> Result<&PhotoPipeline, PhotoServiceError> {
        self.pipeline.as_ref().ok_or(PhotoServiceError::Unavailable)
    }

    /// Runs the pipeline and times it by verdict.
    async fn standardise(
        &self,
        pipeline: &PhotoPipeline,
        bytes: Arc<Vec<u8>>,
        background: Background,
    ) -> Result<Standardised, PhotoServiceError> {
        let started = std::time::Instant::now();
        let standardised = pipeline.standardise(bytes, background).await;
        let verdict = match &standardised {
            Ok(s) => match s.report.verdict {
                Verdict::Accepted => "accepted",
                Verdict::Retake => "retake",
                Verdict::Refused => "refused",
            },
            Err(e) => e.code(),
        };
        self.metrics
            .observe_standardisation(verdict, started.elapsed().as_secs_f64());
        Ok(standardised?)
    }

    /// Stores the standard photo, if one was made, records it as the upload's result, and
    /// answers with the checks and the capture's status.
    async fn record(
        &self,
        requester: &Requester,
        capture_id: CaptureId,
        source_photo_id: PhotoId,
        background: Background,
        standardised: Standardised,
    ) -> Result<PhotoResult, PhotoServiceError> {
        let report = standardised.report;
        let standard_photo_id = match (standardised.jpeg, &report.output) {
            (Some(jpeg), Some(output)) => {
                let what = format!("standard-photo:{source_photo_id}:{background}");
                let standard = StoredPhoto {
                    photo_id: PhotoId::from_uuid(requester.new_id(&what)),
                    bytes: jpeg.len() as u64,
                    sha256: self.store.put(jpeg).await?,
                    width: output.width,
                    height: output.height,
                    format: "jpeg".into(),
                };
                let standard_id = standard.photo_id;
                let mut metadata = requester.metadata(&what);
                metadata.actor = Actor::system("standardiser");
                self.captures
                    .run(
                        metadata,
                        capture_id,
                        CaptureCommand::RecordStandardisation(RecordStandardisation {
                            source_photo_id,
                            result: standard,
                            background,
                            spec_name: SPEC_NAME.into(),
                            spec_version: SPEC_VERSION.into(),
                            checks: report.checks.iter().map(|c| c.result.clone()).collect(),
                            perceptual_hash: report.perceptual_hash.map(|h| h.to_string()),
                            at: Utc::now(),
                        }),
                    )
                    .await?;
                Some(standard_id)
            }
            _ => None,
        };
        Ok(PhotoResult {
            photo_id: source_photo_id,
            standard_photo_id,
            verdict: report.verdict,
            blocking: report
                .checks
                .iter()
                .any(|c| CheckResult::blocks_submission(&c.result)),
            checks: report.checks,
            capture: self.captures.status(capture_id).await?,
        })
    }
}

fn format_of(bytes: &[u8]) -> String {
    image::guess_format(bytes)
        .ok()
        .and_then(|f| f.extensions_str().first())
        .map_or_else(|| "unknown".into(), |ext| (*ext).to_string())
}

fn thumbnail(bytes: &[u8]) -> Result<Vec<u8>, PhotoServiceError> {
    let upload = photo_ledger_photo::input::open(bytes, &INPUT_LIMITS)?;
    // A JPEG is decoded reduced in the DCT domain, to no fewer pixels than the preview has.
    let (width, height) = upload.size();
    let needed = THUMB_SIDE as f32 / width.max(height) as f32;
    let image = upload.decode(upload.reduction_for(needed))?.image;
    // Keeps the aspect ratio.
    let thumb = image::DynamicImage::ImageRgb8(image)
        .thumbnail(THUMB_SIDE, THUMB_SIDE)
        .into_rgb8();
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 85)
        .encode_image(&thumb)
        .map_err(PhotoServiceError::Preview)?;
    Ok(jpeg)
}
