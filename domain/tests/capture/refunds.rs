//! Payments the capture cannot keep are recorded and refunded; staff refund by hand with a
//! reason; the provider's word on a refund is recorded once.

use crate::fixtures::*;
use photo_ledger_domain::commands::{CloseOrder, RecordRefund, RequestRefund};
use photo_ledger_domain::events::{
    OrderClosed, PaidInExcess, RefundFailed, RefundRequested, Refunded,
};
use photo_ledger_domain::orders::{CloseReason, OrderPurpose, OrderState};
use photo_ledger_domain::refunds::{refund_id, RefundOutcome, RefundReason, RefundState};
use photo_ledger_domain::values::Fen;
use photo_ledger_domain::{CaptureCommand, CaptureEvent};

fn excess(n: u128, amount: Fen, txn: &str, reason: RefundReason) -> Vec<CaptureEvent> {
    vec![
        CaptureEvent::PaidInExcess(PaidInExcess {
            order_id: order(n),
            purpose: OrderPurpose::Collection,
            amount_fen: amount,
            provider: "wechat".into(),
            transaction_id: txn.into(),
            paid_at: t(2),
            reason,
        }),
        CaptureEvent::RefundRequested(RefundRequested {
            refund_id: refund_id(txn, 0),
            order_id: order(n),
            transaction_id: txn.into(),
            amount_fen: amount,
            reason,
            note: String::new(),
            requested_at: t(2),
        }),
    ]
}

fn by_staff(n: u128, txn: Option<&str>, note: &str) -> CaptureCommand {
    CaptureCommand::RequestRefund(RequestRefund {
        order_id: order(n),
        transaction_id: txn.map(str::to_string),
        note: note.into(),
        at: t(5),
    })
}

fn refunded(txn: &str, attempt: usize) -> RecordRefund {
    RecordRefund {
        refund_id: refund_id(txn, attempt),
        outcome: RefundOutcome::Refunded {
            provider_refund_id: format!("50000{txn}"),
            at: t(6),
        },
    }
}

fn failed(txn: &str, attempt: usize) -> RecordRefund {
    RecordRefund {
        refund_id: refund_id(txn, attempt),
        outcome: RefundOutcome::Failed {
            reason: "NOT_ENOUGH".into(),
            at: t(6),
        },
    }
}

/// Two collection orders: 100 paid as "tx-fee", and 101 awaiting payment (as a ledger written
/// before the one-unpaid-collection-order rule can hold).
fn two_collection_orders_one_paid() -> Vec<CaptureEvent> {
    let mut given = vec![verified(paid_policy())];
    given.extend(fee_paid());
    given.push(order_placed(101, OrderPurpose::Collection, FEE, None));
    given
}

#[tokio::test]
async fn given_the_fee_paid_when_a_second_collection_order_is_paid_then_that_payment_is_recorded_and_refunded(
) {
    let given = two_collection_orders_one_paid();
    let events = when(given.clone(), confirm(101, FEE, "tx-2"))
        .await
        .unwrap();
    assert_eq!(
        events,
        excess(101, FEE, "tx-2", RefundReason::FeeAlreadyPaid)
    );

    let mut after = given;
    after.extend(events);
    let capture = replay(after.clone());
    assert!(capture.fee_paid(), "the first payment is kept");
    assert_eq!(
        capture.orders[&order(101)].state,
        OrderState::AwaitingPayment
    );
    let refund = &capture.refunds[&refund_id("tx-2", 0)];
    assert_eq!(refund.state, RefundState::Requested);
    assert_eq!(refund.amount_fen, FEE);
    // The same payment reported again (notification, order query) records nothing more.
    assert_nothing_recorded(after, confirm(101, FEE, "tx-2")).await;
}

#[tokio::test]
async fn given_a_paid_order_when_another_payment_for_it_arrives_then_it_is_refunded() {
    let mut given = vec![verified(paid_policy())];
    given.extend(fee_paid());
    let events = when(given, confirm(100, FEE, "tx-again")).await.unwrap();
    assert_eq!(
        events,
        excess(100, FEE, "tx-again", RefundReason::OrderAlreadyPaid)
    );
}

