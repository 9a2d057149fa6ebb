use crate::fixtures::*;
use photo_ledger_domain::aggregate::MAX_PHOTOS;
use photo_ledger_domain::commands::{RecordStandardisation, Submit, UploadPhoto};
use photo_ledger_domain::events::{SamePhoto, Submitted};
use photo_ledger_domain::values::{Background, CaptureId, PhotoSource};
use photo_ledger_domain::{CaptureCommand, CaptureEvent};

fn upload(n: u128, source: PhotoSource) -> CaptureCommand {
    CaptureCommand::UploadPhoto(UploadPhoto {
        photo: stored(n),
        source,
        at: t(3),
    })
}

fn standardise(source: u128, result: u128, background: Background) -> CaptureCommand {
    CaptureCommand::RecordStandardisation(RecordStandardisation {
        source_photo_id: photo(source),
        result: stored(result),
        background,
        spec_name: "chsi-graduate".into(),
        spec_version: "1".into(),
        checks: vec![check("photo.too_dark", true, true)],
        perceptual_hash: None,
        at: t(4),
    })
}

fn submit(n: u128) -> CaptureCommand {
    submit_finding(n, vec![])
}

fn submit_finding(n: u128, same_photos: Vec<SamePhoto>) -> CaptureCommand {
    CaptureCommand::Submit(Submit {
        standard_photo_id: photo(n),
        same_photos,
        at: t(10),
    })
}

#[tokio::test]
async fn upload_is_recorded_when_allowed() {
    let e = assert_records(
        vec![verified(free_policy())],
        upload(1, PhotoSource::Album),
        "PhotoUploaded",
    )
    .await;
    assert_eq!(e, uploaded_from(1, PhotoSource::Album));
    let mut paid = vec![verified(pay_first_camera_only())];
    paid.extend(fee_paid());
    assert_records(paid, upload(1, PhotoSource::Camera), "PhotoUploaded").await;
    // Uploading while in review is allowed: the student prepares a new photo.
    assert_records(in_review(), upload(3, PhotoSource::Camera), "PhotoUploaded").await;
}

fn uploaded_from(n: u128, source: PhotoSource) -> photo_ledger_domain::CaptureEvent {
    photo_ledger_domain::CaptureEvent::PhotoUploaded(photo_ledger_domain::events::PhotoUploaded {
        photo: stored(n),
        source,
        uploaded_at: t(3),
    })
}

#[tokio::test]
async fn upload_refusals() {
    assert_refused(
        vec![verified(pay_first_camera_only())],
        upload(1, PhotoSource::Camera),
        "capture.payment_required",
    )
    .await;
    let mut paid = vec![verified(pay_first_camera_only())];
    paid.extend(fee_paid());
    assert_refused(
        paid,
        upload(1, PhotoSource::Album),
        "capture.album_not_allowed",
    )
    .await;
    assert_refused(
        approved_capture(),
        upload(9, PhotoSource::Camera),
        "capture.locked",
    )
    .await;
}

#[tokio::test]
async fn pay_later_policy_allows_upload_before_payment() {
    assert_records(
        vec![verified(paid_policy())],
        upload(1, PhotoSource::Camera),
        "PhotoUploaded",
    )
    .await;
}

#[tokio::test]
async fn standardisation_is_recorded_for_an_uploaded_photo() {
    let given = vec![verified(free_policy()), uploaded(1)];
    assert_records(
        given.clone(),
        standardise(1, 2, Background::Grey),
        "Standardised",
    )
    .await;
}

#[tokio::test]
async fn standardisation_refusals() {
    assert_refused(
        vec![verified(free_policy())],
        standardise(1, 2, Background::Blue),
        "capture.unknown_photo",
    )
    .await;
    assert_refused(
        approved_capture(),
        standardise(1, 9, Background::Blue),
        "capture.locked",
    )
    .await;
    let blue_only = photo_ledger_domain::policy::BatchPolicy {
        backgrounds: vec![Background::Blue],
        ..free_policy()
    };
    assert_refused(
        vec![verified(blue_only), uploaded(1)],
        standardise(1, 2, Background::White),
        "capture.background_not_offered",
    )
    .await;
}

#[tokio::test]
async fn submission_is_recorded_for_a_clean_standard_photo() {
    let given = vec![
        verified(free_policy()),
        uploaded(1),
        standardised(1, 2, false),
    ];
    let e = assert_records(given, submit(2), "Submitted").await;
    assert_eq!(e, submitted(2, 10));
}

