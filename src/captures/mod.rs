//! Acting on a capture: the steps every capture command shares, whoever sends it (a student's
//! request, a reviewer's decision, a payment WeChat Pay confirmed, the order query).
//!
//! [`Captures::act`] is the whole sequence a person's command goes through: check the capture
//! is theirs (staff may act on any), run the command on the ledger, wait for the views it
//! changes (so the next read shows it), and read the capture's status. [`Captures::run`] is the
//! part without the access check, for the service's own commands. [`status_reads`] serves
//! `GET /captures/{id}` in batches.

pub mod status_reads;

use std::sync::Arc;

use photo_ledger_domain::metadata::{Actor, EventMetadata};
use photo_ledger_domain::values::CaptureId;
use photo_ledger_domain::{Capture, CaptureCommand};
use photo_ledger_projections::capture_status::{self, CaptureStatusProjection, CaptureStatusView};
use photo_ledger_projections::collection_progress::CollectionProgressProjection;
use photo_ledger_projections::courier_orders::CourierOrdersProjection;
use photo_ledger_projections::photo_history::PhotoHistoryProjection;
use photo_ledger_projections::refunds::RefundsProjection;
use photo_ledger_projections::review_queue::ReviewQueueProjection;
use photo_ledger_projections::same_photos::SamePhotoIndexProjection;
use photo_ledger_projections::{Projection, ProjectionError};

use crate::ledger::{CommandOutcome, CommandRequest, Ledger, LedgerError};
use crate::telemetry::metrics::Metrics;

/// Every view a capture command can change; commands answer once all include them.
pub const VIEWS: &[&str] = &[
    CaptureStatusProjection::NAME,
    ReviewQueueProjection::NAME,
    CourierOrdersProjection::NAME,
    PhotoHistoryProjection::NAME,
    RefundsProjection::NAME,
    SamePhotoIndexProjection::NAME,
    CollectionProgressProjection::NAME,
];

/// Who asks, on which request, under which idempotency key: everything needed to name the
/// commands a request sends and the things they create, so that a retry names the same ones.
#[derive(Clone, Debug)]
pub struct Requester {
    pub actor: Actor,
    pub request_id: String,
    pub idempotency_key: Option<String>,
}

/// Ids a command creates (an order's, say) are UUID v5 of the idempotency key in this namespace,
/// so a retried command names the same thing.
const DERIVED_IDS: uuid::Uuid = uuid::Uuid::from_u128(0x7b3e_1f52_94c8_4d2a_a6f0_58e1_c94b_0d37);

impl Requester {
    /// The key idempotency and command ids are scoped by: `role:subject`.
    pub fn scope(&self) -> String {
        format!("{}:{}", self.actor.kind(), self.actor.id)
    }

    /// A new id for something the command creates: stable across retries with one key.
    pub fn new_id(&self, what: &str) -> uuid::Uuid {
        match &self.idempotency_key {
            Some(key) => uuid::Uuid::new_v5(
                &DERIVED_IDS,
                format!("{}:{what}:{key}", self.scope()).as_bytes(),
            ),
            None => uuid::Uuid::new_v4(),
        }
    }

    /// The metadata of `command` sent for this request: its command id is stable across
    /// retries with one key.
    pub fn metadata(&self, command: &str) -> EventMetadata {
        let command_id = match &self.idempotency_key {
            Some(key) => format!("{}:{command}:{key}", self.scope()),
            None => uuid::Uuid::new_v4().to_string(),
        };
        EventMetadata {
            actor: self.actor.clone(),
            request_id: self.request_id.clone(),
            command_id,
            recorded_at: chrono::Utc::now(),
        }
    }
}

/// Why acting on a capture did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CaptureAccessError {
    /// No such capture, or not the requester's own: the same answer, so ids cannot be probed.
    #[error("no such capture for this requester")]
    NotFound,
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("the capture's views cannot be read")]
    View(#[from] ProjectionError),
}

/// Runs capture commands and reads what they changed.
#[derive(Clone)]
pub struct Captures {
    ledger: Arc<Ledger>,
    metrics: Metrics,
}

impl Captures {
    pub fn new(ledger: Arc<Ledger>, metrics: Metrics) -> Self {
        Self { ledger, metrics }
    }

    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }

    /// The capture as it is now, when `actor` may act on it: a student only on their own,
    /// staff on any.
    #[tracing::instrument(skip_all, fields(capture_id = %capture_id))]
    pub async fn accessible(
        &self,
        actor: &Actor,
        capture_id: CaptureId,
    ) -> Result<Capture, CaptureAccessError> {
        let (capture, _) = self.ledger.load(&capture_id.to_string()).await?;
        match &capture.qualification {
            Some(_) if actor.is_staff() => Ok(capture),
            Some(q) if q.owner == actor.id => Ok(capture),
            _ => Err(CaptureAccessError::NotFound),
        }
    }

    /// Runs a command, counts its outcome and waits for the views.
    #[tracing::instrument(skip_all, fields(capture_id = %capture_id, command = command.name()))]
    pub async fn run(
        &self,
        metadata: EventMetadata,
        capture_id: CaptureId,
        command: CaptureCommand,
    ) -> Result<CommandOutcome, LedgerError> {
        let name = command.name();
        let outcome = self
            .ledger
            .execute(CommandRequest {
                capture_id: capture_id.to_string(),
                command,
                metadata,
            })
            .await;
        self.metrics
            .observe_command(name, outcome.as_ref().map_or_else(|e| e.code(), |_| "ok"));
        let outcome = outcome?;
        if !outcome.replayed {
            self.metrics.observe_recorded(&outcome.events);
        }
        self.ledger.wait_for_projections(&outcome, VIEWS).await?;
        Ok(outcome)
    }

    /// Runs a command sent on a request, named so that a retry of the request is the same
    /// command.
    pub async fn send(
        &self,
        requester: &Requester,
        capture_id: CaptureId,
        command: CaptureCommand,
    ) -> Result<CommandOutcome, LedgerError> {
        let metadata = requester.metadata(command.name());
        self.run(metadata, capture_id, command).await
    }

    /// A person's command on a capture they may act on, answered with the capture's new status.
    pub async fn act(
        &self,
        requester: &Requester,
        capture_id: CaptureId,
        command: CaptureCommand,
    ) -> Result<CaptureStatusView, CaptureAccessError> {
        self.accessible(&requester.actor, capture_id).await?;
        self.send(requester, capture_id, command).await?;
        self.status(capture_id).await
    }

    /// The capture's status page.
    pub async fn status(
        &self,
        capture_id: CaptureId,
    ) -> Result<CaptureStatusView, CaptureAccessError> {
        capture_status::by_capture(self.ledger.db(), &capture_id.to_string())
            .await?
            .map(|(_, view)| view)
            .ok_or(CaptureAccessError::NotFound)
    }

    /// Waits until the views include a command that ran elsewhere (eligibility opens captures
    /// through its own path).
    pub async fn wait_for_views(&self, outcome: &CommandOutcome) -> Result<(), LedgerError> {
        self.ledger.wait_for_projections(outcome, VIEWS).await
    }
}