#[tokio::test]
async fn given_an_unpaid_order_when_a_payment_of_another_amount_arrives_then_it_is_refunded_and_the_order_stays_unpaid(
) {
    let given = vec![
        verified(paid_policy()),
        order_placed(100, OrderPurpose::Collection, FEE, None),
    ];
    let events = when(given.clone(), confirm(100, Fen::new(1), "tx-odd"))
        .await
        .unwrap();
    assert_eq!(
        events,
        excess(100, Fen::new(1), "tx-odd", RefundReason::AmountMismatch)
    );
    let mut after = given;
    after.extend(events);
    let capture = replay(after.clone());
    assert!(!capture.fee_paid());
    assert_eq!(capture.unpaid_collection_order(), Some(order(100)));
    // The right amount still pays it.
    assert_records(after, confirm(100, FEE, "tx-right"), "Paid").await;
}

#[tokio::test]
async fn given_a_closed_order_when_it_is_paid_after_all_then_the_payment_is_refunded() {
    let given = vec![
        verified(paid_policy()),
        order_placed(100, OrderPurpose::Collection, FEE, None),
        CaptureEvent::OrderClosed(OrderClosed {
            order_id: order(100),
            reason: CloseReason::Replaced,
            closed_at: t(1),
        }),
    ];
    let events = when(given, confirm(100, FEE, "tx-late")).await.unwrap();
    assert_eq!(
        events,
        excess(100, FEE, "tx-late", RefundReason::OrderClosed)
    );
}

#[tokio::test]
async fn closing_an_order() {
    let given = vec![
        verified(paid_policy()),
        order_placed(100, OrderPurpose::Collection, FEE, None),
    ];
    let close = |n| {
        CaptureCommand::CloseOrder(CloseOrder {
            order_id: order(n),
            reason: CloseReason::ClosedByProvider,
            at: t(3),
        })
    };
    let e = assert_records(given.clone(), close(100), "OrderClosed").await;
    let mut closed = given;
    closed.push(e);
    assert_eq!(replay(closed.clone()).unpaid_collection_order(), None);
    assert_nothing_recorded(closed.clone(), close(100)).await;
    assert_refused(closed, close(999), "capture.unknown_order").await;
    let mut paid = vec![verified(paid_policy())];
    paid.extend(fee_paid());
    assert_refused(paid, close(100), "capture.order_already_paid").await;
}

#[tokio::test]
async fn given_a_kept_payment_when_staff_refund_it_with_a_reason_then_the_refund_is_requested_and_once_made_the_order_is_refunded(
) {
    let mut given = vec![verified(paid_policy())];
    given.extend(fee_paid());
    let e = assert_records(
        given.clone(),
        by_staff(100, None, "  学生退学  "),
        "RefundRequested",
    )
    .await;
    assert_eq!(
        e,
        CaptureEvent::RefundRequested(RefundRequested {
            refund_id: refund_id("tx-fee", 0),
            order_id: order(100),
            transaction_id: "tx-fee".into(),
            amount_fen: FEE,
            reason: RefundReason::ByStaff,
            note: "学生退学".into(),
            requested_at: t(5),
        })
    );
    let mut requested = given;
    requested.push(e);
    assert_refused(
        requested.clone(),
        by_staff(100, None, "again"),
        "capture.already_refunded",
    )
    .await;
    let done = assert_records(
        requested.clone(),
        CaptureCommand::RecordRefund(refunded("tx-fee", 0)),
        "Refunded",
    )
    .await;
    requested.push(done);
    let capture = replay(requested.clone());
    assert_eq!(capture.orders[&order(100)].state, OrderState::Refunded);
    assert!(!capture.fee_paid());
    assert_refused(
        requested,
        by_staff(100, None, "again"),
        "capture.already_refunded",
    )
    .await;
}

