//! Admins' point-in-time reads: a capture, or a whole view, as it was at a moment, replayed from
//! the log without touching the live views (`crate::audit::point_in_time`).

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use photo_ledger_domain::values::CaptureId;
use serde::Deserialize;

use super::error::{ApiError, ErrorBody};
use super::extract::{Admins, Auth};
use crate::audit::point_in_time::{capture_at, fold_named, view_at};
use crate::captures::CaptureAccessError;
use crate::http::state::AppState;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AtQuery {
    /// The moment, RFC 3339 (`2026-12-01T09:00:00+08:00`).
    at: DateTime<Utc>,
}

#[utoipa::path(get, path = "/api/v1/admin/audit/captures/{capture_id}", tag = "admins",
    params(("capture_id" = String, Path, description = "The capture (UUID)"), AtQuery), security(("bearer" = [])),
    responses((status = 200, description = "`{capture_id, at, sequence, status, state}`: the status view and the aggregate's state as they were", body = Object), (status = "4XX", body = ErrorBody), (status = 503, body = ErrorBody)))]
/// `GET /admin/audit/captures/{id}?at=`: the capture as it was at `at`.
pub async fn capture(
    state: web::Data<AppState>,
    _caller: Auth<Admins>,
    path: web::Path<CaptureId>,
    query: web::Query<AtQuery>,
) -> Result<HttpResponse, ApiError> {
    let status = fold_named("capture_status", state.person_keyer.clone())?;
    let capture = capture_at(
        state.ledger.decoder(),
        status.as_ref(),
        &path.to_string(),
        query.at,
    )
    .await?;
    if capture.sequence == 0 {
        return Err(CaptureAccessError::NotFound.into());
    }
    Ok(HttpResponse::Ok().json(capture))
}

#[utoipa::path(get, path = "/api/v1/admin/audit/views/{view}", tag = "admins",
    params(("view" = String, Path, description = "capture_status, review_queue, courier_orders, photo_history, same_photos, refunds or collection_progress"), AtQuery), security(("bearer" = [])),
    responses((status = 200, description = "`{view, at, events, position, tables: {table: [row]}}`: the view's rows as they were", body = Object), (status = "4XX", body = ErrorBody), (status = 503, body = ErrorBody)))]
/// `GET /admin/audit/views/{view}?at=`: a view's rows as they were at `at`.
pub async fn view(
    state: web::Data<AppState>,
    _caller: Auth<Admins>,
    path: web::Path<String>,
    query: web::Query<AtQuery>,
) -> Result<HttpResponse, ApiError> {
    let fold = fold_named(&path, state.person_keyer.clone())?;
    let view = view_at(state.ledger.decoder(), fold.as_ref(), query.at).await?;
    Ok(HttpResponse::Ok().json(view))
}
