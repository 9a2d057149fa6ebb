//! `POST /admin/captures/{id}/erasure`: an admin erases a student's personal information
//! (`crate::erasure`), giving the ground for it.

use actix_web::{web, HttpResponse};
use photo_ledger_domain::erasure::ErasureReason;
use photo_ledger_domain::values::CaptureId;
use serde::Deserialize;

use super::error::{ApiError, ErrorBody};
use super::extract::{Admins, Auth};
use crate::erasure::{ErasureReport, Scope};
use crate::http::state::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErasureRequest {
    /// `student_request`, `consent_withdrawn`, `retention_expired`, `purpose_ended` or
    /// `unlawful`: the ground, kept in the capture's log (free text is not, so the record of an
    /// erasure holds nothing personal).
    #[schema(value_type = String, example = "student_request")]
    reason: ErasureReason,
    /// `true` (the default) erases every capture of the same person, as a student's own
    /// request does; `false` this capture alone.
    #[serde(default = "every_capture")]
    whole_person: bool,
}

fn every_capture() -> bool {
    true
}

#[utoipa::path(post, path = "/api/v1/admin/captures/{capture_id}/erasure", tag = "admins",
    params(("capture_id" = String, Path, description = "The capture (UUID)")),
    request_body = ErasureRequest, security(("bearer" = [])),
    responses((status = 200, description = "`{captures, photos_deleted}`: the captures erased (those erased before included) and the photos deleted; erasing again changes nothing", body = Object), (status = "4XX", body = ErrorBody), (status = 503, body = ErrorBody)))]
/// `POST /admin/captures/{id}/erasure`: erases the student's personal information.
pub async fn erase(
    state: web::Data<AppState>,
    caller: Auth<Admins>,
    path: web::Path<CaptureId>,
    body: web::Json<ErasureRequest>,
) -> Result<HttpResponse, ApiError> {
    let scope = if body.whole_person {
        Scope::Person
    } else {
        Scope::Capture
    };
    let report: ErasureReport = state
        .erasure
        .erase(*path, scope, body.reason, &caller.actor())
        .await?;
    Ok(HttpResponse::Ok().json(report))
}
