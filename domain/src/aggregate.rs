//! The capture aggregate: one student, one education record, from proven eligibility to a
//! delivered photo and mailed prints.
//!
//! All decisions are made in `handle`; `apply` only records what happened and never fails.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use crate::commands::*;
use crate::error::CaptureError;
use crate::events::*;
use crate::identity::StudentIdentity;
use crate::orders::{
    CloseReason, Order, OrderPurpose, OrderState, PrintRequest, MAX_SHEETS_PER_ORDER,
};
use crate::reasons::RejectReason;
use crate::refunds::{refund_id, Refund, RefundOutcome, RefundReason, RefundState};
use crate::status::{CaptureStatus, NextAction};
use crate::values::{Background, Fen, OrderId, PhotoId, RefundId};

/// A standardised photo as the capture remembers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StandardPhoto {
    pub source_photo_id: PhotoId,
    pub background: Background,
    pub blocking_failure: bool,
}

/// A reviewer's hold on a capture in review.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub reviewer_id: String,
    pub expires_at: DateTime<Utc>,
}

impl Claim {
    fn blocks(&self, reviewer_id: &str, at: DateTime<Utc>) -> bool {
        self.reviewer_id != reviewer_id && self.expires_at > at
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Review {
    #[default]
    NotSubmitted,
    InReview {
        standard_photo_id: PhotoId,
        submitted_at: DateTime<Utc>,
        claim: Option<Claim>,
    },
    Withdrawn,
    Rejected {
        reasons: Vec<RejectReason>,
        note: String,
    },
    Approved {
        standard_photo_id: PhotoId,
    },
}

/// Most photos (uploads and standard photos) one capture keeps. Far above any real retake
/// count; it bounds what a capture's state, snapshot and views hold.
pub const MAX_PHOTOS: usize = 100;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capture {
    pub qualification: Option<QualificationVerified>,
    pub orders: BTreeMap<OrderId, Order>,
    /// Provider transaction ids already recorded, with the order each paid.
    pub transactions: BTreeMap<String, OrderId>,
    /// Payments recorded but not kept (each is refunded), by transaction id.
    #[serde(default)]
    pub excess_payments: BTreeMap<String, Fen>,
    #[serde(default)]
    pub refunds: BTreeMap<RefundId, Refund>,
    pub uploads: BTreeSet<PhotoId>,
    pub standards: BTreeMap<PhotoId, StandardPhoto>,
    pub latest_standard: Option<PhotoId>,
    /// A standard photo was made after the last rejection.
    pub new_photo_since_rejection: bool,
    pub review: Review,
    pub delivered: Option<ChsiStage>,
    /// When the student's personal information was erased; the capture then refuses every
    /// command and its state no longer holds who the student was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erased_at: Option<DateTime<Utc>>,
}

impl Aggregate for Capture {
    const TYPE: &'static str = "Capture";
    type Command = CaptureCommand;
    type Event = CaptureEvent;
    type Error = CaptureError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            CaptureEvent::QualificationVerified(e) => self.qualification = Some(e),
            CaptureEvent::OrderPlaced(e) => {
                self.orders.insert(
                    e.order_id,
                    Order {
                        order_id: e.order_id,
                        purpose: e.purpose,
                        amount_fen: e.amount_fen,
                        prints: e.prints,
                        state: OrderState::AwaitingPayment,
                        transaction_id: None,
                        paid_at: None,
                        tracking_no: None,
                    },
                );
            }
            CaptureEvent::ReprintOrdered(e) => {
                self.orders.insert(
                    e.order_id,
                    Order {
                        order_id: e.order_id,
                        purpose: OrderPurpose::Reprint,
                        amount_fen: e.amount_fen,
                        prints: Some(e.print_request()),
                        state: OrderState::AwaitingPayment,
                        transaction_id: None,
                        paid_at: None,
                        tracking_no: None,
                    },
                );
            }
            CaptureEvent::Paid(e) => {
                self.transactions
                    .insert(e.transaction_id.clone(), e.order_id);
                if let Some(order) = self.orders.get_mut(&e.order_id) {
                    order.state = OrderState::Paid;
                    order.transaction_id = Some(e.transaction_id);
                    order.paid_at = Some(e.paid_at);
                }
            }
            CaptureEvent::PhotoUploaded(e) => {
                self.uploads.insert(e.photo.photo_id);
            }
            CaptureEvent::Standardised(e) => {
                let blocking_failure = e.has_blocking_failure();
                self.standards.insert(
                    e.result.photo_id,
                    StandardPhoto {
                        source_photo_id: e.source_photo_id,
                        background: e.background,
                        blocking_failure,
                    },
                );
                self.latest_standard = Some(e.result.photo_id);
                if matches!(self.review, Review::Rejected { .. }) {
                    self.new_photo_since_rejection = true;
                }
            }
            CaptureEvent::Submitted(e) => {
                self.review = Review::InReview {
                    standard_photo_id: e.standard_photo_id,
                    submitted_at: e.submitted_at,
                    claim: None,
                };
                self.new_photo_since_rejection = false;
            }
            CaptureEvent::ReviewClaimed(e) => {
                if let Review::InReview { claim, .. } = &mut self.review {
                    *claim = Some(Claim {
                        reviewer_id: e.reviewer_id,
                        expires_at: e.expires_at,
                    });
                }
            }
            CaptureEvent::ClaimReleased(_) => {
                if let Review::InReview { claim, .. } = &mut self.review {
                    *claim = None;
                }
            }
            CaptureEvent::Withdrawn(_) => self.review = Review::Withdrawn,
            CaptureEvent::Rejected(e) => {
                self.review = Review::Rejected {
                    reasons: e.reasons,
                    note: e.note,
                };
                self.new_photo_since_rejection = false;
            }
            CaptureEvent::Approved(e) => {
                self.review = Review::Approved {
                    standard_photo_id: e.standard_photo_id,
                }
            }
            CaptureEvent::DeliveredToChsi(e) => self.delivered = Some(e.stage),
            CaptureEvent::OrderPrinted(e) => {
                if let Some(order) = self.orders.get_mut(&e.order_id) {
                    order.state = OrderState::Printed;
                }
            }
            CaptureEvent::OrderShipped(e) => {
                if let Some(order) = self.orders.get_mut(&e.order_id) {
                    order.state = OrderState::Shipped;
                    order.tracking_no = Some(e.tracking_no);
                }
            }
            CaptureEvent::OrderClosed(e) => {
                if let Some(order) = self.orders.get_mut(&e.order_id) {
                    order.state = OrderState::Closed;
                }
            }
            CaptureEvent::PaidInExcess(e) => {
                self.transactions
                    .insert(e.transaction_id.clone(), e.order_id);
                self.excess_payments.insert(e.transaction_id, e.amount_fen);
            }
            CaptureEvent::RefundRequested(e) => {
                self.refunds.insert(
                    e.refund_id,
                    Refund {
                        refund_id: e.refund_id,
                        order_id: e.order_id,
                        transaction_id: e.transaction_id,
                        amount_fen: e.amount_fen,
                        reason: e.reason,
                        note: e.note,
                        state: RefundState::Requested,
                        provider_refund_id: None,
                        failure: None,
                        requested_at: e.requested_at,
                        settled_at: None,
                    },
                );
            }
            CaptureEvent::Refunded(e) => {
                let Some(refund) = self.refunds.get_mut(&e.refund_id) else {
                    return;
                };
                refund.state = RefundState::Refunded;
                refund.provider_refund_id = Some(e.provider_refund_id);
                refund.failure = None;
                refund.settled_at = Some(e.refunded_at);
                // The order's own payment given back: the order is no longer paid.
                if let Some(order) = self.orders.get_mut(&refund.order_id) {
                    if order.transaction_id.as_ref() == Some(&refund.transaction_id) {
                        order.state = OrderState::Refunded;
                    }
                }
            }
            CaptureEvent::RefundFailed(e) => {
                if let Some(refund) = self.refunds.get_mut(&e.refund_id) {
                    refund.state = RefundState::Failed;
                    refund.failure = Some(e.reason);
                    refund.settled_at = Some(e.failed_at);
                }
            }
            CaptureEvent::Erased(e) => self.forget(e.erased_at),
        }
    }
}

