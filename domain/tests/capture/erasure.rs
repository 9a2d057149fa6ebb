use photo_ledger_domain::commands::{Erase, Withdraw};
use photo_ledger_domain::erasure::{ErasureReason, ERASED};
use photo_ledger_domain::events::Erased;
use photo_ledger_domain::orders::OrderPurpose;
use photo_ledger_domain::status::{CaptureStatus, NextAction};
use photo_ledger_domain::values::Fen;
use photo_ledger_domain::CaptureCommand;
use photo_ledger_domain::CaptureEvent;

use crate::fixtures::*;

fn erase(reason: ErasureReason) -> CaptureCommand {
    CaptureCommand::Erase(Erase {
        reason,
        by: "admin-1".into(),
        at: t(60),
    })
}

fn erased() -> CaptureEvent {
    CaptureEvent::Erased(Erased {
        reason: ErasureReason::StudentRequest,
        erased_by: "admin-1".into(),
        erased_at: t(60),
    })
}

/// A capture with a print order, so it holds a recipient as well as an identity.
fn with_prints() -> Vec<CaptureEvent> {
    let mut events = vec![verified(paid_policy())];
    events.push(order_placed(
        1,
        OrderPurpose::Collection,
        Fen::new(2500),
        Some(prints(2)),
    ));
    events
}

#[tokio::test]
async fn a_capture_is_erased_in_any_state_recording_who_and_why() {
    for given in [with_prints(), in_review(), approved_capture()] {
        let e = assert_records(given, erase(ErasureReason::StudentRequest), "Erased").await;
        assert_eq!(e, erased());
    }
    let e = assert_records(
        approved_capture(),
        erase(ErasureReason::RetentionExpired),
        "Erased",
    )
    .await;
    let CaptureEvent::Erased(e) = e else {
        unreachable!()
    };
    assert_eq!(e.reason, ErasureReason::RetentionExpired);
}

#[tokio::test]
async fn an_erased_capture_forgets_who_the_student_was_and_where_prints_went() {
    let mut events = with_prints();
    assert!(replay(events.clone()).identified().is_some());
    events.push(erased());
    let capture = replay(events);
    assert!(
        capture.identified().is_none(),
        "no longer says who it is of"
    );
    let q = capture.qualification.as_ref().unwrap();
    assert!(q.student.is_erased());
    assert_eq!(q.student.name, ERASED);
    assert_eq!(
        q.student.id_type,
        student().id_type,
        "the document type stays"
    );
    assert_eq!(q.student.student_number, None);
    let prints = capture
        .orders
        .values()
        .next()
        .unwrap()
        .prints
        .as_ref()
        .unwrap();
    assert_eq!(prints.recipient, ERASED);
    assert!(prints.phone.is_empty() && prints.address.is_empty());
    assert_eq!(prints.sheets, 2, "what was ordered stays");
    assert_eq!(capture.status(), Some(CaptureStatus::Erased));
    assert_eq!(capture.next_actions(), Vec::<NextAction>::new());
}

#[tokio::test]
async fn an_erased_capture_refuses_every_command_and_erasing_again_records_nothing() {
    let mut events = in_review();
    events.push(erased());
    assert_refused(
        events.clone(),
        CaptureCommand::Withdraw(Withdraw { at: t(61) }),
        "capture.erased",
    )
    .await;
    assert_refused(
        events.clone(),
        place(2, OrderPurpose::Collection, None),
        "capture.erased",
    )
    .await;
    assert_nothing_recorded(events, erase(ErasureReason::ConsentWithdrawn)).await;
}

#[tokio::test]
async fn nothing_is_erased_before_the_student_is_verified() {
    assert_refused(
        vec![],
        erase(ErasureReason::StudentRequest),
        "capture.not_verified",
    )
    .await;
}
