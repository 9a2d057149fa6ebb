//! Admins' routes over the guessing locks: which keys are locked (student records, student
//! accounts, staff accounts, client addresses), and lifting one before its time.

use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ErrorBody};
use super::extract::{Admins, Auth};
use crate::guessing::{self, Lock};
use crate::http::state::AppState;

#[derive(Serialize, utoipa::ToSchema)]
struct LockList {
    locks: Vec<Lock>,
}

#[utoipa::path(get, path = "/api/v1/admin/locks", tag = "admins", operation_id = "list_locks", security(("bearer" = [])),
    responses((status = 200, body = LockList), (status = "4XX", body = ErrorBody)))]
/// `GET /admin/locks`: the guessing locks in force, the longest first.
pub async fn list(
    state: web::Data<AppState>,
    _caller: Auth<Admins>,
) -> Result<HttpResponse, ApiError> {
    let locks = guessing::locks(state.ledger.db(), Utc::now()).await?;
    Ok(HttpResponse::Ok().json(LockList { locks }))
}

/// The longest reason kept.
pub const MAX_REASON_CHARS: usize = 500;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LiftBody {
    /// The lock's key, as `GET /admin/locks` lists it.
    key: String,
    /// Why it is lifted early (kept with who lifted it).
    reason: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct Lifted {
    /// The lock lifted; null when the key was not locked (lifting twice is harmless).
    lifted: Option<Lock>,
}

#[utoipa::path(post, path = "/api/v1/admin/locks/lift", tag = "admins", operation_id = "lift_lock", request_body = LiftBody, security(("bearer" = [])),
    responses((status = 200, body = Lifted), (status = "4XX", body = ErrorBody)))]
/// `POST /admin/locks/lift {key, reason}`: ends a lock now and forgets the key's wrong guesses,
/// recording which admin lifted it and why.
pub async fn lift(
    state: web::Data<AppState>,
    caller: Auth<Admins>,
    body: web::Json<LiftBody>,
) -> Result<HttpResponse, ApiError> {
    let LiftBody { key, reason } = body.into_inner();
    let lifted = lift_lock(&state, &caller.0.subject, &key, &reason).await?;
    Ok(HttpResponse::Ok().json(Lifted { lifted }))
}

/// Lifts the lock on `key` for `admin`, who says why (1 to 500 characters); the lock lifted, or
/// `None` when the key was not locked. The API's route and the console's form both come here.
pub async fn lift_lock(
    state: &AppState,
    admin: &str,
    key: &str,
    reason: &str,
) -> Result<Option<Lock>, ApiError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(ApiError::invalid(format!(
            "reason 须为 1 到 {MAX_REASON_CHARS} 个字符"
        )));
    }
    let lifted = guessing::lift(state.ledger.db(), key, admin, reason, Utc::now()).await?;
    if let Some(lock) = &lifted {
        tracing::info!(key = %lock.key, %admin, "guessing lock lifted");
    }
    Ok(lifted)
}
