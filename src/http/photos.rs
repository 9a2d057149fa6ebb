//! `POST /captures/{id}/photos`: a student's photo, streamed in as multipart (`photo`, and
//! `source` camera|album), standardised on the bounded pipeline, both files stored by SHA-256,
//! and recorded in the ledger as the upload and its standardised result;
//! `POST /captures/{id}/photos/{photo_id}/background` makes a new result of the same upload.

use std::sync::Arc;

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::Utc;
use futures::StreamExt;
use photo_ledger_domain::commands::{RecordStandardisation, UploadPhoto};
use photo_ledger_domain::events::StoredPhoto;
use photo_ledger_domain::metadata::Actor;
use photo_ledger_domain::values::{Background, CaptureId, PhotoId, PhotoSource};
use photo_ledger_domain::{CaptureCommand, CaptureError, CaptureEvent};
use photo_ledger_projections::capture_status::CaptureStatusView;
use photo_ledger_projections::photo_history;
use serde::{Deserialize, Serialize};

use super::commands::{self, ensure_access, status_of};
use super::error::{ApiError, ErrorBody};
use super::extract::{Auth, Caller, CommandContext, Students};
use crate::ledger::LedgerError;
use crate::photo::checks::Check;
use crate::photo::error::PhotoError;
use crate::photo::report::Verdict;
use crate::photo::Standardised;
use crate::startup::AppState;
use crate::uploads::PhotoPipeline;

/// The standard the standardiser produces, recorded with each result.
const SPEC_NAME: &str = "chsi";
const SPEC_VERSION: &str = "1";

#[derive(Serialize, utoipa::ToSchema)]
struct PhotoUploaded {
    #[schema(value_type = String, format = Uuid)]
    photo_id: PhotoId,
    /// Absent when no standard photo could be made from the picture.
    #[schema(value_type = Option<String>, format = Uuid)]
    standard_photo_id: Option<PhotoId>,
    /// `accepted`, `retake` (a blocking check failed) or `refused`.
    #[schema(value_type = String)]
    verdict: Verdict,
    /// Every check with its code, value, limit, outcome and advice in Chinese.
    #[schema(value_type = Vec<Object>)]
    checks: Vec<Check>,
    /// A failed blocking check: the photo cannot be submitted.
    blocking: bool,
    #[schema(value_type = Object)]
    capture: CaptureStatusView,
}

fn photo_refused(e: &PhotoError) -> ApiError {
    match e {
        PhotoError::RuntimeMissing { .. }
        | PhotoError::Model { .. }
        | PhotoError::Inference { .. }
        | PhotoError::Encode(_) => {
            tracing::error!(error = %e, "standardisation failed");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.code(), e.message())
        }
        _ => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.message()),
    }
}

/// The multipart form: the picture (read up to `limit` bytes) and where it came from.
async fn read_form(mut form: Multipart, limit: usize) -> Result<(Vec<u8>, PhotoSource), ApiError> {
    let malformed = |_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "http.bad_request",
            "上传内容无法读取",
        )
    };
    let (mut photo, mut source) = (None, None);
    while let Some(field) = form.next().await {
        let mut field = field.map_err(malformed)?;
        let name = field.name().unwrap_or_default().to_string();
        let cap = match name.as_str() {
            "photo" => limit,
            "source" => 16,
            _ => return Err(ApiError::invalid(format!("未知的字段：{name}"))),
        };
        let mut bytes = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(malformed)?;
            if bytes.len() + chunk.len() > cap {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "http.payload_too_large",
                    "照片文件太大",
                )
                .with_details(serde_json::json!({ "limit_bytes": cap })));
            }
            bytes.extend_from_slice(&chunk);
        }
        if name == "photo" {
            photo = Some(bytes);
        } else {
            source = Some(match bytes.as_slice() {
                b"camera" => PhotoSource::Camera,
                b"album" => PhotoSource::Album,
                _ => return Err(ApiError::invalid("source 须为 camera 或 album")),
            });
        }
    }
    let photo = photo.ok_or_else(|| ApiError::invalid("请上传照片（字段 photo）"))?;
    Ok((photo, source.unwrap_or(PhotoSource::Camera)))
}

