use photo_ledger_domain::commands::MarkDelivered;
use photo_ledger_domain::events::{ChsiStage, DeliveredToChsi};
use photo_ledger_domain::CaptureCommand;
use photo_ledger_domain::CaptureEvent;

use crate::fixtures::*;

fn deliver(stage: ChsiStage) -> CaptureCommand {
    CaptureCommand::MarkDelivered(MarkDelivered { stage, at: t(40) })
}

fn delivered(stage: ChsiStage) -> CaptureEvent {
    CaptureEvent::DeliveredToChsi(DeliveredToChsi {
        standard_photo_id: photo(2),
        stage,
        delivered_at: t(40),
    })
}

#[tokio::test]
async fn an_approved_photo_is_delivered_in_stages() {
    let e = assert_records(
        approved_capture(),
        deliver(ChsiStage::Uploading),
        "DeliveredToChsi",
    )
    .await;
    assert_eq!(e, delivered(ChsiStage::Uploading));
    let mut uploading = approved_capture();
    uploading.push(delivered(ChsiStage::Uploading));
    assert_records(
        uploading.clone(),
        deliver(ChsiStage::Completed),
        "DeliveredToChsi",
    )
    .await;
    assert_nothing_recorded(uploading, deliver(ChsiStage::Uploading)).await;
}

#[tokio::test]
async fn delivery_refusals() {
    assert_refused(
        in_review(),
        deliver(ChsiStage::Uploading),
        "capture.not_approved",
    )
    .await;
    assert_refused(
        vec![verified(free_policy())],
        deliver(ChsiStage::Completed),
        "capture.not_approved",
    )
    .await;
    let mut done = approved_capture();
    done.push(delivered(ChsiStage::Completed));
    assert_refused(
        done,
        deliver(ChsiStage::Uploading),
        "capture.delivery_stage_regress",
    )
    .await;
}