impl Capture {
    /// Decides what a command records, or why it is refused. Returns no events for a command
    /// that is already satisfied (a repeated payment notification, say).
    pub fn decide(&self, command: CaptureCommand) -> Result<Vec<CaptureEvent>, CaptureError> {
        if let CaptureCommand::VerifyQualification(cmd) = command {
            return self.verify(cmd);
        }
        let Some(q) = &self.qualification else {
            return Err(CaptureError::NotVerified);
        };
        if self.erased_at.is_some() {
            return match command {
                // Erasing again changes nothing.
                CaptureCommand::Erase(_) => Ok(vec![]),
                _ => Err(CaptureError::Erased),
            };
        }
        match command {
            CaptureCommand::VerifyQualification(_) => unreachable!("handled above"),
            CaptureCommand::PlaceOrder(cmd) => self.place_order(q, cmd),
            CaptureCommand::ConfirmPayment(cmd) => self.confirm_payment(cmd),
            CaptureCommand::UploadPhoto(cmd) => self.upload(q, cmd),
            CaptureCommand::RecordStandardisation(cmd) => self.standardise(q, cmd),
            CaptureCommand::Submit(cmd) => self.submit(q, cmd),
            CaptureCommand::ClaimReview(cmd) => self.claim(cmd),
            CaptureCommand::ReleaseClaim(cmd) => self.release(cmd),
            CaptureCommand::Withdraw(cmd) => self.withdraw(cmd),
            CaptureCommand::Reject(cmd) => self.reject(cmd),
            CaptureCommand::Approve(cmd) => self.approve(cmd),
            CaptureCommand::MarkDelivered(cmd) => self.mark_delivered(cmd),
            CaptureCommand::MarkPrinted(cmd) => self.mark_printed(cmd),
            CaptureCommand::Ship(cmd) => self.ship(cmd),
            CaptureCommand::CloseOrder(cmd) => self.close_order(cmd),
            CaptureCommand::RequestRefund(cmd) => self.request_refund(cmd),
            CaptureCommand::RecordRefund(cmd) => self.record_refund(cmd),
            CaptureCommand::Erase(cmd) => Ok(vec![CaptureEvent::Erased(Erased {
                reason: cmd.reason,
                erased_by: cmd.by,
                erased_at: cmd.at,
            })]),
        }
    }