fn format_of(bytes: &[u8]) -> String {
    image::guess_format(bytes)
        .ok()
        .and_then(|f| f.extensions_str().first())
        .map_or_else(|| "unknown".into(), |ext| (*ext).to_string())
}

#[utoipa::path(post, path = "/api/v1/captures/{capture_id}/photos", tag = "students",
    params(("capture_id" = String, Path, description = "The capture (UUID)")), security(("bearer" = [])),
    request_body(content = Object, description = "multipart/form-data: `photo` (JPEG, PNG or WebP), `source` (camera or album)", content_type = "multipart/form-data"),
    responses((status = 201, body = PhotoUploaded), (status = "4XX", body = ErrorBody), (status = 503, body = ErrorBody)))]
/// `POST /captures/{id}/photos` → 201 with the upload, its standardised result and checks.
pub async fn upload(
    state: web::Data<AppState>,
    caller: Auth<Students>,
    ctx: CommandContext,
    path: web::Path<CaptureId>,
    form: Multipart,
) -> Result<HttpResponse, ApiError> {
    let capture_id = path.into_inner();
    ensure_access(&state, &caller, capture_id).await?;
    let pipeline = pipeline(&state)?;
    let (bytes, source) = read_form(form, state.api.photos.upload_limit_bytes).await?;
    let (capture, _) = state.ledger.load(&capture_id.to_string()).await?;
    let background = capture
        .qualification
        .as_ref()
        .and_then(|q| q.policy.backgrounds.first().copied())
        .unwrap_or(Background::Blue);
    let mut upload = UploadPhoto {
        photo: StoredPhoto {
            photo_id: PhotoId(ctx.new_id(&caller, "photo")),
            sha256: String::new(),
            bytes: bytes.len() as u64,
            width: 0,
            height: 0,
            format: format_of(&bytes),
        },
        source,
        at: Utc::now(),
    };
    // The capture's own rules (paid first? album allowed? locked?) before the expensive work;
    // the ledger decides again when the upload is recorded.
    capture
        .decide(CaptureCommand::UploadPhoto(upload.clone()))
        .map_err(LedgerError::Refused)?;
    let bytes = Arc::new(bytes);
    let standardised = standardise(&state, pipeline, bytes.clone(), background).await?;
    upload.photo.sha256 = state
        .photo_store
        .put(bytes.to_vec())
        .await
        .map_err(store_error)?;
    upload.photo.width = standardised.report.input.width;
    upload.photo.height = standardised.report.input.height;
    let photo_id = upload.photo.photo_id;
    commands::run(
        &state,
        &caller,
        &ctx,
        capture_id,
        CaptureCommand::UploadPhoto(upload),
    )
    .await?;
    let result = Recorder {
        state: &state,
        caller: &caller,
        ctx: &ctx,
        capture_id,
    }
    .record(photo_id, background, standardised)
    .await?;
    Ok(HttpResponse::Created().json(result))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackgroundBody {
    /// `blue`, `white`, `grey` or `#RRGGBB`, as the batch offers.
    #[schema(value_type = String, example = "grey")]
    background: Background,
}

#[utoipa::path(post, path = "/api/v1/captures/{capture_id}/photos/{photo_id}/background", tag = "students",
    params(("capture_id" = String, Path), ("photo_id" = String, Path, description = "An uploaded photo, or a standard photo made from it")),
    request_body = BackgroundBody, security(("bearer" = [])),
    responses((status = 201, body = PhotoUploaded), (status = "4XX", body = ErrorBody), (status = 503, body = ErrorBody)))]