#[tokio::test]
async fn same_photos_found_are_recorded_with_the_submission_and_decide_nothing() {
    let given = vec![
        verified(free_policy()),
        uploaded(1),
        standardised(1, 2, false),
    ];
    let found = vec![SamePhoto {
        capture_id: CaptureId::from_uuid(uuid::Uuid::from_u128(99)),
        photo_id: photo(98),
        distance: 3,
        same_person: false,
        school: "演示大学".into(),
        education_type: "本科".into(),
    }];
    let e = assert_records(given, submit_finding(2, found.clone()), "Submitted").await;
    let CaptureEvent::Submitted(submitted) = e else {
        panic!("expected Submitted, got {e:?}");
    };
    assert_eq!(submitted.same_photos, found);
    assert_eq!(submitted.standard_photo_id, photo(2));
}

#[test]
fn a_submission_recorded_before_the_same_photo_search_reads_as_finding_none() {
    let recorded = serde_json::json!({
        "standard_photo_id": photo(2),
        "submitted_at": t(10),
    });
    let read: Submitted = serde_json::from_value(recorded).expect("old submissions read");
    assert!(read.same_photos.is_empty());
    // And a submission that found none is stored as before.
    let stored = serde_json::to_value(&read).expect("serialises");
    assert!(stored.get("same_photos").is_none());
}

#[tokio::test]
async fn submission_refusals() {
    let unpaid = vec![
        verified(paid_policy()),
        uploaded(1),
        standardised(1, 2, false),
    ];
    assert_refused(unpaid, submit(2), "capture.payment_required").await;
    let blocked = vec![
        verified(free_policy()),
        uploaded(1),
        standardised(1, 2, true),
    ];
    assert_refused(blocked, submit(2), "capture.blocking_check_failed").await;
    let given = vec![
        verified(free_policy()),
        uploaded(1),
        standardised(1, 2, false),
    ];
    assert_refused(given.clone(), submit(1), "capture.not_standard_photo").await;
    assert_refused(given, submit(77), "capture.not_standard_photo").await;
    assert_refused(in_review(), submit(2), "capture.already_in_review").await;
    assert_refused(approved_capture(), submit(2), "capture.locked").await;
}

#[tokio::test]
async fn resubmission_after_withdrawal_and_rejection() {
    let mut withdrawn = in_review();
    withdrawn.push(photo_ledger_domain::CaptureEvent::Withdrawn(
        photo_ledger_domain::events::Withdrawn {
            withdrawn_at: t(11),
        },
    ));
    assert_records(withdrawn, submit(2), "Submitted").await;
    let mut after_reject = in_review();
    after_reject.extend([rejected("r1"), uploaded(3), standardised(3, 4, false)]);
    assert_records(after_reject, submit(4), "Submitted").await;
}

/// Given: verified (free) with `count` camera uploads, photos 1..=count.
fn with_uploads(count: u128) -> Vec<photo_ledger_domain::CaptureEvent> {
    let mut given = vec![verified(free_policy())];
    given.extend((1..=count).map(|n| uploaded_from(n, PhotoSource::Camera)));
    given
}

#[tokio::test]
async fn a_capture_keeps_at_most_max_photos() {
    let max = MAX_PHOTOS as u128;
    // An upload needs room for itself and its standard photo.
    assert_records(
        with_uploads(max - 2),
        upload(max + 1, PhotoSource::Camera),
        "PhotoUploaded",
    )
    .await;
    assert_refused(
        with_uploads(max - 1),
        upload(max + 1, PhotoSource::Camera),
        "capture.photo_limit_reached",
    )
    .await;
    assert_records(
        with_uploads(max - 1),
        standardise(1, max + 1, Background::Blue),
        "Standardised",
    )
    .await;
    assert_refused(
        with_uploads(max),
        standardise(1, max + 1, Background::Blue),
        "capture.photo_limit_reached",
    )
    .await;
}

#[tokio::test]
async fn given_a_photo_the_capture_has_when_it_is_recorded_again_then_nothing_more_is_recorded() {
    let given = vec![
        verified(free_policy()),
        uploaded(1),
        standardised(1, 2, false),
    ];
    assert_nothing_recorded(given.clone(), upload(1, PhotoSource::Camera)).await;
    assert_nothing_recorded(given.clone(), standardise(1, 2, Background::Blue)).await;
    // Another photo is still a new one.
    assert_records(given, upload(3, PhotoSource::Camera), "PhotoUploaded").await;
}
