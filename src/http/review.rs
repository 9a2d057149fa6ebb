//! The reviewers' routes: the queue, claiming a capture, approving or rejecting it with reasons
//! from the catalogue.

use actix_web::{web, HttpResponse};
use chrono::{Duration, Utc};
use data_encoding::BASE64URL_NOPAD;
use photo_ledger_domain::commands::{Approve, ClaimReview, Reject, ReleaseClaim};
use photo_ledger_domain::reasons::{RejectReason, UnknownRejectReason};
use photo_ledger_domain::values::CaptureId;
use photo_ledger_domain::CaptureCommand;
use photo_ledger_projections::review_queue::{self, QueueCursor, QueueFilter, QueueItem};
use serde::{Deserialize, Serialize};

use super::error::{ApiCode, ApiError, ErrorBody};
use super::extract::{Auth, CommandContext, Reviewers};
use crate::http::state::AppState;
use crate::ledger::LedgerError;

/// How long a claim keeps other reviewers off a capture.
pub(crate) const CLAIM_TTL_MINUTES: i64 = 10;
const DEFAULT_PAGE: u32 = 20;
const MAX_PAGE: u32 = 100;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct QueueQuery {
    /// A school id.
    school: Option<String>,
    /// A batch id.
    batch: Option<String>,
    education_type: Option<String>,
    /// 1 to 100; 20 when absent.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The `next` of the previous page.
    after: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct QueuePage {
    #[schema(value_type = Vec<Object>)]
    items: Vec<QueueItem>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

fn bad_query(message: &str) -> ApiError {
    ApiError::with_message(ApiCode::InvalidQuery, message)
}

fn encode_cursor(item: &QueueItem) -> String {
    let cursor = QueueCursor {
        submitted_at: item.submitted_at,
        capture_id: item.capture_id.clone(),
    };
    BASE64URL_NOPAD.encode(&serde_json::to_vec(&cursor).expect("cursors serialise"))
}

fn decode_cursor(text: &str) -> Result<QueueCursor, ApiError> {
    BASE64URL_NOPAD
        .decode(text.as_bytes())
        .ok()
        .and_then(|json| serde_json::from_slice(&json).ok())
        .ok_or_else(|| bad_query("after 参数无效"))
}

#[utoipa::path(get, path = "/api/v1/review/queue", tag = "reviewers", params(QueueQuery), security(("bearer" = [])),
    responses((status = 200, body = QueuePage), (status = "4XX", body = ErrorBody)))]
/// `GET /review/queue`: captures in review, oldest submission first, keyset-paginated.
pub async fn queue(
    state: web::Data<AppState>,
    _caller: Auth<Reviewers>,
    query: web::Query<QueueQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(bad_query("limit 须在 1 到 100 之间"));
    }
    let after = query.after.as_deref().map(decode_cursor).transpose()?;
    let filter = QueueFilter {
        school_id: query.school,
        batch_id: query.batch,
        education_type: query.education_type,
    };
    // One more than asked tells whether another page follows.
    let mut items = review_queue::page(
        state.ledger.db(),
        &filter,
        after.as_ref(),
        i64::from(limit) + 1,
    )
    .await?;
    let next = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(encode_cursor)
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(QueuePage { items, next }))
}

async fn review_command(
    state: &AppState,
    caller: &Auth<Reviewers>,
    ctx: &CommandContext,
    capture_id: CaptureId,
    command: CaptureCommand,
) -> Result<HttpResponse, ApiError> {
    let view = state
        .captures
        .act(&ctx.requester(caller), capture_id, command)
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

#[utoipa::path(post, path = "/api/v1/review/captures/{capture_id}/claim", tag = "reviewers", params(("capture_id" = String, Path, description = "The capture (UUID)")), security(("bearer" = [])),
    responses((status = 200, description = "The capture-status view", body = Object), (status = "4XX", body = ErrorBody)))]
/// `POST /review/captures/{id}/claim`: hold the capture for this reviewer for ten minutes.
pub async fn claim(
    state: web::Data<AppState>,
    caller: Auth<Reviewers>,
    ctx: CommandContext,
    path: web::Path<CaptureId>,
) -> Result<HttpResponse, ApiError> {
    let command = CaptureCommand::ClaimReview(ClaimReview {
        reviewer_id: caller.subject.clone(),
        at: Utc::now(),
        ttl: Duration::minutes(CLAIM_TTL_MINUTES),
    });
    review_command(&state, &caller, &ctx, path.into_inner(), command).await
}

#[utoipa::path(post, path = "/api/v1/review/captures/{capture_id}/release", tag = "reviewers", params(("capture_id" = String, Path, description = "The capture (UUID)")), security(("bearer" = [])),
    responses((status = 200, description = "The capture-status view", body = Object), (status = "4XX", body = ErrorBody)))]
