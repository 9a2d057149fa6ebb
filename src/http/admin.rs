//! Admins' routes: a capture's audit trail, marking it delivered to 学信网, the
//! failed-verification log, and the schools, batches and rosters students verify against.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use photo_ledger_domain::commands::MarkDelivered;
use photo_ledger_domain::events::ChsiStage;
use photo_ledger_domain::feature_code::FeatureCode;
use photo_ledger_domain::metadata::EventMetadata;
use photo_ledger_domain::policy::{BatchPolicy, PaperPrintsOffer};
use photo_ledger_domain::values::CaptureId;
use photo_ledger_domain::values::{Background, Fen};
use photo_ledger_domain::CaptureCommand;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ErrorBody};
use super::extract::{limit_within, Admins, Auth, CommandContext};
use crate::captures::CaptureAccessError;
use crate::eligibility::batches::NewBatch;
use crate::eligibility::roster::{self, ImportRequest};
use crate::eligibility::{attempts, batches, schools};
use crate::http::state::AppState;

#[derive(Serialize)]
struct AuditEvent {
    sequence: usize,
    event_type: String,
    event_version: String,
    payload: serde_json::Value,
    /// Who, on which request, when (absent only on events recorded without metadata).
    metadata: Option<EventMetadata>,
}

#[utoipa::path(get, path = "/api/v1/admin/captures/{capture_id}/events", tag = "admins", params(("capture_id" = String, Path, description = "The capture (UUID)")), security(("bearer" = [])),
    responses((status = 200, description = "`{events: [{sequence, event_type, event_version, payload, metadata}]}`", body = Object), (status = "4XX", body = ErrorBody)))]
/// `GET /admin/captures/{id}/events`: every event of the capture, in order, upcast to the
/// current schema.
pub async fn events(
    state: web::Data<AppState>,
    _caller: Auth<Admins>,
    path: web::Path<CaptureId>,
) -> Result<HttpResponse, ApiError> {
    let history = state.ledger.history(&path.to_string()).await?;
    if history.is_empty() {
        return Err(CaptureAccessError::NotFound.into());
    }
    let events: Vec<AuditEvent> = history
        .into_iter()
        .map(|e| AuditEvent {
            sequence: e.sequence,
            metadata: EventMetadata::from_stored(&e.metadata),
            event_type: e.event_type,
            event_version: e.event_version,
            payload: e.payload,
        })
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "events": events })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveredBody {
    /// `uploading` (上网中) or `completed` (已完成); completed when absent.
    #[schema(value_type = Option<String>)]
    stage: Option<ChsiStage>,
}

#[utoipa::path(post, path = "/api/v1/admin/captures/{capture_id}/delivered", tag = "admins", params(("capture_id" = String, Path, description = "The capture (UUID)")), request_body = DeliveredBody, security(("bearer" = [])),
    responses((status = 200, description = "The capture-status view", body = Object), (status = "4XX", body = ErrorBody)))]
/// `POST /admin/captures/{id}/delivered {stage?}`: the approved photo reached 学信网.
pub async fn delivered(
    state: web::Data<AppState>,
    caller: Auth<Admins>,
    ctx: CommandContext,
    path: web::Path<CaptureId>,
    body: web::Json<DeliveredBody>,
) -> Result<HttpResponse, ApiError> {
    let command = CaptureCommand::MarkDelivered(MarkDelivered {
        stage: body.stage.unwrap_or(ChsiStage::Completed),
        at: Utc::now(),
    });
    let view = state
        .captures
        .act(&ctx.requester(&caller), path.into_inner(), command)
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AttemptsQuery {
    /// RFC 3339; the last 24 hours when absent.
    since: Option<DateTime<Utc>>,
    /// 1 to 1000; 100 when absent.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/admin/verification-failures", tag = "admins", params(AttemptsQuery), security(("bearer" = [])),
    responses((status = 200, description = "`{attempts: [{caller, subject, method, code, counted, at}]}`", body = Object), (status = "4XX", body = ErrorBody)))]
/// `GET /admin/verification-failures?since=&limit=`: the failed-verification log, newest first.
pub async fn verification_failures(
    state: web::Data<AppState>,
    _caller: Auth<Admins>,
    query: web::Query<AttemptsQuery>,
) -> Result<HttpResponse, ApiError> {
    let since = query
        .since
        .unwrap_or_else(|| Utc::now() - Duration::days(1));
    let limit = limit_within(query.limit, 100, 1000)? as u32;
    let attempts = attempts::list(state.ledger.db(), since, limit).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "attempts": attempts })))
}

#[utoipa::path(get, path = "/api/v1/admin/schools", tag = "admins", security(("bearer" = [])),
    responses((status = 200, description = "`{schools: [{school_id, name, categories}]}`", body = Object), (status = "4XX", body = ErrorBody)))]
/// `GET /admin/schools`: every school and the categories it collects for.
pub async fn schools(
    state: web::Data<AppState>,
    _caller: Auth<Admins>,
) -> Result<HttpResponse, ApiError> {
    let schools = schools::list(state.ledger.db()).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "schools": schools })))
}

