//! The status and next actions a student sees, derived from the log.

use photo_ledger_domain::aggregate::MAX_PHOTOS;
use photo_ledger_domain::events::{ChsiStage, DeliveredToChsi, Withdrawn};
use photo_ledger_domain::orders::OrderPurpose;
use photo_ledger_domain::status::{CaptureStatus as S, NextAction as A};
use photo_ledger_domain::CaptureEvent;

use crate::fixtures::*;

fn status(events: Vec<CaptureEvent>) -> Option<S> {
    replay(events).status()
}

#[test]
fn each_stage_of_a_paid_capture() {
    assert_eq!(status(vec![]), None);
    assert_eq!(
        status(vec![verified(paid_policy())]),
        Some(S::AwaitingPhoto)
    );
    assert_eq!(
        status(vec![verified(pay_first_camera_only())]),
        Some(S::AwaitingPayment)
    );
    let photo_first = vec![
        verified(paid_policy()),
        uploaded(1),
        standardised(1, 2, false),
    ];
    assert_eq!(status(photo_first), Some(S::AwaitingPayment));
    let mut paid = vec![verified(paid_policy())];
    paid.extend(fee_paid());
    assert_eq!(status(paid.clone()), Some(S::AwaitingPhoto));
    paid.extend([uploaded(1), standardised(1, 2, true)]);
    assert_eq!(
        status(paid.clone()),
        Some(S::AwaitingPhoto),
        "a blocked photo must be retaken"
    );
    paid.push(standardised(1, 3, false));
    assert_eq!(status(paid.clone()), Some(S::AwaitingSubmission));
    paid.push(submitted(3, 10));
    assert_eq!(status(paid.clone()), Some(S::InReview));
    paid.push(rejected("r1"));
    assert_eq!(status(paid.clone()), Some(S::Rejected));
    paid.extend([uploaded(4), standardised(4, 5, false)]);
    assert_eq!(status(paid.clone()), Some(S::AwaitingSubmission));
    paid.extend([submitted(5, 30), approved("r1", 5)]);
    assert_eq!(status(paid.clone()), Some(S::Approved));
    paid.push(CaptureEvent::DeliveredToChsi(DeliveredToChsi {
        standard_photo_id: photo(5),
        stage: ChsiStage::Uploading,
        delivered_at: t(40),
    }));
    assert_eq!(status(paid), Some(S::Delivered));
}

#[test]
fn withdrawal_returns_to_awaiting_submission() {
    let mut events = in_review();
    events.push(CaptureEvent::Withdrawn(Withdrawn {
        withdrawn_at: t(11),
    }));
    assert_eq!(status(events), Some(S::AwaitingSubmission));
}

#[test]
fn labels_and_codes() {
    let all = [
        (S::AwaitingPayment, "awaiting_payment", "待支付"),
        (S::AwaitingPhoto, "awaiting_photo", "待拍照"),
        (S::AwaitingSubmission, "awaiting_submission", "待提交"),
        (S::InReview, "in_review", "审核中"),
        (S::Rejected, "rejected", "审核未通过"),
        (S::Approved, "approved", "审核通过"),
        (S::Delivered, "delivered", "已上传学信网"),
    ];
    for (s, code, label) in all {
        assert_eq!((s.code(), s.label()), (code, label));
        assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(code));
    }
}

#[test]
fn next_actions_follow_the_status() {
    assert_eq!(
        replay(vec![verified(pay_first_camera_only())]).next_actions(),
        vec![A::Pay, A::OrderPrints]
    );
    assert_eq!(
        replay(vec![verified(free_policy())]).next_actions(),
        vec![A::UploadPhoto]
    );
    let ready = vec![
        verified(free_policy()),
        uploaded(1),
        standardised(1, 2, false),
    ];
    assert_eq!(
        replay(ready).next_actions(),
        vec![A::UploadPhoto, A::ChangeBackground, A::Submit]
    );
    assert_eq!(replay(in_review()).next_actions(), vec![A::Withdraw]);
    assert_eq!(
        replay(approved_capture()).next_actions(),
        vec![A::OrderReprint]
    );
    let mut with_prints = vec![verified(paid_policy())];
    with_prints.push(order_placed(
        100,
        OrderPurpose::Collection,
        FEE,
        Some(prints(1)),
    ));
    assert_eq!(
        replay(with_prints).next_actions(),
        vec![A::Pay, A::UploadPhoto]
    );
}

#[test]
fn a_full_capture_offers_no_more_photos() {
    let full = |photos: usize| {
        let mut events = vec![verified(free_policy())];
        // Uploads 1, 3, 5, … each with its standard photo 2, 4, 6, …
        for n in (1..=photos as u128).step_by(2) {
            events.push(uploaded(n));
            if n < photos as u128 {
                events.push(standardised(n, n + 1, false));
            }
        }
        replay(events)
    };
    assert_eq!(full(MAX_PHOTOS - 2).photo_count(), MAX_PHOTOS - 2);
    assert_eq!(
        full(MAX_PHOTOS - 2).next_actions(),
        vec![A::UploadPhoto, A::ChangeBackground, A::Submit]
    );
    assert_eq!(
        full(MAX_PHOTOS - 1).next_actions(),
        vec![A::ChangeBackground, A::Submit]
    );
    assert_eq!(full(MAX_PHOTOS).next_actions(), vec![A::Submit]);
}
