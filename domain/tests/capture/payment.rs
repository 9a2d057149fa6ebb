use crate::fixtures::*;
use photo_ledger_domain::events::OrderClosed;
use photo_ledger_domain::orders::OrderPurpose;
use photo_ledger_domain::orders::{CloseReason, OrderState};
use photo_ledger_domain::values::Fen;
use photo_ledger_domain::CaptureEvent;

#[tokio::test]
async fn collection_order_costs_the_batch_price() {
    let e = assert_records(
        vec![verified(paid_policy())],
        place(100, OrderPurpose::Collection, None),
        "OrderPlaced",
    )
    .await;
    assert_eq!(e, order_placed(100, OrderPurpose::Collection, FEE, None));
}

#[tokio::test]
async fn collection_order_with_prints_includes_their_price() {
    let e = assert_records(
        vec![verified(paid_policy())],
        place(100, OrderPurpose::Collection, Some(prints(2))),
        "OrderPlaced",
    )
    .await;
    assert_eq!(
        e,
        order_placed(
            100,
            OrderPurpose::Collection,
            Fen::new(2500 + 2 * 1500),
            Some(prints(2))
        )
    );
}

#[tokio::test]
async fn collection_order_refusals() {
    assert_refused(
        vec![verified(free_policy())],
        place(100, OrderPurpose::Collection, None),
        "capture.no_fee_required",
    )
    .await;
    let mut given = vec![verified(paid_policy())];
    given.extend(fee_paid());
    assert_refused(
        given.clone(),
        place(101, OrderPurpose::Collection, None),
        "capture.fee_already_paid",
    )
    .await;
    assert_refused(
        given,
        place(100, OrderPurpose::PaperPrints, Some(prints(1))),
        "capture.duplicate_order",
    )
    .await;
    let no_prints = photo_ledger_domain::policy::BatchPolicy {
        price_fen: FEE,
        ..free_policy()
    };
    assert_refused(
        vec![verified(no_prints)],
        place(100, OrderPurpose::Collection, Some(prints(1))),
        "capture.prints_not_offered",
    )
    .await;
}

#[tokio::test]
async fn given_an_unpaid_collection_order_when_the_same_is_placed_again_then_nothing_is_recorded_and_the_first_stands(
) {
    let given = vec![
        verified(paid_policy()),
        order_placed(100, OrderPurpose::Collection, FEE, None),
    ];
    assert_nothing_recorded(given.clone(), place(101, OrderPurpose::Collection, None)).await;
    assert_eq!(replay(given).unpaid_collection_order(), Some(order(100)));
}

#[tokio::test]
async fn given_an_unpaid_collection_order_when_one_with_other_prints_is_placed_then_it_replaces_the_first(
) {
    let given = vec![
        verified(paid_policy()),
        order_placed(100, OrderPurpose::Collection, FEE, None),
    ];
    let events = when(
        given.clone(),
        place(102, OrderPurpose::Collection, Some(prints(1))),
    )
    .await
    .unwrap();
    assert_eq!(
        events,
        vec![
            CaptureEvent::OrderClosed(OrderClosed {
                order_id: order(100),
                reason: CloseReason::Replaced,
                closed_at: t(1),
            }),
            order_placed(
                102,
                OrderPurpose::Collection,
                Fen::new(2500 + 1500),
                Some(prints(1))
            ),
        ]
    );
    let mut after = given;
    after.extend(events);
    let capture = replay(after);
    assert_eq!(capture.unpaid_collection_order(), Some(order(102)));
    assert_eq!(capture.orders[&order(100)].state, OrderState::Closed);
}

#[tokio::test]
async fn given_no_collection_order_or_a_paid_one_then_none_is_unpaid() {
    assert_eq!(
        replay(vec![verified(paid_policy())]).unpaid_collection_order(),
        None
    );
    let mut paid_fee = vec![verified(paid_policy())];
    paid_fee.extend(fee_paid());
    assert_eq!(replay(paid_fee).unpaid_collection_order(), None);
}

#[tokio::test]
async fn paper_prints_order_rules() {
    let e = assert_records(
        vec![verified(paid_policy())],
        place(200, OrderPurpose::PaperPrints, Some(prints(3))),
        "OrderPlaced",
    )
    .await;
    assert_eq!(
        e,
        order_placed(
            200,
            OrderPurpose::PaperPrints,
            Fen::new(4500),
            Some(prints(3))
        )
    );
    assert_refused(
        vec![verified(paid_policy())],
        place(200, OrderPurpose::PaperPrints, None),
        "capture.print_details_required",
    )
    .await;
    assert_refused(
        vec![verified(paid_policy())],
        place(200, OrderPurpose::PaperPrints, Some(prints(0))),
        "capture.invalid_sheets",
    )
    .await;
    assert_refused(
        vec![verified(paid_policy())],
        place(200, OrderPurpose::PaperPrints, Some(prints(21))),
        "capture.invalid_sheets",
    )
    .await;
    let mut no_address = prints(1);
    no_address.address = "  ".into();
    assert_refused(
        vec![verified(paid_policy())],
        place(200, OrderPurpose::PaperPrints, Some(no_address)),
        "capture.incomplete_address",
    )
    .await;
    assert_refused(
        vec![verified(free_policy())],
        place(200, OrderPurpose::PaperPrints, Some(prints(1))),
        "capture.prints_not_offered",
    )
    .await;
    assert_refused(
        approved_capture(),
        place(200, OrderPurpose::PaperPrints, Some(prints(1))),
        "capture.locked",
    )
    .await;
}

#[tokio::test]
async fn payment_of_the_ordered_amount_is_recorded() {
    let given = vec![
        verified(paid_policy()),
        order_placed(100, OrderPurpose::Collection, FEE, None),
    ];
    let e = assert_records(given, confirm(100, FEE, "tx-1"), "Paid").await;
    assert_eq!(e, paid(100, OrderPurpose::Collection, FEE, "tx-1"));
}

#[tokio::test]
async fn payment_refusals() {
    let given = vec![
        verified(paid_policy()),
        order_placed(100, OrderPurpose::Collection, FEE, None),
    ];
    assert_refused(
        given.clone(),
        confirm(999, FEE, "tx-1"),
        "capture.unknown_order",
    )
    .await;
    let mut paid_once = given;
    paid_once.push(paid(100, OrderPurpose::Collection, FEE, "tx-1"));
    paid_once.push(order_placed(
        101,
        OrderPurpose::PaperPrints,
        Fen::new(1500),
        Some(prints(1)),
    ));
    assert_refused(
        paid_once,
        confirm(101, Fen::new(1500), "tx-1"),
        "capture.transaction_reused",
    )
    .await;
}

#[tokio::test]
async fn the_same_transaction_again_records_nothing() {
    let mut given = vec![verified(paid_policy())];
    given.extend(fee_paid());
    assert_nothing_recorded(given, confirm(100, FEE, "tx-fee")).await;
}
