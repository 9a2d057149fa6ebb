//! The steps every command route shares: check the capture is the caller's, run the command,
//! wait for the views it changes (so the next GET shows it), and read the capture's status.

use photo_ledger_domain::metadata::EventMetadata;
use photo_ledger_domain::values::CaptureId;
use photo_ledger_domain::CaptureCommand;
use photo_ledger_projections::capture_status::CaptureStatusProjection;
use photo_ledger_projections::capture_status::{self, CaptureStatusView};
use photo_ledger_projections::courier_orders::CourierOrdersProjection;
use photo_ledger_projections::photo_history::PhotoHistoryProjection;
use photo_ledger_projections::review_queue::ReviewQueueProjection;
use photo_ledger_projections::Projection;

use super::error::ApiError;
use super::extract::{Caller, CommandContext};
use crate::ledger::{CommandOutcome, CommandRequest, LedgerError};
use crate::startup::AppState;

/// Every view a capture command can change; commands answer once all include them.
pub const VIEWS: &[&str] = &[
    CaptureStatusProjection::NAME,
    ReviewQueueProjection::NAME,
    CourierOrdersProjection::NAME,
    PhotoHistoryProjection::NAME,
];

pub fn capture_not_found() -> ApiError {
    ApiError::not_found("capture.not_found", "没有找到该采集记录")
}

/// Refuses (as not found, so ids cannot be probed) a capture that is not the student's own.
/// Staff may act on any capture.
#[tracing::instrument(skip_all, fields(capture_id = %capture_id))]
pub async fn ensure_access(
    state: &AppState,
    caller: &Caller,
    capture_id: CaptureId,
) -> Result<(), ApiError> {
    let (capture, _) = state.ledger.load(&capture_id.to_string()).await?;
    match capture.qualification {
        Some(_) if caller.is_staff() => Ok(()),
        Some(q) if q.owner == caller.subject => Ok(()),
        _ => Err(capture_not_found()),
    }
}

/// Runs a command for the caller and waits for the views.
pub async fn run(
    state: &AppState,
    caller: &Caller,
    ctx: &CommandContext,
    capture_id: CaptureId,
    command: CaptureCommand,
) -> Result<CommandOutcome, ApiError> {
    let metadata = ctx.metadata(caller, command.name());
    run_as(state, metadata, capture_id, command)
        .await
        .map_err(ApiError::from)
}

/// Runs a command with the given metadata, counts its outcome and waits for the views.
#[tracing::instrument(skip_all, fields(capture_id = %capture_id, command = command.name()))]
pub async fn run_as(
    state: &AppState,
    metadata: EventMetadata,
    capture_id: CaptureId,
    command: CaptureCommand,
) -> Result<CommandOutcome, LedgerError> {
    let name = command.name();
    let outcome = state
        .ledger
        .execute(CommandRequest {
            capture_id: capture_id.to_string(),
            command,
            metadata,
        })
        .await;
    state
        .metrics
        .observe_command(name, outcome.as_ref().map_or_else(|e| e.code(), |_| "ok"));
    let outcome = outcome?;
    state.ledger.wait_for_projections(&outcome, VIEWS).await?;
    Ok(outcome)
}

/// The capture's status page, as its owner sees it.
pub async fn status_of(
    state: &AppState,
    capture_id: CaptureId,
) -> Result<(String, CaptureStatusView), ApiError> {
    capture_status::by_capture(state.ledger.db(), &capture_id.to_string())
        .await?
        .ok_or_else(capture_not_found)
}
