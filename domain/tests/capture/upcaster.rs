//! `Rejected` 1.0 events are read as 2.0 through cqrs-es's upcaster support.

use cqrs_es::persist::SerializedEvent;
use photo_ledger_domain::reasons::RejectReason;
use photo_ledger_domain::upcasters::{capture_upcasters, rejected_v1_to_v2};
use serde_json::json;

fn v1_rejected() -> SerializedEvent {
    SerializedEvent::new(
        "c1".into(),
        5,
        "Capture".into(),
        "Rejected".into(),
        "1.0".into(),
        json!({"Rejected": {"reviewer_id": "r1", "reason": "背景有杂物", "note": "", "rejected_at": "2026-06-01T08:20:00Z"}}),
        json!({}),
    )
}

#[test]
fn a_v1_rejection_becomes_a_v2_rejection() {
    let upcasters = capture_upcasters();
    let upcaster = &upcasters[0];
    assert!(upcaster.can_upcast("Rejected", "1.0"));
    assert!(!upcaster.can_upcast("Rejected", "2.0"));
    assert!(!upcaster.can_upcast("Approved", "1.0"));
    let upcast = upcaster.upcast(v1_rejected());
    assert_eq!(upcast.event_version, "2.0.0");
    let event: photo_ledger_domain::CaptureEvent = serde_json::from_value(upcast.payload).unwrap();
    let photo_ledger_domain::CaptureEvent::Rejected(rejected) = event else {
        panic!("{event:?}")
    };
    assert_eq!(rejected.reasons, vec![RejectReason::Other]);
    assert_eq!(rejected.note, "背景有杂物");
}

#[test]
fn the_note_is_kept_next_to_the_old_reason() {
    let out = rejected_v1_to_v2(json!({"Rejected": {"reason": "模糊", "note": "请重拍"}}));
    assert_eq!(
        out,
        json!({"Rejected": {"reasons": ["other"], "note": "模糊；请重拍"}})
    );
    let untouched = json!({"Approved": {}});
    assert_eq!(rejected_v1_to_v2(untouched.clone()), untouched);
}