    fn verify(&self, cmd: VerifyQualification) -> Result<Vec<CaptureEvent>, CaptureError> {
        if self.qualification.is_some() {
            return Err(CaptureError::AlreadyExists);
        }
        Ok(vec![CaptureEvent::QualificationVerified(
            QualificationVerified {
                capture_id: cmd.capture_id,
                owner: cmd.owner,
                school: cmd.school,
                education_type: cmd.education_type,
                batch: cmd.batch,
                student: cmd.student,
                policy: cmd.policy,
                verified_by: cmd.verified_by,
                verified_at: cmd.at,
                consent: cmd.consent,
            },
        )])
    }

    fn place_order(
        &self,
        q: &QualificationVerified,
        cmd: PlaceOrder,
    ) -> Result<Vec<CaptureEvent>, CaptureError> {
        if self.orders.contains_key(&cmd.order_id) {
            return Err(CaptureError::DuplicateOrder(cmd.order_id));
        }
        let prints_cost = |prints: &PrintRequest| -> Result<Fen, CaptureError> {
            let offer = q
                .policy
                .paper_prints
                .ok_or(CaptureError::PrintsNotOffered)?;
            validate_prints(prints)?;
            offer.price_per_sheet_fen.checked_mul(prints.sheets).ok_or(
                CaptureError::InvalidSheets {
                    max: MAX_SHEETS_PER_ORDER,
                },
            )
        };
        match cmd.purpose {
            OrderPurpose::Collection => {
                if !q.policy.requires_fee() {
                    return Err(CaptureError::NoFeeRequired);
                }
                if self.fee_paid() {
                    return Err(CaptureError::FeeAlreadyPaid);
                }
                // One unpaid collection order at a time: a second tap, key or device asking
                // for the same gets the one already placed (the service answers it), so the
                // fee is paid once. Asking for something else (prints added or changed)
                // replaces it; were the old one paid after all, that payment is refunded.
                let mut events = vec![];
                if let Some(unpaid) = self.unpaid_collection_order() {
                    if self.orders[&unpaid].prints == cmd.prints {
                        return Ok(vec![]);
                    }
                    events.push(CaptureEvent::OrderClosed(OrderClosed {
                        order_id: unpaid,
                        reason: CloseReason::Replaced,
                        closed_at: cmd.at,
                    }));
                }
                let prints_fen = match &cmd.prints {
                    Some(prints) => prints_cost(prints)?,
                    None => Fen::ZERO,
                };
                let amount_fen = q.policy.price_fen.checked_add(prints_fen).ok_or(
                    CaptureError::InvalidSheets {
                        max: MAX_SHEETS_PER_ORDER,
                    },
                )?;
                events.push(order_placed(cmd, amount_fen));
                Ok(events)
            }
            OrderPurpose::PaperPrints => {
                if self.is_approved() {
                    // After approval prints are reprints of the approved photo.
                    return Err(CaptureError::Locked);
                }
                let prints = cmd
                    .prints
                    .as_ref()
                    .ok_or(CaptureError::PrintDetailsRequired)?;
                let amount_fen = prints_cost(prints)?;
                Ok(vec![order_placed(cmd, amount_fen)])
            }
            OrderPurpose::Reprint => {
                if !self.is_approved() {
                    return Err(CaptureError::NotApproved);
                }
                let prints = cmd.prints.ok_or(CaptureError::PrintDetailsRequired)?;
                let amount_fen = prints_cost(&prints)?;
                Ok(vec![CaptureEvent::ReprintOrdered(ReprintOrdered {
                    order_id: cmd.order_id,
                    layout: prints.layout,
                    sheets: prints.sheets,
                    recipient: prints.recipient,
                    phone: prints.phone,
                    address: prints.address,
                    amount_fen,
                    ordered_at: cmd.at,
                })])
            }
        }
    }

