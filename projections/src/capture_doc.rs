//! The per-capture document every view is derived from: the domain's own [`Capture`] state
//! (so statuses and next actions follow exactly the aggregate's rules) plus what screens show
//! that the aggregate does not need to decide (times, checks, shipments).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use photo_ledger_domain::checks::CheckResult;
use photo_ledger_domain::events::{ChsiStage, SamePhoto};
use photo_ledger_domain::reasons::RejectReason;
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

/// One submission of the capture and how it ended, for the reviewer who sees it again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubmissionEntry {
    pub standard_photo_id: PhotoId,
    pub submitted_at: DateTime<Utc>,
    /// `None` while it waits for review.
    pub outcome: Option<SubmissionOutcome>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubmissionOutcome {
    Rejected {
        reviewer_id: String,
        reasons: Vec<RejectReason>,
        note: String,
        at: DateTime<Utc>,
    },
    Approved {
        reviewer_id: String,
        at: DateTime<Utc>,
    },
    Withdrawn {
        at: DateTime<Utc>,
    },
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
    /// Every submission, oldest first.
    pub submissions: Vec<SubmissionEntry>,
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
        decoder: &photo_ledger_store::Decoder,
        capture_id: &str,
    ) -> Result<Option<CaptureDoc>, crate::ProjectionError> {
        let history = photo_ledger_store::log::capture_history(decoder, capture_id).await?;
        if history.is_empty() {
            return Ok(None);
        }
        let mut doc = CaptureDoc::default();
        for logged in &history {
            doc.apply(logged);
        }
        Ok(Some(doc))
    }

    /// About what the document takes in memory, in bytes: the size of each part and the
    /// length of the text it holds. An estimate (it leaves out allocator slack and the small
    /// strings of orders and refunds), for keeping documents within a memory budget.
    pub fn approximate_bytes(&self) -> usize {
        use std::mem::size_of;
        /// A B-tree map's entry with its share of the node.
        const MAP_ENTRY: usize = 16;
        let photos: usize = self
            .photos
            .iter()
            .map(|p| {
                let checks = match &p.kind {
                    PhotoKind::Standard { checks, .. } => checks
                        .iter()
                        .map(|c| size_of::<CheckResult>() + c.code.len())
                        .sum(),
                    PhotoKind::Uploaded { .. } => 0,
                };
                size_of::<PhotoEntry>()
                    + p.sha256.len()
                    + p.perceptual_hash.as_ref().map_or(0, String::len)
                    + checks
            })
            .sum();
        let submissions: usize = self
            .submissions
            .iter()
            .map(|s| {
                size_of::<SubmissionEntry>()
                    + match &s.outcome {
                        Some(SubmissionOutcome::Rejected {
                            reviewer_id,
                            reasons,
                            note,
                            ..
                        }) => {
                            reviewer_id.len()
                                + note.len()
                                + reasons.len() * size_of::<RejectReason>()
                        }
                        Some(SubmissionOutcome::Approved { reviewer_id, .. }) => reviewer_id.len(),
                        Some(SubmissionOutcome::Withdrawn { .. }) | None => 0,
                    }
            })
            .sum();
        let shipments: usize = self
            .shipments
            .values()
            .map(|s| {
                MAP_ENTRY + size_of::<(OrderId, Shipment)>() + s.carrier.len() + s.tracking_no.len()
            })
            .sum();
        let capture = &self.capture;
        let aggregate = capture.qualification.as_ref().map_or(0, |q| {
            // Names, school, batch and consent: a few hundred bytes of text.
            size_of::<photo_ledger_domain::events::QualificationVerified>() + 1024 + q.owner.len()
        }) + capture.orders.len()
            * (MAP_ENTRY + size_of::<(OrderId, photo_ledger_domain::orders::Order)>())
            + capture
                .transactions
                .keys()
                .map(|t| MAP_ENTRY + size_of::<(String, OrderId)>() + t.len())
                .sum::<usize>()
            + capture.excess_payments.len() * (MAP_ENTRY + 64)
            + capture.refunds.len()
                * (MAP_ENTRY + size_of::<photo_ledger_domain::refunds::Refund>())
            + capture.uploads.len() * (MAP_ENTRY + size_of::<PhotoId>())
            + capture.standards.len()
                * (MAP_ENTRY
                    + size_of::<(PhotoId, photo_ledger_domain::aggregate::StandardPhoto)>());
        size_of::<Self>()
            + photos
            + submissions
            + shipments
            + self.same_photos.len() * size_of::<SamePhoto>()
            + self.printed_at.len() * (MAP_ENTRY + size_of::<(OrderId, DateTime<Utc>)>())
            + aggregate
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
                self.submissions.push(SubmissionEntry {
                    standard_photo_id: e.standard_photo_id,
                    submitted_at: e.submitted_at,
                    outcome: None,
                });
            }
            CaptureEvent::Rejected(e) => {
                self.decided_at = Some(e.rejected_at);
                self.end_submission(SubmissionOutcome::Rejected {
                    reviewer_id: e.reviewer_id.clone(),
                    reasons: e.reasons.clone(),
                    note: e.note.clone(),
                    at: e.rejected_at,
                });
            }
            CaptureEvent::Approved(e) => {
                self.decided_at = Some(e.approved_at);
                self.end_submission(SubmissionOutcome::Approved {
                    reviewer_id: e.reviewer_id.clone(),
                    at: e.approved_at,
                });
            }
            CaptureEvent::Withdrawn(e) => {
                self.end_submission(SubmissionOutcome::Withdrawn { at: e.withdrawn_at })
            }
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
            CaptureEvent::Erased(_) => {
                // The photos are deleted with the person's information, and a tracking number
                // finds the recipient at the courier.
                self.photos.clear();
                self.latest_upload = None;
                self.same_photos.clear();
                self.shipments.clear();
            }
            CaptureEvent::OrderPlaced(_)
            | CaptureEvent::Paid(_)
            | CaptureEvent::ReviewClaimed(_)
            | CaptureEvent::ClaimReleased(_)
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

    /// Records how the submission waiting for review ended.
    fn end_submission(&mut self, outcome: SubmissionOutcome) {
        if let Some(open) = self.submissions.last_mut().filter(|s| s.outcome.is_none()) {
            open.outcome = Some(outcome);
        }
    }

    /// The submissions before the one now in review (or decided last), newest first.
    pub fn earlier_submissions(&self) -> impl Iterator<Item = &SubmissionEntry> {
        self.submissions.iter().rev().skip(1)
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

#[cfg(test)]
impl CaptureDoc {
    /// Folds `event` as capture `c`'s `n`th (from 0), at a made-up position of the log.
    pub(crate) fn apply_nth(&mut self, n: usize, event: CaptureEvent) {
        self.apply(&LoggedEvent {
            position: photo_ledger_store::log::Position {
                txid: 1,
                position: n as i64,
            },
            capture_id: "c".into(),
            sequence: n as i64 + 1,
            event,
            metadata: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use photo_ledger_domain::events::{Approved, Rejected, Submitted, Withdrawn};

    use super::*;

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, 9, minute, 0).unwrap()
    }

    fn doc_of(events: Vec<CaptureEvent>) -> CaptureDoc {
        let mut doc = CaptureDoc::default();
        for (n, event) in events.into_iter().enumerate() {
            doc.apply_nth(n, event);
        }
        doc
    }

    fn submitted(photo: PhotoId, minute: u32) -> CaptureEvent {
        CaptureEvent::Submitted(Submitted {
            standard_photo_id: photo,
            same_photos: vec![],
            submitted_at: at(minute),
        })
    }

    #[test]
    fn given_a_rejection_a_withdrawal_and_a_new_submission_when_folded_then_the_earlier_ones_say_how_they_ended(
    ) {
        let (first, second, third) = (PhotoId::new(), PhotoId::new(), PhotoId::new());
        let doc = doc_of(vec![
            submitted(first, 1),
            CaptureEvent::Rejected(Rejected {
                reviewer_id: "r1".into(),
                reasons: vec![RejectReason::EyesClosed, RejectReason::HeadTilted],
                note: "请睁眼".into(),
                rejected_at: at(2),
            }),
            submitted(second, 3),
            CaptureEvent::Withdrawn(Withdrawn {
                withdrawn_at: at(4),
            }),
            submitted(third, 5),
        ]);

        let earlier: Vec<_> = doc.earlier_submissions().collect();
        assert_eq!(earlier.len(), 2);
        assert_eq!(earlier[0].standard_photo_id, second, "newest first");
        assert_eq!(
            earlier[0].outcome,
            Some(SubmissionOutcome::Withdrawn { at: at(4) })
        );
        assert_eq!(earlier[1].standard_photo_id, first);
        assert_eq!(
            earlier[1].outcome,
            Some(SubmissionOutcome::Rejected {
                reviewer_id: "r1".into(),
                reasons: vec![RejectReason::EyesClosed, RejectReason::HeadTilted],
                note: "请睁眼".into(),
                at: at(2),
            })
        );
        assert_eq!(doc.submissions.last().unwrap().outcome, None, "in review");
    }

    #[test]
    fn given_an_approval_when_folded_then_the_submission_records_it_and_nothing_is_earlier() {
        let photo = PhotoId::new();
        let doc = doc_of(vec![
            submitted(photo, 1),
            CaptureEvent::Approved(Approved {
                reviewer_id: "r1".into(),
                standard_photo_id: photo,
                approved_at: at(2),
            }),
        ]);
        assert_eq!(doc.earlier_submissions().count(), 0);
        assert_eq!(
            doc.submissions[0].outcome,
            Some(SubmissionOutcome::Approved {
                reviewer_id: "r1".into(),
                at: at(2),
            })
        );
    }
}
