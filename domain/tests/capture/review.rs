use chrono::Duration;
use photo_ledger_domain::commands::{Approve, ClaimReview, Reject, ReleaseClaim, Withdraw};
use photo_ledger_domain::events::{ClaimReleased, ReviewClaimed, Withdrawn};
use photo_ledger_domain::reasons::RejectReason;
use photo_ledger_domain::{CaptureCommand, CaptureError, CaptureEvent};

use crate::fixtures::*;

fn claim(reviewer: &str, at: i64) -> CaptureCommand {
    CaptureCommand::ClaimReview(ClaimReview {
        reviewer_id: reviewer.into(),
        at: t(at),
        ttl: Duration::minutes(15),
    })
}

fn approve(reviewer: &str, at: i64) -> CaptureCommand {
    CaptureCommand::Approve(Approve {
        reviewer_id: reviewer.into(),
        at: t(at),
    })
}

fn reject(reviewer: &str, at: i64, reasons: &[&str]) -> CaptureCommand {
    CaptureCommand::Reject(Reject {
        reviewer_id: reviewer.into(),
        reasons: RejectReason::parse_all(reasons).expect("catalogue codes"),
        note: "note".into(),
        at: t(at),
    })
}

fn withdraw() -> CaptureCommand {
    CaptureCommand::Withdraw(Withdraw { at: t(12) })
}

fn with(
    mut given: Vec<CaptureEvent>,
    more: impl IntoIterator<Item = CaptureEvent>,
) -> Vec<CaptureEvent> {
    given.extend(more);
    given
}

#[tokio::test]
async fn a_reviewer_claims_a_capture_in_review() {
    let e = assert_records(in_review(), claim("r1", 11), "ReviewClaimed").await;
    assert_eq!(
        e,
        CaptureEvent::ReviewClaimed(ReviewClaimed {
            reviewer_id: "r1".into(),
            claimed_at: t(11),
            expires_at: t(26)
        })
    );
}

#[tokio::test]
async fn claims_by_others_block_until_they_expire() {
    let held = with(in_review(), [claimed("r1", 11, 15)]);
    assert_refused(held.clone(), claim("r2", 12), "capture.claimed_by_another").await;
    assert_records(held.clone(), claim("r1", 12), "ReviewClaimed").await;
    assert_records(held, claim("r2", 27), "ReviewClaimed").await;
}

fn release(reviewer: &str, at: i64) -> CaptureCommand {
    CaptureCommand::ReleaseClaim(ReleaseClaim {
        reviewer_id: reviewer.into(),
        at: t(at),
    })
}

#[tokio::test]
async fn a_reviewer_releases_their_claim_and_another_may_claim_at_once() {
    let held = with(in_review(), [claimed("r1", 11, 15)]);
    let e = assert_records(held.clone(), release("r1", 13), "ClaimReleased").await;
    assert_eq!(
        e,
        CaptureEvent::ClaimReleased(ClaimReleased {
            reviewer_id: "r1".into(),
            released_at: t(13),
        })
    );
    let released = with(held, [e]);
    assert_records(released.clone(), claim("r2", 14), "ReviewClaimed").await;
    assert_records(released, approve("r2", 14), "Approved").await;
}

#[tokio::test]
async fn releasing_what_one_does_not_hold_records_nothing() {
    // Released already (a retry), run out, or never claimed.
    let held = with(in_review(), [claimed("r1", 11, 15)]);
    let released = with(
        held.clone(),
        [CaptureEvent::ClaimReleased(ClaimReleased {
            reviewer_id: "r1".into(),
            released_at: t(13),
        })],
    );
    assert_nothing_recorded(released, release("r1", 14)).await;
    assert_nothing_recorded(held.clone(), release("r1", 27)).await;
    assert_nothing_recorded(in_review(), release("r1", 12)).await;
    // Another reviewer's live claim is theirs; once it has run out there is nothing to release.
    assert_refused(
        held.clone(),
        release("r2", 12),
        "capture.claimed_by_another",
    )
    .await;
    assert_nothing_recorded(held, release("r2", 27)).await;
}

#[tokio::test]
async fn release_refusals() {
    assert_refused(
        vec![verified(free_policy())],
        release("r1", 1),
        "capture.not_in_review",
    )
    .await;
    assert_refused(
        approved_capture(),
        release("r1", 30),
        "capture.not_in_review",
    )
    .await;
}

#[tokio::test]
async fn claim_refusals() {
    assert_refused(
        vec![verified(free_policy())],
        claim("r1", 1),
        "capture.not_in_review",
    )
    .await;
    assert_refused(approved_capture(), claim("r1", 30), "capture.not_in_review").await;
    let zero = CaptureCommand::ClaimReview(ClaimReview {
        reviewer_id: "r1".into(),
        at: t(11),
        ttl: Duration::zero(),
    });
    assert_refused(in_review(), zero, "capture.invalid_claim_ttl").await;
}