    fn confirm_payment(&self, cmd: ConfirmPayment) -> Result<Vec<CaptureEvent>, CaptureError> {
        if let Some(paid_order) = self.transactions.get(&cmd.transaction_id) {
            // The provider repeats notifications; the first one counted.
            return if *paid_order == cmd.order_id {
                Ok(vec![])
            } else {
                Err(CaptureError::TransactionReused(cmd.transaction_id))
            };
        }
        let order = self
            .orders
            .get(&cmd.order_id)
            .ok_or(CaptureError::UnknownOrder(cmd.order_id))?;
        // The money has moved whatever we think of it: a payment the capture cannot keep is
        // recorded and given back in full.
        let excess = match order.state {
            OrderState::Closed => Some(RefundReason::OrderClosed),
            OrderState::AwaitingPayment if order.amount_fen != cmd.amount_fen => {
                Some(RefundReason::AmountMismatch)
            }
            OrderState::AwaitingPayment
                if order.purpose == OrderPurpose::Collection && self.fee_paid() =>
            {
                Some(RefundReason::FeeAlreadyPaid)
            }
            OrderState::AwaitingPayment => None,
            _ => Some(RefundReason::OrderAlreadyPaid),
        };
        if let Some(reason) = excess {
            return Ok(vec![
                CaptureEvent::PaidInExcess(PaidInExcess {
                    order_id: cmd.order_id,
                    purpose: order.purpose,
                    amount_fen: cmd.amount_fen,
                    provider: cmd.provider,
                    transaction_id: cmd.transaction_id.clone(),
                    paid_at: cmd.paid_at,
                    reason,
                }),
                CaptureEvent::RefundRequested(RefundRequested {
                    refund_id: refund_id(&cmd.transaction_id, 0),
                    order_id: cmd.order_id,
                    transaction_id: cmd.transaction_id,
                    amount_fen: cmd.amount_fen,
                    reason,
                    note: String::new(),
                    requested_at: cmd.paid_at,
                }),
            ]);
        }
        Ok(vec![CaptureEvent::Paid(Paid {
            order_id: cmd.order_id,
            purpose: order.purpose,
            amount_fen: cmd.amount_fen,
            provider: cmd.provider,
            transaction_id: cmd.transaction_id,
            paid_at: cmd.paid_at,
        })])
    }

    fn close_order(&self, cmd: CloseOrder) -> Result<Vec<CaptureEvent>, CaptureError> {
        let order = self
            .orders
            .get(&cmd.order_id)
            .ok_or(CaptureError::UnknownOrder(cmd.order_id))?;
        match order.state {
            OrderState::AwaitingPayment => Ok(vec![CaptureEvent::OrderClosed(OrderClosed {
                order_id: cmd.order_id,
                reason: cmd.reason,
                closed_at: cmd.at,
            })]),
            OrderState::Closed => Ok(vec![]),
            _ => Err(CaptureError::OrderAlreadyPaid),
        }
    }

    fn request_refund(&self, cmd: RequestRefund) -> Result<Vec<CaptureEvent>, CaptureError> {
        let order = self
            .orders
            .get(&cmd.order_id)
            .ok_or(CaptureError::UnknownOrder(cmd.order_id))?;
        let note = cmd.note.trim();
        if note.is_empty() {
            return Err(CaptureError::RefundNoteRequired);
        }
        let transaction_id = match cmd.transaction_id {
            Some(tx) if self.transactions.get(&tx) == Some(&cmd.order_id) => tx,
            Some(tx) => return Err(CaptureError::UnknownPayment(tx)),
            None => order
                .transaction_id
                .clone()
                .ok_or(CaptureError::OrderUnpaid)?,
        };
        let earlier: Vec<&Refund> = self
            .refunds
            .values()
            .filter(|r| r.transaction_id == transaction_id)
            .collect();
        if earlier.iter().any(|r| r.is_active()) {
            return Err(CaptureError::AlreadyRefunded);
        }
        let amount_fen = self
            .excess_payments
            .get(&transaction_id)
            .copied()
            .unwrap_or(order.amount_fen);
        Ok(vec![CaptureEvent::RefundRequested(RefundRequested {
            refund_id: refund_id(&transaction_id, earlier.len()),
            order_id: cmd.order_id,
            transaction_id,
            amount_fen,
            reason: RefundReason::ByStaff,
            note: note.to_string(),
            requested_at: cmd.at,
        })])
    }

