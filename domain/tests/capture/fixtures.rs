use chrono::{DateTime, Duration, Utc};
use cqrs_es::test::TestFramework;
use photo_ledger_domain::aggregate::Capture;
use photo_ledger_domain::checks::CheckResult;
use photo_ledger_domain::commands::*;
use photo_ledger_domain::consent::{Consent, ConsentChannel};
use photo_ledger_domain::events::*;
use photo_ledger_domain::id_number::IdNumber;
use photo_ledger_domain::identity::{IdType, StudentIdentity};
use photo_ledger_domain::orders::{OrderPurpose, PrintRequest};
use photo_ledger_domain::policy::{BatchPolicy, PaperPrintsOffer};
use photo_ledger_domain::reasons::RejectReason;
use photo_ledger_domain::values::*;
use photo_ledger_domain::{CaptureCommand, CaptureError, CaptureEvent};
use uuid::Uuid;

pub fn t(minutes: i64) -> DateTime<Utc> {
    "2026-06-01T08:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::minutes(minutes)
}

pub fn photo(n: u128) -> PhotoId {
    PhotoId::from_uuid(Uuid::from_u128(n))
}

pub fn order(n: u128) -> OrderId {
    OrderId::from_uuid(Uuid::from_u128(n))
}

pub const FEE: Fen = Fen::new(2500);
pub const SHEET: Fen = Fen::new(1500);

pub fn free_policy() -> BatchPolicy {
    BatchPolicy::default()
}

pub fn paid_policy() -> BatchPolicy {
    BatchPolicy {
        price_fen: FEE,
        paper_prints: Some(PaperPrintsOffer {
            price_per_sheet_fen: SHEET,
        }),
        ..BatchPolicy::default()
    }
}

pub fn pay_first_camera_only() -> BatchPolicy {
    BatchPolicy {
        pay_before_upload: true,
        album_allowed: false,
        ..paid_policy()
    }
}

pub fn student() -> StudentIdentity {
    StudentIdentity {
        name: "吴晓兰".into(),
        id_type: IdType::ResidentId,
        id_number: IdNumber::parse(
            IdType::ResidentId,
            "110101199003076624",
            chrono::NaiveDate::from_ymd_opt(2026, 6, 1).unwrap(),
        )
        .unwrap(),
        student_number: Some("2022110101".into()),
        collection_code: Some("CC-1".into()),
        major: Some("会计学".into()),
        level: Some("本科".into()),
        graduation_year: Some(2026),
    }
}

pub fn verify_cmd(policy: BatchPolicy) -> VerifyQualification {
    VerifyQualification {
        capture_id: CaptureId::from_uuid(Uuid::from_u128(1)),
        owner: "openid-a".into(),
        school: SchoolRef {
            school_id: "s1".into(),
            name: "江南大学".into(),
        },
        education_type: "普通高等教育".into(),
        batch: None,
        student: student(),
        policy,
        verified_by: VerificationMethod::CollectionCode,
        consent: Some(Box::new(consent())),
        at: t(0),
    }
}

/// The consent a student gives in the mini-program before verifying.
pub fn consent() -> Consent {
    Consent {
        policy: "privacy".into(),
        version: "2026-12-01".into(),
        sha256: "ab".repeat(32),
        face_images: true,
        given_at: t(0),
        channel: ConsentChannel::MiniProgram,
    }
}

pub fn verified(policy: BatchPolicy) -> CaptureEvent {
    let c = verify_cmd(policy);
    CaptureEvent::QualificationVerified(QualificationVerified {
        capture_id: c.capture_id,
        owner: c.owner,
        school: c.school,
        education_type: c.education_type,
        batch: c.batch,
        student: c.student,
        policy: c.policy,
        verified_by: c.verified_by,
        verified_at: c.at,
        consent: c.consent,
    })
}

pub fn prints(sheets: u32) -> PrintRequest {
    PrintRequest {
        layout: PrintLayout::One,
        sheets,
        recipient: "吴晓兰".into(),
        phone: "13800000000".into(),
        address: "江苏省无锡市蠡湖大道1800号".into(),
    }
}

pub fn order_placed(
    n: u128,
    purpose: OrderPurpose,
    amount: Fen,
    p: Option<PrintRequest>,
) -> CaptureEvent {
    CaptureEvent::OrderPlaced(OrderPlaced {
        order_id: order(n),
        purpose,
        amount_fen: amount,
        prints: p,
        placed_at: t(1),
    })
}

pub fn paid(n: u128, purpose: OrderPurpose, amount: Fen, txn: &str) -> CaptureEvent {
    CaptureEvent::Paid(Paid {
        order_id: order(n),
        purpose,
        amount_fen: amount,
        provider: "wechat".into(),
        transaction_id: txn.into(),
        paid_at: t(2),
    })
}

/// A paid collection fee (order 100).
pub fn fee_paid() -> Vec<CaptureEvent> {
    vec![
        order_placed(100, OrderPurpose::Collection, FEE, None),
        paid(100, OrderPurpose::Collection, FEE, "tx-fee"),
    ]
}

