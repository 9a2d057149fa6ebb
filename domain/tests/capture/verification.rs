use crate::fixtures::*;
use photo_ledger_domain::CaptureCommand::VerifyQualification;

#[tokio::test]
async fn given_nothing_when_verified_then_qualification_is_recorded() {
    let event = assert_records(
        vec![],
        VerifyQualification(verify_cmd(paid_policy())),
        "QualificationVerified",
    )
    .await;
    assert_eq!(event, verified(paid_policy()));
}

#[tokio::test]
async fn given_a_capture_when_verified_again_then_refused() {
    assert_refused(
        vec![verified(free_policy())],
        VerifyQualification(verify_cmd(free_policy())),
        "capture.already_exists",
    )
    .await;
}

#[tokio::test]
async fn given_nothing_when_any_other_command_then_not_verified() {
    use photo_ledger_domain::commands::*;
    let commands = vec![
        CaptureCommand::UploadPhoto(UploadPhoto {
            photo: stored(1),
            source: photo_ledger_domain::values::PhotoSource::Camera,
            at: t(1),
        }),
        CaptureCommand::Submit(Submit {
            standard_photo_id: photo(2),
            same_photos: vec![],
            at: t(1),
        }),
        CaptureCommand::Withdraw(Withdraw { at: t(1) }),
        CaptureCommand::Approve(Approve {
            reviewer_id: "r1".into(),
            at: t(1),
        }),
    ];
    for command in commands {
        assert_refused(vec![], command, "capture.not_verified").await;
    }
}

#[test]
fn given_the_consent_when_verified_then_the_event_records_it_and_an_earlier_event_reads_as_before()
{
    let with = serde_json::to_value(verified(paid_policy())).unwrap();
    assert_eq!(
        with["QualificationVerified"]["consent"]["version"],
        "2026-12-01"
    );
    assert_eq!(
        with["QualificationVerified"]["consent"]["face_images"],
        true
    );

    // An event recorded before consent was collected: no field, read as none, written the same.
    let mut before = with.clone();
    before["QualificationVerified"]
        .as_object_mut()
        .unwrap()
        .remove("consent");
    let read: photo_ledger_domain::CaptureEvent = serde_json::from_value(before.clone()).unwrap();
    match &read {
        photo_ledger_domain::CaptureEvent::QualificationVerified(q) => assert!(q.consent.is_none()),
        other => panic!("{other:?}"),
    }
    assert_eq!(serde_json::to_value(&read).unwrap(), before);
}