    fn record_refund(&self, cmd: RecordRefund) -> Result<Vec<CaptureEvent>, CaptureError> {
        let refund = self
            .refunds
            .get(&cmd.refund_id)
            .ok_or(CaptureError::UnknownRefund(cmd.refund_id))?;
        Ok(match (refund.state, cmd.outcome) {
            // Money back is final; a failure reported again, or late, changes nothing.
            (RefundState::Refunded, _) | (RefundState::Failed, RefundOutcome::Failed { .. }) => {
                vec![]
            }
            // A refund that failed can still be completed at the provider by hand.
            (
                RefundState::Requested | RefundState::Failed,
                RefundOutcome::Refunded {
                    provider_refund_id,
                    at,
                },
            ) => vec![CaptureEvent::Refunded(Refunded {
                refund_id: cmd.refund_id,
                provider_refund_id,
                refunded_at: at,
            })],
            (RefundState::Requested, RefundOutcome::Failed { reason, at }) => {
                vec![CaptureEvent::RefundFailed(RefundFailed {
                    refund_id: cmd.refund_id,
                    reason,
                    failed_at: at,
                })]
            }
        })
    }

    fn upload(
        &self,
        q: &QualificationVerified,
        cmd: UploadPhoto,
    ) -> Result<Vec<CaptureEvent>, CaptureError> {
        // A photo id names one file for good: the capture has it already (a retry that ran
        // again after a crash), so there is nothing more to record.
        if self.uploads.contains(&cmd.photo.photo_id) {
            return Ok(vec![]);
        }
        self.may_upload_as(q, cmd.source)?;
        Ok(vec![CaptureEvent::PhotoUploaded(PhotoUploaded {
            photo: cmd.photo,
            source: cmd.source,
            uploaded_at: cmd.at,
        })])
    }

    /// Whether a photo from `source` would be accepted now, before the photo exists: what the
    /// service asks before it spends a core on standardising it. The ledger decides again when
    /// the upload is recorded.
    pub fn may_upload(&self, source: crate::values::PhotoSource) -> Result<(), CaptureError> {
        let Some(q) = &self.qualification else {
            return Err(CaptureError::NotVerified);
        };
        self.may_upload_as(q, source)
    }

    fn may_upload_as(
        &self,
        q: &QualificationVerified,
        source: crate::values::PhotoSource,
    ) -> Result<(), CaptureError> {
        if self.is_approved() {
            return Err(CaptureError::Locked);
        }
        if q.policy.pay_before_upload && self.fee_due() {
            return Err(CaptureError::PaymentRequired);
        }
        if source == crate::values::PhotoSource::Album && !q.policy.album_allowed {
            return Err(CaptureError::AlbumNotAllowed);
        }
        // An upload leaves room for its standard photo.
        self.room_for_photos(2)
    }

    fn standardise(
        &self,
        q: &QualificationVerified,
        cmd: RecordStandardisation,
    ) -> Result<Vec<CaptureEvent>, CaptureError> {
        // As for uploads: a standard photo the capture has is recorded already.
        if self.standards.contains_key(&cmd.result.photo_id) {
            return Ok(vec![]);
        }
        if self.is_approved() {
            return Err(CaptureError::Locked);
        }
        if !self.uploads.contains(&cmd.source_photo_id) {
            return Err(CaptureError::UnknownPhoto(cmd.source_photo_id));
        }
        if !q.policy.offers_background(cmd.background) {
            return Err(CaptureError::BackgroundNotOffered);
        }
        self.room_for_photos(1)?;
        Ok(vec![CaptureEvent::Standardised(Standardised {
            source_photo_id: cmd.source_photo_id,
            result: cmd.result,
            background: cmd.background,
            spec_name: cmd.spec_name,
            spec_version: cmd.spec_version,
            checks: cmd.checks,
            perceptual_hash: cmd.perceptual_hash,
            standardised_at: cmd.at,
        })])
    }