#[tokio::test]
async fn staff_refund_refusals() {
    let mut given = vec![verified(paid_policy())];
    given.extend(fee_paid());
    assert_refused(
        given.clone(),
        by_staff(100, None, " "),
        "capture.refund_note_required",
    )
    .await;
    assert_refused(
        given.clone(),
        by_staff(999, None, "x"),
        "capture.unknown_order",
    )
    .await;
    assert_refused(
        given.clone(),
        by_staff(100, Some("tx-other"), "x"),
        "capture.unknown_payment",
    )
    .await;
    given.push(order_placed(
        101,
        OrderPurpose::PaperPrints,
        SHEET,
        Some(prints(1)),
    ));
    assert_refused(given, by_staff(101, None, "x"), "capture.order_unpaid").await;
}

#[tokio::test]
async fn given_a_refund_that_failed_when_staff_refund_the_payment_again_then_a_new_refund_is_requested(
) {
    let mut given = two_collection_orders_one_paid();
    given.extend(excess(101, FEE, "tx-2", RefundReason::FeeAlreadyPaid));
    let failure = assert_records(
        given.clone(),
        CaptureCommand::RecordRefund(failed("tx-2", 0)),
        "RefundFailed",
    )
    .await;
    assert_eq!(
        failure,
        CaptureEvent::RefundFailed(RefundFailed {
            refund_id: refund_id("tx-2", 0),
            reason: "NOT_ENOUGH".into(),
            failed_at: t(6),
        })
    );
    given.push(failure);
    assert_eq!(
        replay(given.clone()).refunds[&refund_id("tx-2", 0)].state,
        RefundState::Failed
    );
    let again = assert_records(
        given.clone(),
        by_staff(101, Some("tx-2"), "余额已充足，重新退款"),
        "RefundRequested",
    )
    .await;
    let CaptureEvent::RefundRequested(again) = again else {
        unreachable!()
    };
    assert_eq!(again.refund_id, refund_id("tx-2", 1));
    assert_eq!(again.amount_fen, FEE);
    // The order's own payment is untouched: the kept fee stays paid.
    assert!(replay(given).fee_paid());
}

#[tokio::test]
async fn the_providers_word_on_a_refund_is_recorded_once() {
    let mut given = two_collection_orders_one_paid();
    given.extend(excess(101, FEE, "tx-2", RefundReason::FeeAlreadyPaid));
    let done = when(
        given.clone(),
        CaptureCommand::RecordRefund(refunded("tx-2", 0)),
    )
    .await
    .unwrap();
    assert_eq!(
        done,
        vec![CaptureEvent::Refunded(Refunded {
            refund_id: refund_id("tx-2", 0),
            provider_refund_id: "50000tx-2".into(),
            refunded_at: t(6),
        })]
    );
    let mut after = given.clone();
    after.extend(done);
    assert_nothing_recorded(
        after.clone(),
        CaptureCommand::RecordRefund(refunded("tx-2", 0)),
    )
    .await;
    // A late failure report does not undo money given back.
    assert_nothing_recorded(
        after.clone(),
        CaptureCommand::RecordRefund(failed("tx-2", 0)),
    )
    .await;
    // An excess payment given back leaves the kept fee and the unpaid order as they were.
    let capture = replay(after);
    assert!(capture.fee_paid());
    assert_eq!(
        capture.orders[&order(101)].state,
        OrderState::AwaitingPayment
    );

    // A failure reported twice is recorded once; a success after it (completed at the
    // provider by hand) is recorded.
    let mut failed_once = given;
    failed_once.push(CaptureEvent::RefundFailed(RefundFailed {
        refund_id: refund_id("tx-2", 0),
        reason: "ABNORMAL".into(),
        failed_at: t(6),
    }));
    assert_nothing_recorded(
        failed_once.clone(),
        CaptureCommand::RecordRefund(failed("tx-2", 0)),
    )
    .await;
    assert_records(
        failed_once.clone(),
        CaptureCommand::RecordRefund(refunded("tx-2", 0)),
        "Refunded",
    )
    .await;
    assert_refused(
        failed_once,
        CaptureCommand::RecordRefund(refunded("tx-3", 0)),
        "capture.unknown_refund",
    )
    .await;
}