/// `POST /review/captures/{id}/release`: let go of this reviewer's claim, so another may take the
/// capture at once. Releasing a claim one does not hold changes nothing.
pub async fn release(
    state: web::Data<AppState>,
    caller: Auth<Reviewers>,
    ctx: CommandContext,
    path: web::Path<CaptureId>,
) -> Result<HttpResponse, ApiError> {
    let command = CaptureCommand::ReleaseClaim(ReleaseClaim {
        reviewer_id: caller.subject.clone(),
        at: Utc::now(),
    });
    review_command(&state, &caller, &ctx, path.into_inner(), command).await
}

#[utoipa::path(post, path = "/api/v1/review/captures/{capture_id}/approve", tag = "reviewers", params(("capture_id" = String, Path, description = "The capture (UUID)")), security(("bearer" = [])),
    responses((status = 200, description = "The capture-status view", body = Object), (status = "4XX", body = ErrorBody)))]
/// `POST /review/captures/{id}/approve`.
pub async fn approve(
    state: web::Data<AppState>,
    caller: Auth<Reviewers>,
    ctx: CommandContext,
    path: web::Path<CaptureId>,
) -> Result<HttpResponse, ApiError> {
    let command = CaptureCommand::Approve(Approve {
        reviewer_id: caller.subject.clone(),
        at: Utc::now(),
    });
    review_command(&state, &caller, &ctx, path.into_inner(), command).await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectBody {
    /// Codes from `GET /review/reasons`.
    reasons: Vec<String>,
    #[serde(default)]
    note: String,
}

/// Longest note a reviewer may leave.
pub(crate) const MAX_NOTE_CHARS: usize = 500;

#[utoipa::path(post, path = "/api/v1/review/captures/{capture_id}/reject", tag = "reviewers", params(("capture_id" = String, Path, description = "The capture (UUID)")), request_body = RejectBody, security(("bearer" = [])),
    responses((status = 200, description = "The capture-status view", body = Object), (status = "4XX", body = ErrorBody)))]
/// `POST /review/captures/{id}/reject {reasons, note}`.
pub async fn reject(
    state: web::Data<AppState>,
    caller: Auth<Reviewers>,
    ctx: CommandContext,
    path: web::Path<CaptureId>,
    body: web::Json<RejectBody>,
) -> Result<HttpResponse, ApiError> {
    let RejectBody { reasons, note } = body.into_inner();
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(ApiError::invalid(format!(
            "审核备注不能超过 {MAX_NOTE_CHARS} 个字"
        )));
    }
    let at = Utc::now();
    let capture_id = path.into_inner();
    let reasons = match RejectReason::parse_all(&reasons) {
        Ok(reasons) => reasons,
        Err(unknown) => {
            return Err(unknown_reason(&state, &caller, &ctx, capture_id, at, unknown).await);
        }
    };
    let command = CaptureCommand::Reject(Reject {
        reviewer_id: caller.subject.clone(),
        reasons,
        note,
        at,
    });
    review_command(&state, &caller, &ctx, capture_id, command).await
}

/// The answer to a rejection naming a code outside the catalogue. What the capture itself would
/// refuse (not found, not in review, claimed by another) answers first, as it did when the
/// capture read the codes; then 422 `capture.unknown_reject_reason`.
async fn unknown_reason(
    state: &AppState,
    caller: &Auth<Reviewers>,
    ctx: &CommandContext,
    capture_id: CaptureId,
    at: chrono::DateTime<Utc>,
    unknown: UnknownRejectReason,
) -> ApiError {
    let actor = ctx.requester(caller).actor;
    match state.captures.accessible(&actor, capture_id).await {
        Ok(capture) => {
            let refusal = capture.may_decide(&caller.subject, at).err();
            LedgerError::Refused(refusal.unwrap_or_else(|| unknown.into())).into()
        }
        Err(e) => e.into(),
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct Reason {
    code: &'static str,
    label: &'static str,
}

#[utoipa::path(get, path = "/api/v1/review/reasons", tag = "reviewers", security(("bearer" = [])),
    responses((status = 200, body = ReasonCatalogue), (status = "4XX", body = ErrorBody)))]
/// `GET /review/reasons`: the catalogue of reject reasons with their Chinese labels.
pub async fn reasons(_caller: Auth<Reviewers>) -> HttpResponse {
    let reasons = RejectReason::ALL
        .into_iter()
        .map(|r| Reason {
            code: r.code(),
            label: r.label(),
        })
        .collect();
    HttpResponse::Ok().json(ReasonCatalogue { reasons })
}

#[derive(Serialize, utoipa::ToSchema)]
struct ReasonCatalogue {
    reasons: Vec<Reason>,
}