    fn submit(
        &self,
        q: &QualificationVerified,
        cmd: Submit,
    ) -> Result<Vec<CaptureEvent>, CaptureError> {
        match self.review {
            Review::InReview { .. } => return Err(CaptureError::AlreadyInReview),
            Review::Approved { .. } => return Err(CaptureError::Locked),
            _ => {}
        }
        if q.policy.requires_fee() && !self.fee_paid() {
            return Err(CaptureError::PaymentRequired);
        }
        let photo = self
            .standards
            .get(&cmd.standard_photo_id)
            .ok_or(CaptureError::NotStandardPhoto(cmd.standard_photo_id))?;
        if photo.blocking_failure {
            return Err(CaptureError::BlockingCheckFailed);
        }
        Ok(vec![CaptureEvent::Submitted(Submitted {
            standard_photo_id: cmd.standard_photo_id,
            same_photos: cmd.same_photos,
            submitted_at: cmd.at,
        })])
    }

    fn claim(&self, cmd: ClaimReview) -> Result<Vec<CaptureEvent>, CaptureError> {
        let Review::InReview { claim, .. } = &self.review else {
            return Err(CaptureError::NotInReview);
        };
        if cmd.ttl <= Duration::zero() {
            return Err(CaptureError::InvalidClaimTtl);
        }
        if claim
            .as_ref()
            .is_some_and(|c| c.blocks(&cmd.reviewer_id, cmd.at))
        {
            return Err(CaptureError::ClaimedByAnother);
        }
        Ok(vec![CaptureEvent::ReviewClaimed(ReviewClaimed {
            reviewer_id: cmd.reviewer_id,
            claimed_at: cmd.at,
            expires_at: cmd.at + cmd.ttl,
        })])
    }

    /// Lets go of this reviewer's live claim. Releasing what one does not hold (never held, run
    /// out, released already) records nothing, so a retry is harmless; another reviewer's live
    /// claim is theirs to release.
    fn release(&self, cmd: ReleaseClaim) -> Result<Vec<CaptureEvent>, CaptureError> {
        let Review::InReview { claim, .. } = &self.review else {
            return Err(CaptureError::NotInReview);
        };
        match claim {
            Some(c) if c.blocks(&cmd.reviewer_id, cmd.at) => Err(CaptureError::ClaimedByAnother),
            Some(c) if c.reviewer_id == cmd.reviewer_id && c.expires_at > cmd.at => {
                Ok(vec![CaptureEvent::ClaimReleased(ClaimReleased {
                    reviewer_id: cmd.reviewer_id,
                    released_at: cmd.at,
                })])
            }
            _ => Ok(vec![]),
        }
    }

    fn withdraw(&self, cmd: Withdraw) -> Result<Vec<CaptureEvent>, CaptureError> {
        match self.review {
            Review::InReview { .. } => Ok(vec![CaptureEvent::Withdrawn(Withdrawn {
                withdrawn_at: cmd.at,
            })]),
            Review::Approved { .. } => Err(CaptureError::Locked),
            _ => Err(CaptureError::NotInReview),
        }
    }

    /// Whether `reviewer_id` may approve or reject now: the refusal a decision would get from
    /// the capture's state alone, before its own input is looked at.
    pub fn may_decide(&self, reviewer_id: &str, at: DateTime<Utc>) -> Result<(), CaptureError> {
        if self.qualification.is_none() {
            return Err(CaptureError::NotVerified);
        }
        self.decidable(reviewer_id, at).map(|_| ())
    }

    /// The photo under review, when `reviewer_id` may decide on it now.
    fn decidable(&self, reviewer_id: &str, at: DateTime<Utc>) -> Result<PhotoId, CaptureError> {
        let Review::InReview {
            standard_photo_id,
            claim,
            ..
        } = &self.review
        else {
            return Err(CaptureError::NotInReview);
        };
        if claim.as_ref().is_some_and(|c| c.blocks(reviewer_id, at)) {
            return Err(CaptureError::ClaimedByAnother);
        }
        Ok(*standard_photo_id)
    }

    fn reject(&self, cmd: Reject) -> Result<Vec<CaptureEvent>, CaptureError> {
        self.decidable(&cmd.reviewer_id, cmd.at)?;
        if cmd.reasons.is_empty() {
            return Err(CaptureError::RejectReasonRequired);
        }
        Ok(vec![CaptureEvent::Rejected(Rejected {
            reviewer_id: cmd.reviewer_id,
            reasons: cmd.reasons,
            note: cmd.note,
            rejected_at: cmd.at,
        })])
    }