/// `POST /captures/{id}/photos/{photo_id}/background {background}` → 201 with a new standardised
/// result of the same upload.
pub async fn change_background(
    state: web::Data<AppState>,
    caller: Auth<Students>,
    ctx: CommandContext,
    path: web::Path<(CaptureId, PhotoId)>,
    body: web::Json<BackgroundBody>,
) -> Result<HttpResponse, ApiError> {
    let (capture_id, photo_id) = path.into_inner();
    ensure_access(&state, &caller, capture_id).await?;
    let pipeline = pipeline(&state)?;
    let background = body.background;
    let (capture, _) = state.ledger.load(&capture_id.to_string()).await?;
    if capture
        .qualification
        .as_ref()
        .is_some_and(|q| !q.policy.offers_background(background))
    {
        return Err(LedgerError::Refused(CaptureError::BackgroundNotOffered).into());
    }
    // Before the expensive work; the ledger decides again when the result is recorded.
    capture.room_for_photos(1).map_err(LedgerError::Refused)?;
    let photos = photos_of(&state, capture_id).await?;
    let source = photos
        .iter()
        .find(|p| p.photo.photo_id == photo_id)
        .map(|p| p.source_photo_id.unwrap_or(photo_id))
        .and_then(|source| {
            photos
                .iter()
                .find(|p| p.photo.photo_id == source && p.source_photo_id.is_none())
        })
        .ok_or_else(photo_not_found)?;
    let bytes = state
        .photo_store
        .get(&source.photo.sha256)
        .await
        .map_err(store_error)?;
    let standardised = standardise(&state, pipeline, Arc::new(bytes), background).await?;
    let result = Recorder {
        state: &state,
        caller: &caller,
        ctx: &ctx,
        capture_id,
    }
    .record(source.photo.photo_id, background, standardised)
    .await?;
    Ok(HttpResponse::Created().json(result))
}

/// Runs the pipeline and times it by verdict.
async fn standardise(
    state: &AppState,
    pipeline: &PhotoPipeline,
    bytes: Arc<Vec<u8>>,
    background: Background,
) -> Result<Standardised, ApiError> {
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
    state
        .metrics
        .observe_standardisation(verdict, started.elapsed().as_secs_f64());
    standardised.map_err(|e| photo_refused(&e))
}

fn pipeline(state: &AppState) -> Result<&PhotoPipeline, ApiError> {
    state.photos.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "photo.unavailable",
            "系统暂时无法处理照片，请稍后再试。",
        )
    })
}

fn store_error(e: object_store::Error) -> ApiError {
    ApiError::internal(format!("photo store: {e}"))
}

pub(super) fn photo_not_found() -> ApiError {
    ApiError::not_found("photo.not_found", "没有找到这张照片")
}

/// A photo of a capture as the ledger recorded it; standard photos name their upload.
struct RecordedPhoto {
    photo: StoredPhoto,
    source_photo_id: Option<PhotoId>,
}

/// Every photo of the capture, from its events.
async fn photos_of(
    state: &AppState,
    capture_id: CaptureId,
) -> Result<Vec<RecordedPhoto>, ApiError> {
    let history = state.ledger.history(&capture_id.to_string()).await?;
    Ok(history
        .into_iter()
        .filter_map(|e| serde_json::from_value::<CaptureEvent>(e.payload).ok())
        .filter_map(|event| match event {
            CaptureEvent::PhotoUploaded(e) => Some(RecordedPhoto {
                photo: e.photo,
                source_photo_id: None,
            }),
            CaptureEvent::Standardised(e) => Some(RecordedPhoto {
                photo: e.result,
                source_photo_id: Some(e.source_photo_id),
            }),
            _ => None,
        })
        .collect())
}

/// Records standardised results for one student's request.
struct Recorder<'a> {
    state: &'a AppState,
    caller: &'a Caller,
    ctx: &'a CommandContext,
    capture_id: CaptureId,
}