pub fn stored(n: u128) -> StoredPhoto {
    StoredPhoto {
        photo_id: photo(n),
        sha256: format!("{n:064x}"),
        bytes: 30_000,
        width: 480,
        height: 640,
        format: "jpeg".into(),
    }
}

pub fn uploaded(n: u128) -> CaptureEvent {
    CaptureEvent::PhotoUploaded(PhotoUploaded {
        photo: stored(n),
        source: PhotoSource::Camera,
        uploaded_at: t(3),
    })
}

pub fn check(code: &str, passed: bool, blocking: bool) -> CheckResult {
    CheckResult {
        code: code.into(),
        value: 1.0,
        limit: 0.5,
        passed,
        blocking,
    }
}

pub fn standardised(source: u128, result: u128, blocking_failure: bool) -> CaptureEvent {
    CaptureEvent::Standardised(Standardised {
        source_photo_id: photo(source),
        result: stored(result),
        background: Background::Blue,
        spec_name: "chsi-graduate".into(),
        spec_version: "1".into(),
        checks: vec![
            check("photo.too_dark", true, true),
            check("photo.face_too_small", !blocking_failure, true),
            check("photo.uneven_light", false, false),
        ],
        perceptual_hash: Some("ffee".into()),
        standardised_at: t(4),
    })
}

pub fn submitted(result: u128, minutes: i64) -> CaptureEvent {
    CaptureEvent::Submitted(Submitted {
        standard_photo_id: photo(result),
        same_photos: vec![],
        submitted_at: t(minutes),
    })
}

pub fn claimed(reviewer: &str, at: i64, ttl_minutes: i64) -> CaptureEvent {
    CaptureEvent::ReviewClaimed(ReviewClaimed {
        reviewer_id: reviewer.into(),
        claimed_at: t(at),
        expires_at: t(at + ttl_minutes),
    })
}

pub fn rejected(reviewer: &str) -> CaptureEvent {
    CaptureEvent::Rejected(Rejected {
        reviewer_id: reviewer.into(),
        reasons: vec![RejectReason::Blurred],
        note: "请在光线充足处重拍".into(),
        rejected_at: t(20),
    })
}

pub fn approved(reviewer: &str, result: u128) -> CaptureEvent {
    CaptureEvent::Approved(Approved {
        reviewer_id: reviewer.into(),
        standard_photo_id: photo(result),
        approved_at: t(20),
    })
}

/// A free capture with photo 2 (standardised from 1) in review.
pub fn in_review() -> Vec<CaptureEvent> {
    vec![
        verified(free_policy()),
        uploaded(1),
        standardised(1, 2, false),
        submitted(2, 10),
    ]
}

/// A paid capture with prints offered, approved.
pub fn approved_capture() -> Vec<CaptureEvent> {
    let mut events = vec![verified(paid_policy())];
    events.extend(fee_paid());
    events.extend([
        uploaded(1),
        standardised(1, 2, false),
        submitted(2, 10),
        approved("r1", 2),
    ]);
    events
}

pub async fn when(
    given: Vec<CaptureEvent>,
    command: CaptureCommand,
) -> Result<Vec<CaptureEvent>, CaptureError> {
    TestFramework::<Capture>::with(())
        .given(given)
        .when_async(command)
        .await
        .inspect_result()
}

/// Then: refused with this stable code, and nothing recorded.
pub async fn assert_refused(given: Vec<CaptureEvent>, command: CaptureCommand, code: &str) {
    match when(given, command).await {
        Err(err) => {
            assert_eq!(err.code(), code, "refused, but with {err:?}");
            assert!(!err.message().is_empty());
        }
        Ok(events) => panic!("expected refusal {code}, recorded {events:?}"),
    }
}

/// Then: accepted, recording exactly one event of this name.
pub async fn assert_records(
    given: Vec<CaptureEvent>,
    command: CaptureCommand,
    name: &str,
) -> CaptureEvent {
    let events = when(given, command).await.expect("accepted");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].name(), name);
    events.into_iter().next().unwrap()
}

/// Then: accepted, recording nothing (already satisfied).
pub async fn assert_nothing_recorded(given: Vec<CaptureEvent>, command: CaptureCommand) {
    assert_eq!(when(given, command).await, Ok(vec![]));
}

pub fn replay(events: Vec<CaptureEvent>) -> Capture {
    use cqrs_es::Aggregate;
    let mut capture = Capture::default();
    for e in events {
        capture.apply(e);
    }
    capture
}

pub fn place(n: u128, purpose: OrderPurpose, p: Option<PrintRequest>) -> CaptureCommand {
    CaptureCommand::PlaceOrder(PlaceOrder {
        order_id: order(n),
        purpose,
        prints: p,
        at: t(1),
    })
}

pub fn confirm(n: u128, amount: Fen, txn: &str) -> CaptureCommand {
    CaptureCommand::ConfirmPayment(ConfirmPayment {
        order_id: order(n),
        amount_fen: amount,
        provider: "wechat".into(),
        transaction_id: txn.into(),
        paid_at: t(2),
    })
}