    fn approve(&self, cmd: Approve) -> Result<Vec<CaptureEvent>, CaptureError> {
        let standard_photo_id = self.decidable(&cmd.reviewer_id, cmd.at)?;
        Ok(vec![CaptureEvent::Approved(Approved {
            reviewer_id: cmd.reviewer_id,
            standard_photo_id,
            approved_at: cmd.at,
        })])
    }

    fn mark_delivered(&self, cmd: MarkDelivered) -> Result<Vec<CaptureEvent>, CaptureError> {
        let Review::Approved { standard_photo_id } = self.review else {
            return Err(CaptureError::NotApproved);
        };
        match self.delivered {
            Some(stage) if stage == cmd.stage => Ok(vec![]),
            Some(stage) if stage > cmd.stage => Err(CaptureError::DeliveryStageRegress),
            _ => Ok(vec![CaptureEvent::DeliveredToChsi(DeliveredToChsi {
                standard_photo_id,
                stage: cmd.stage,
                delivered_at: cmd.at,
            })]),
        }
    }

    fn print_order(&self, order_id: OrderId) -> Result<&Order, CaptureError> {
        let order = self
            .orders
            .get(&order_id)
            .ok_or(CaptureError::UnknownOrder(order_id))?;
        if order.prints.is_none() {
            return Err(CaptureError::NotAPrintOrder);
        }
        if !order.is_paid() {
            return Err(CaptureError::OrderUnpaid);
        }
        Ok(order)
    }

    fn mark_printed(&self, cmd: MarkPrinted) -> Result<Vec<CaptureEvent>, CaptureError> {
        let order = self.print_order(cmd.order_id)?;
        if !self.is_approved() {
            return Err(CaptureError::NotApproved);
        }
        match order.state {
            OrderState::Printed => Ok(vec![]),
            OrderState::Shipped => Err(CaptureError::AlreadyShipped),
            _ => Ok(vec![CaptureEvent::OrderPrinted(OrderPrinted {
                order_id: cmd.order_id,
                printed_at: cmd.at,
            })]),
        }
    }

    fn ship(&self, cmd: Ship) -> Result<Vec<CaptureEvent>, CaptureError> {
        match self.may_ship(cmd.order_id) {
            // Shipped under this very number: a retry, nothing new to record.
            Err(CaptureError::AlreadyShipped)
                if self
                    .orders
                    .get(&cmd.order_id)
                    .and_then(|o| o.tracking_no.as_ref())
                    == Some(&cmd.tracking_no) =>
            {
                return Ok(vec![])
            }
            refused => refused?,
        }
        if cmd.carrier.trim().is_empty() {
            return Err(CaptureError::TrackingRequired);
        }
        Ok(vec![CaptureEvent::OrderShipped(OrderShipped {
            order_id: cmd.order_id,
            carrier: cmd.carrier.trim().to_string(),
            tracking_no: cmd.tracking_no,
            shipped_at: cmd.at,
        })])
    }

    /// What shipping `order_id` would be refused for by the capture's state alone, before the
    /// command's own input is looked at.
    pub fn may_ship(&self, order_id: OrderId) -> Result<(), CaptureError> {
        if self.qualification.is_none() {
            return Err(CaptureError::NotVerified);
        }
        if self.print_order(order_id)?.state == OrderState::Shipped {
            return Err(CaptureError::AlreadyShipped);
        }
        Ok(())
    }

    /// Refuses when `more` photos would take the capture past [`MAX_PHOTOS`].
    pub fn room_for_photos(&self, more: usize) -> Result<(), CaptureError> {
        if self.photo_count() + more > MAX_PHOTOS {
            return Err(CaptureError::PhotoLimitReached { max: MAX_PHOTOS });
        }
        Ok(())
    }

    // ---- derived state ----

    /// Uploads and standard photos recorded so far.
    pub fn photo_count(&self) -> usize {
        self.uploads.len() + self.standards.len()
    }

    pub fn is_approved(&self) -> bool {
        self.approved_photo().is_some()
    }

    /// Who the capture is of, while it says so: `None` before verification and once erased.
    pub fn identified(&self) -> Option<&QualificationVerified> {
        self.qualification
            .as_ref()
            .filter(|_| self.erased_at.is_none())
    }

    /// The standard photo a reviewer approved, once approved.
    pub fn approved_photo(&self) -> Option<PhotoId> {
        match self.review {
            Review::Approved { standard_photo_id } => Some(standard_photo_id),
            _ => None,
        }
    }