#[tokio::test]
async fn the_student_withdraws_while_waiting() {
    let e = assert_records(in_review(), withdraw(), "Withdrawn").await;
    assert_eq!(
        e,
        CaptureEvent::Withdrawn(Withdrawn {
            withdrawn_at: t(12)
        })
    );
    // Even while a reviewer holds it: it has not been decided yet.
    assert_records(
        with(in_review(), [claimed("r1", 11, 15)]),
        withdraw(),
        "Withdrawn",
    )
    .await;
}

#[tokio::test]
async fn withdrawal_refusals() {
    assert_refused(
        vec![verified(free_policy())],
        withdraw(),
        "capture.not_in_review",
    )
    .await;
    assert_refused(
        with(in_review(), [rejected("r1")]),
        withdraw(),
        "capture.not_in_review",
    )
    .await;
    assert_refused(approved_capture(), withdraw(), "capture.locked").await;
    let withdrawn = with(
        in_review(),
        [CaptureEvent::Withdrawn(Withdrawn {
            withdrawn_at: t(11),
        })],
    );
    assert_refused(withdrawn, withdraw(), "capture.not_in_review").await;
}

#[tokio::test]
async fn a_reviewer_approves_the_submitted_photo() {
    let e = assert_records(in_review(), approve("r1", 20), "Approved").await;
    assert_eq!(e, approved("r1", 2));
    assert_records(
        with(in_review(), [claimed("r1", 11, 15)]),
        approve("r1", 20),
        "Approved",
    )
    .await;
    assert_records(
        with(in_review(), [claimed("r2", 11, 5)]),
        approve("r1", 20),
        "Approved",
    )
    .await;
}

#[tokio::test]
async fn a_reviewer_rejects_with_reasons() {
    let e = assert_records(in_review(), reject("r1", 20, &["blurred"]), "Rejected").await;
    assert_eq!(
        e,
        CaptureEvent::Rejected(photo_ledger_domain::events::Rejected {
            reviewer_id: "r1".into(),
            reasons: vec![RejectReason::Blurred],
            note: "note".into(),
            rejected_at: t(20),
        })
    );
}

#[tokio::test]
async fn decision_refusals() {
    let held = with(in_review(), [claimed("r2", 11, 15)]);
    assert_refused(
        held.clone(),
        approve("r1", 20),
        "capture.claimed_by_another",
    )
    .await;
    assert_refused(
        held,
        reject("r1", 20, &["blurred"]),
        "capture.claimed_by_another",
    )
    .await;
    assert_refused(
        vec![verified(free_policy())],
        approve("r1", 20),
        "capture.not_in_review",
    )
    .await;
    assert_refused(
        vec![verified(free_policy())],
        reject("r1", 20, &["blurred"]),
        "capture.not_in_review",
    )
    .await;
    assert_refused(
        approved_capture(),
        approve("r1", 30),
        "capture.not_in_review",
    )
    .await;
    assert_refused(
        approved_capture(),
        reject("r1", 30, &["blurred"]),
        "capture.not_in_review",
    )
    .await;
    assert_refused(
        with(in_review(), [rejected("r1")]),
        approve("r1", 30),
        "capture.not_in_review",
    )
    .await;
    assert_refused(
        in_review(),
        reject("r1", 20, &[]),
        "capture.reject_reason_required",
    )
    .await;
}

#[test]
fn given_codes_outside_the_catalogue_when_read_then_the_rejection_is_refused_before_the_capture() {
    let refusal = CaptureError::from(RejectReason::parse_all(["blurred", "ugly"]).unwrap_err());
    assert_eq!(refusal, CaptureError::UnknownRejectReason("ugly".into()));
    assert_eq!(refusal.code(), "capture.unknown_reject_reason");
}

#[test]
fn given_a_capture_when_asked_whether_a_reviewer_may_decide_then_it_answers_as_a_decision_would() {
    assert_eq!(replay(in_review()).may_decide("r1", t(20)), Ok(()));
    assert_eq!(
        replay(vec![]).may_decide("r1", t(20)),
        Err(CaptureError::NotVerified)
    );
    assert_eq!(
        replay(vec![verified(free_policy())]).may_decide("r1", t(20)),
        Err(CaptureError::NotInReview)
    );
    assert_eq!(
        replay(with(in_review(), [claimed("r2", 11, 15)])).may_decide("r1", t(20)),
        Err(CaptureError::ClaimedByAnother)
    );
    assert_eq!(
        replay(with(in_review(), [claimed("r2", 11, 15)])).may_decide("r1", t(30)),
        Ok(())
    );
    assert_eq!(
        replay(approved_capture()).may_decide("r1", t(30)),
        Err(CaptureError::NotInReview)
    );
}
