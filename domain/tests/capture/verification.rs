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