    /// The collection fee has been paid.
    pub fn fee_paid(&self) -> bool {
        self.orders
            .values()
            .any(|o| o.purpose == OrderPurpose::Collection && o.is_paid())
    }

    /// The collection order placed and waiting to be paid, if there is one.
    pub fn unpaid_collection_order(&self) -> Option<OrderId> {
        self.orders
            .iter()
            .find(|(_, o)| {
                o.purpose == OrderPurpose::Collection && o.state == OrderState::AwaitingPayment
            })
            .map(|(id, _)| *id)
    }

    /// A collection fee is due and unpaid.
    pub fn fee_due(&self) -> bool {
        self.qualification
            .as_ref()
            .is_some_and(|q| q.policy.requires_fee())
            && !self.fee_paid()
    }

    fn has_submittable_photo(&self) -> bool {
        self.latest_standard
            .and_then(|id| self.standards.get(&id))
            .is_some_and(|p| !p.blocking_failure)
    }

    /// Forgets who the student was: the identity and every print recipient. What was decided
    /// (orders, payments, review) stays, so the books still balance.
    fn forget(&mut self, at: DateTime<Utc>) {
        if let Some(q) = &mut self.qualification {
            q.student = StudentIdentity::erased(q.student.id_type);
        }
        for order in self.orders.values_mut() {
            if let Some(prints) = &mut order.prints {
                prints.erase_recipient();
            }
        }
        self.erased_at = Some(at);
    }

    /// The status the student sees; `None` before eligibility is proven.
    pub fn status(&self) -> Option<CaptureStatus> {
        let q = self.qualification.as_ref()?;
        if self.erased_at.is_some() {
            return Some(CaptureStatus::Erased);
        }
        Some(match &self.review {
            _ if self.delivered.is_some() => CaptureStatus::Delivered,
            Review::Approved { .. } => CaptureStatus::Approved,
            Review::InReview { .. } => CaptureStatus::InReview,
            Review::Rejected { .. } if !self.new_photo_since_rejection => CaptureStatus::Rejected,
            _ if self.fee_due() && (q.policy.pay_before_upload || self.has_submittable_photo()) => {
                CaptureStatus::AwaitingPayment
            }
            _ if self.has_submittable_photo() => CaptureStatus::AwaitingSubmission,
            _ => CaptureStatus::AwaitingPhoto,
        })
    }

    /// The buttons the mini-program shows, in order.
    pub fn next_actions(&self) -> Vec<NextAction> {
        let (Some(q), Some(status)) = (&self.qualification, self.status()) else {
            return vec![];
        };
        let prints_offered = q.policy.paper_prints.is_some();
        let mut actions = Vec::new();
        match status {
            CaptureStatus::Approved | CaptureStatus::Delivered => {
                if prints_offered {
                    actions.push(NextAction::OrderReprint);
                }
                return actions;
            }
            CaptureStatus::InReview => return vec![NextAction::Withdraw],
            CaptureStatus::Erased => return vec![],
            _ => {}
        }
        if self.fee_due() {
            actions.push(NextAction::Pay);
        }
        if !(q.policy.pay_before_upload && self.fee_due()) && self.room_for_photos(2).is_ok() {
            actions.push(NextAction::UploadPhoto);
        }
        if self.latest_standard.is_some() && self.room_for_photos(1).is_ok() {
            actions.push(NextAction::ChangeBackground);
        }
        if status == CaptureStatus::AwaitingSubmission {
            actions.push(NextAction::Submit);
        }
        let has_print_order = self.orders.values().any(|o| {
            o.prints.is_some() && !matches!(o.state, OrderState::Closed | OrderState::Refunded)
        });
        if prints_offered && !has_print_order {
            actions.push(NextAction::OrderPrints);
        }
        actions
    }
}

fn order_placed(cmd: PlaceOrder, amount_fen: Fen) -> CaptureEvent {
    CaptureEvent::OrderPlaced(OrderPlaced {
        order_id: cmd.order_id,
        purpose: cmd.purpose,
        amount_fen,
        prints: cmd.prints,
        placed_at: cmd.at,
    })
}

fn validate_prints(prints: &PrintRequest) -> Result<(), CaptureError> {
    if prints.sheets == 0 || prints.sheets > MAX_SHEETS_PER_ORDER {
        return Err(CaptureError::InvalidSheets {
            max: MAX_SHEETS_PER_ORDER,
        });
    }
    if [&prints.recipient, &prints.phone, &prints.address]
        .iter()
        .any(|s| s.trim().is_empty())
    {
        return Err(CaptureError::IncompleteAddress);
    }
    Ok(())
}