impl Recorder<'_> {
    /// Stores the standard photo, if one was made, records it as the upload's result, and
    /// answers with the checks and the capture's status.
    async fn record(
        &self,
        source_photo_id: PhotoId,
        background: Background,
        standardised: Standardised,
    ) -> Result<PhotoUploaded, ApiError> {
        let report = standardised.report;
        let standard_photo_id = match (standardised.jpeg, &report.output) {
            (Some(jpeg), Some(output)) => {
                let what = format!("standard-photo:{source_photo_id}:{background}");
                let standard = StoredPhoto {
                    photo_id: PhotoId(self.ctx.new_id(self.caller, &what)),
                    bytes: jpeg.len() as u64,
                    sha256: self
                        .state
                        .photo_store
                        .put(jpeg)
                        .await
                        .map_err(store_error)?,
                    width: output.width,
                    height: output.height,
                    format: "jpeg".into(),
                };
                let standard_id = standard.photo_id;
                let mut metadata = self.ctx.metadata(self.caller, &what);
                metadata.actor = Actor::system("standardiser");
                commands::run_as(
                    self.state,
                    metadata,
                    self.capture_id,
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
        let (_, view) = status_of(self.state, self.capture_id).await?;
        Ok(PhotoUploaded {
            photo_id: source_photo_id,
            standard_photo_id,
            verdict: report.verdict,
            blocking: report.checks.iter().any(|c| c.result.blocks_submission()),
            checks: report.checks,
            capture: view,
        })
    }
}

/// A photo of the capture and its file.
pub(super) async fn photo_file(
    state: &AppState,
    capture_id: CaptureId,
    photo_id: PhotoId,
) -> Result<(StoredPhoto, Vec<u8>), ApiError> {
    let photo = photos_of(state, capture_id)
        .await?
        .into_iter()
        .find(|p| p.photo.photo_id == photo_id)
        .ok_or_else(photo_not_found)?
        .photo;
    let bytes = state
        .photo_store
        .get(&photo.sha256)
        .await
        .map_err(store_error)?;
    Ok((photo, bytes))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PhotoQuery {
    /// `thumb` for a small JPEG preview; the file as stored when absent.
    size: Option<String>,
}

/// The longest side of a preview.
const THUMB_SIDE: u32 = 240;

fn thumbnail(bytes: &[u8]) -> Result<Vec<u8>, ApiError> {
    let limits = crate::photo::spec::InputLimits::default();
    let image = crate::photo::input::decode(bytes, &limits).map_err(|e| photo_refused(&e))?;
    // Keeps the aspect ratio.
    let thumb = image::DynamicImage::ImageRgb8(image)
        .thumbnail(THUMB_SIDE, THUMB_SIDE)
        .into_rgb8();
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 85)
        .encode_image(&thumb)
        .map_err(ApiError::internal)?;
    Ok(jpeg)
}

#[utoipa::path(get, path = "/api/v1/photos/{photo_id}", tag = "students",
    params(("photo_id" = String, Path), PhotoQuery), security(("bearer" = [])),
    responses((status = 200, description = "The image (JPEG, PNG or WebP as uploaded; JPEG for standard photos and previews)", content_type = "image/jpeg"),
        (status = "4XX", body = ErrorBody)))]
/// `GET /photos/{photo_id}` (`?size=thumb`): the image, to its owner and to staff only.
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<PhotoId>,
    query: web::Query<PhotoQuery>,
) -> Result<HttpResponse, ApiError> {
    let photo_id = path.into_inner();
    let thumb = match query.size.as_deref() {
        None => false,
        Some("thumb") => true,
        Some(_) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "http.invalid_query",
                "size 只能为 thumb",
            ))
        }
    };
    let capture_id: CaptureId = photo_history::capture_of(state.ledger.db(), &photo_id.to_string())
        .await?
        .ok_or_else(photo_not_found)?
        .parse()
        .map_err(ApiError::internal)?;
    // Another student's photo is as good as missing.
    ensure_access(&state, &caller, capture_id)
        .await
        .map_err(|_| photo_not_found())?;
    let (photo, bytes) = photo_file(&state, capture_id, photo_id).await?;
    let (content_type, body) = if thumb {
        let jpeg = tokio::task::spawn_blocking(move || thumbnail(&bytes))
            .await
            .map_err(ApiError::internal)??;
        ("image/jpeg", jpeg)
    } else {
        let content_type = match photo.format.as_str() {
            "png" => "image/png",
            "webp" => "image/webp",
            _ => "image/jpeg",
        };
        (content_type, bytes)
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        // Files never change: a photo id always names the same bytes.
        .insert_header(("cache-control", "private, max-age=31536000, immutable"))
        .body(body))
}
