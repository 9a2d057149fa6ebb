//! The per-capture document every view is derived from: the domain's own [`Capture`] state
//! (so statuses and next actions follow exactly the aggregate's rules) plus what screens show
//! that the aggregate does not need to decide (times, checks, shipments).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use photo_ledger_domain::checks::CheckResult;
use photo_ledger_domain::events::{ChsiStage, SamePhoto};
use photo_ledger_domain::values::{Background, OrderId, PhotoId, PhotoSource};
use photo_ledger_domain::{Capture, CaptureEvent};
use serde::{Deserialize, Serialize};

use photo_ledger_store::log::LoggedEvent;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhotoKind {
    Uploaded {
        source: PhotoSource,
    },
    Standard {
        source_photo_id: PhotoId,
        background: Background,
        checks: Vec<CheckResult>,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhotoEntry {
    pub photo_id: PhotoId,
    pub sha256: String,
    pub bytes: u64,
    pub width: u32,
    pub height: u32,
    pub kind: PhotoKind,
    /// A standard photo's perceptual hash, as recorded.
    pub perceptual_hash: Option<String>,
    pub recorded_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Shipment {
    pub carrier: String,
    pub tracking_no: String,
    pub shipped_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CaptureDoc {
    pub capture: Capture,
    pub photos: Vec<PhotoEntry>,
    pub latest_upload: Option<PhotoId>,
    pub submitted_at: Option<DateTime<Utc>>,
    /// What the same-photo search found when the photo in review (or decided last) was submitted.
    pub same_photos: Vec<SamePhoto>,
    pub decided_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub printed_at: BTreeMap<OrderId, DateTime<Utc>>,
    pub shipments: BTreeMap<OrderId, Shipment>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl CaptureDoc {
    /// The capture's document folded from its whole history, read now; `None` for a capture
    /// with no events.
    pub async fn load(
        db: &photo_ledger_store::Db,
        capture_id: &str,
    ) -> Result<Option<CaptureDoc>, crate::ProjectionError> {
        let upcasters = photo_ledger_domain::upcasters::capture_upcasters();
        let history = photo_ledger_store::log::capture_history(db, capture_id, &upcasters).await?;
        if history.is_empty() {
            return Ok(None);
        }
        let mut doc = CaptureDoc::default();
        for logged in &history {
            doc.apply(logged);
        }
        Ok(Some(doc))
    }

    pub fn apply(&mut self, logged: &LoggedEvent) {
        let at = logged.recorded_at();
        match &logged.event {
            CaptureEvent::QualificationVerified(e) => self.created_at = e.verified_at,
            CaptureEvent::PhotoUploaded(e) => {
                self.latest_upload = Some(e.photo.photo_id);
                self.photos.push(PhotoEntry {
                    photo_id: e.photo.photo_id,
                    sha256: e.photo.sha256.clone(),
                    bytes: e.photo.bytes,
                    width: e.photo.width,
                    height: e.photo.height,
                    kind: PhotoKind::Uploaded { source: e.source },
                    perceptual_hash: None,
                    recorded_at: e.uploaded_at,
                });
            }
            CaptureEvent::Standardised(e) => self.photos.push(PhotoEntry {
                photo_id: e.result.photo_id,
                sha256: e.result.sha256.clone(),
                bytes: e.result.bytes,
                width: e.result.width,
                height: e.result.height,
                kind: PhotoKind::Standard {
                    source_photo_id: e.source_photo_id,
                    background: e.background,
                    checks: e.checks.clone(),
                },
                perceptual_hash: e.perceptual_hash.clone(),
                recorded_at: e.standardised_at,
            }),
            CaptureEvent::Submitted(e) => {
                self.submitted_at = Some(e.submitted_at);
                self.same_photos = e.same_photos.clone();
                self.decided_at = None;
            }
            CaptureEvent::Rejected(e) => self.decided_at = Some(e.rejected_at),
            CaptureEvent::Approved(e) => self.decided_at = Some(e.approved_at),
            CaptureEvent::DeliveredToChsi(e) => self.delivered_at = Some(e.delivered_at),
            CaptureEvent::OrderPrinted(e) => {
                self.printed_at.insert(e.order_id, e.printed_at);
            }
            CaptureEvent::OrderShipped(e) => {
                self.shipments.insert(
                    e.order_id,
                    Shipment {
                        carrier: e.carrier.clone(),
                        tracking_no: e.tracking_no.to_string(),
                        shipped_at: e.shipped_at,
                    },
                );
            }
            CaptureEvent::OrderPlaced(_)
            | CaptureEvent::Paid(_)
            | CaptureEvent::ReviewClaimed(_)
            | CaptureEvent::ClaimReleased(_)
            | CaptureEvent::Withdrawn(_)
            | CaptureEvent::ReprintOrdered(_)
            | CaptureEvent::OrderClosed(_)
            | CaptureEvent::PaidInExcess(_)
            | CaptureEvent::RefundRequested(_)
            | CaptureEvent::Refunded(_)
            | CaptureEvent::RefundFailed(_) => {}
        }
        self.capture.apply(logged.event.clone());
        self.updated_at = self.updated_at.max(at);
    }

    pub fn photo(&self, id: PhotoId) -> Option<&PhotoEntry> {
        self.photos.iter().find(|p| p.photo_id == id)
    }

    pub fn checks_of(&self, id: PhotoId) -> Vec<CheckResult> {
        match self.photo(id).map(|p| &p.kind) {
            Some(PhotoKind::Standard { checks, .. }) => checks.clone(),
            _ => vec![],
        }
    }

    pub fn chsi_stage(&self) -> Option<ChsiStage> {
        self.capture.delivered
    }
}