#[utoipa::path(get, path = "/api/v1/admin/batches", tag = "admins", security(("bearer" = [])),
    responses((status = 200, description = "`{batches: [...]}` with feature codes, policies and deadlines", body = Object), (status = "4XX", body = ErrorBody)))]
/// `GET /admin/batches`: every batch with its feature code, policy and deadline.
pub async fn batches(
    state: web::Data<AppState>,
    _caller: Auth<Admins>,
) -> Result<HttpResponse, ApiError> {
    let batches = batches::list(state.ledger.db()).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "batches": batches })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSchool {
    /// The school's full name, as students type it.
    name: String,
    /// Education categories it collects for (普通高等教育, 开放教育, …).
    categories: Vec<String>,
}

/// `POST /admin/schools {name, categories}`: add a school, or categories to an existing one.
#[utoipa::path(post, path = "/api/v1/admin/schools", tag = "admins", request_body = NewSchool, security(("bearer" = [])),
    responses((status = 201, description = "A new school", body = Object), (status = 200, description = "Categories added", body = Object), (status = "4XX", body = ErrorBody)))]
pub async fn add_school(
    state: web::Data<AppState>,
    _caller: Auth<Admins>,
    body: web::Json<NewSchool>,
) -> Result<HttpResponse, ApiError> {
    let (school, created) =
        schools::add(state.ledger.db(), &body.name, &body.categories, Utc::now()).await?;
    let mut response = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response.json(school))
}

fn default_true() -> bool {
    true
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBatchBody {
    /// The school, by name.
    school: String,
    education_type: String,
    /// The collection fee in fen (0: free, as for exam photos).
    price_fen: u64,
    /// Students pay before uploading.
    #[serde(default)]
    pay_before_upload: bool,
    /// Photos from the album are accepted (otherwise live camera only).
    #[serde(default = "default_true")]
    album_allowed: bool,
    /// Backgrounds offered: `blue`, `white`, `grey` or `#RRGGBB`; the three standard ones when
    /// absent.
    #[schema(value_type = Option<Vec<String>>)]
    backgrounds: Option<Vec<Background>>,
    /// Mailed paper prints at this price per sheet, in fen; none when absent.
    paper_prints_fen: Option<u64>,
    /// Last day of the collection (China time); open until further notice when absent.
    #[schema(value_type = Option<String>, format = Date)]
    deadline: Option<NaiveDate>,
}

/// `POST /admin/batches`: open a collection batch; its feature code is drawn here.
#[utoipa::path(post, path = "/api/v1/admin/batches", tag = "admins", request_body = NewBatchBody, security(("bearer" = [])),
    responses((status = 201, description = "The batch with its feature code and policy", body = Object), (status = "4XX", body = ErrorBody)))]
pub async fn add_batch(
    state: web::Data<AppState>,
    _caller: Auth<Admins>,
    body: web::Json<NewBatchBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let new = NewBatch {
        school: body.school,
        education_type: body.education_type,
        policy: BatchPolicy {
            price_fen: Fen::new(body.price_fen),
            pay_before_upload: body.pay_before_upload,
            album_allowed: body.album_allowed,
            backgrounds: body
                .backgrounds
                .unwrap_or_else(|| BatchPolicy::default().backgrounds),
            paper_prints: body.paper_prints_fen.map(|fen| PaperPrintsOffer {
                price_per_sheet_fen: Fen::new(fen),
            }),
        },
        closes_at: body.deadline.map(batches::closes_after).transpose()?,
    };
    let batch = batches::add(state.ledger.db(), new, Utc::now()).await?;
    Ok(HttpResponse::Created().json(batch))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RosterQuery {
    /// The school, by name.
    school: String,
    /// The file's name; its extension (`.csv`, `.xlsx`) says how to read it.
    file_name: String,
    /// Ties the imported students to the batch with this feature code.
    batch: Option<String>,
}

/// `POST /admin/rosters?school=&file_name=&batch=` with the CSV or XLSX file as the body: good
/// rows are imported, bad ones reported by line.
#[utoipa::path(post, path = "/api/v1/admin/rosters", tag = "admins", params(RosterQuery), security(("bearer" = [])),
    request_body(content = Vec<u8>, description = "The roster file (CSV or XLSX)", content_type = "application/octet-stream"),
    responses((status = 200, description = "`{import_id, file_sha256, rows_read, inserted, updated, unchanged, problems}`", body = Object), (status = "4XX", body = ErrorBody)))]
pub async fn import_roster(
    state: web::Data<AppState>,
    caller: Auth<Admins>,
    query: web::Query<RosterQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = super::error::read_body(payload, state.api.http.roster_limit_bytes).await?;
    let batch = query
        .batch
        .as_deref()
        .map(FeatureCode::parse)
        .transpose()
        .map_err(crate::eligibility::EligibilityError::from)?;
    let report = roster::import(
        state.ledger.db(),
        ImportRequest {
            school: &query.school,
            batch: batch.as_ref(),
            file_name: &query.file_name,
            bytes: &body,
            imported_by: &caller.subject,
            at: Utc::now(),
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(report))
}
