//! `POST /captures/{id}/photos`: a student's photo, streamed in as multipart (`photo`, and
//! `source` camera|album), standardised on the bounded pipeline, both files stored by SHA-256,
//! and recorded in the ledger as the upload and its standardised result;
//! `POST /captures/{id}/photos/{photo_id}/background` makes a new result of the same upload.

use actix_multipart::Multipart;
use actix_web::{web, HttpResponse};
use photo_ledger_domain::values::{Background, CaptureId, PhotoId, PhotoSource};
use photo_ledger_photo::checks::Check;
use photo_ledger_photo::report::Verdict;
use photo_ledger_projections::capture_status::CaptureStatusView;
use serde::{Deserialize, Serialize};

use super::error::{ApiCode, ApiError, ErrorBody};
use super::extract::{multipart_fields, Auth, Caller, CommandContext, Students};
use super::state::AppState;
use crate::photos::{PhotoResult, PhotoServiceError};
use photo_ledger_domain::metadata::Actor;

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

impl From<PhotoResult> for PhotoUploaded {
    fn from(result: PhotoResult) -> Self {
        Self {
            photo_id: result.photo_id,
            standard_photo_id: result.standard_photo_id,
            verdict: result.verdict,
            checks: result.checks,
            blocking: result.blocking,
            capture: result.capture,
        }
    }
}

/// The multipart form: the picture (read up to `limit` bytes) and where it came from.
async fn read_form(form: Multipart, limit: usize) -> Result<(Vec<u8>, PhotoSource), ApiError> {
    let mut fields =
        multipart_fields(form, &[("photo", limit), ("source", 16)], "照片文件太大").await?;
    let source = match fields.get("source").map(|f| f.bytes.as_slice()) {
        None | Some(b"camera") => PhotoSource::Camera,
        Some(b"album") => PhotoSource::Album,
        Some(_) => return Err(ApiError::invalid("source 须为 camera 或 album")),
    };
    let photo = fields
        .remove("photo")
        .ok_or_else(|| ApiError::invalid("请上传照片（字段 photo）"))?
        .bytes;
    Ok((photo, source))
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
    let to = state
        .photos
        .accepts_uploads(&caller.actor(), path.into_inner())
        .await?;
    let (bytes, source) = read_form(form, state.api.photos.upload_limit_bytes).await?;
    let result = state
        .photos
        .upload(&ctx.requester(&caller), to, bytes, source)
        .await?;
    Ok(HttpResponse::Created().json(PhotoUploaded::from(result)))
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
    let result = state
        .photos
        .change_background(
            &ctx.requester(&caller),
            capture_id,
            photo_id,
            body.background,
        )
        .await?;
    Ok(HttpResponse::Created().json(PhotoUploaded::from(result)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PhotoQuery {
    /// `thumb` for a small JPEG preview; the file as stored when absent.
    size: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/photos/{photo_id}", tag = "students", operation_id = "get_photo",
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
    let thumb = match query.size.as_deref() {
        None => false,
        Some("thumb") => true,
        Some(_) => {
            return Err(ApiError::with_message(
                ApiCode::InvalidQuery,
                "size 只能为 thumb",
            ))
        }
    };
    Ok(photo_response(&state, &caller.actor(), path.into_inner(), thumb).await?)
}

/// A photo (or its preview) as an answer, to whoever `actor` may see it: for the API and the
/// console alike.
pub async fn photo_response(
    state: &AppState,
    actor: &Actor,
    photo_id: PhotoId,
    thumb: bool,
) -> Result<HttpResponse, PhotoServiceError> {
    let (content_type, body) = if thumb {
        ("image/jpeg", state.photos.preview(actor, photo_id).await?)
    } else {
        let file = state.photos.file(actor, photo_id).await?;
        (file.content_type(), file.bytes)
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        // Files never change: a photo id always names the same bytes.
        .insert_header(("cache-control", "private, max-age=31536000, immutable"))
        .body(body))
}
