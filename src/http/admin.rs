//! Admins' routes: a capture's audit trail, marking it delivered to 学信网, the
//! failed-verification log, and the schools and batches students verify against.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use photo_ledger_domain::commands::MarkDelivered;
use photo_ledger_domain::events::ChsiStage;
use photo_ledger_domain::metadata::EventMetadata;
use photo_ledger_domain::values::CaptureId;
use photo_ledger_domain::CaptureCommand;
use serde::{Deserialize, Serialize};

use super::commands::{self, ensure_owned, status_of};
use super::error::{ApiError, ErrorBody};
use super::extract::{Admins, Auth, CommandContext};
use crate::eligibility::{attempts, batches, schools};
use crate::startup::AppState;

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
        return Err(commands::capture_not_found());
    }
    let events: Vec<AuditEvent> = history
        .into_iter()
        .map(|e| AuditEvent {
            sequence: e.sequence,
            metadata: serde_json::from_value(e.metadata.clone())
                .ok()
                .and_then(|map| EventMetadata::from_map(&map)),
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
    let capture_id = path.into_inner();
    ensure_owned(&state, &caller, capture_id).await?;
    let command = CaptureCommand::MarkDelivered(MarkDelivered {
        stage: body.stage.unwrap_or(ChsiStage::Completed),
        at: Utc::now(),
    });
    commands::run(&state, &caller, &ctx, capture_id, command).await?;
    Ok(HttpResponse::Ok().json(status_of(&state, capture_id).await?.1))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AttemptsQuery {
    /// RFC 3339; the last 24 hours when absent.
    since: Option<DateTime<Utc>>,
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
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
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
