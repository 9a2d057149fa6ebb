//! Reprints, printing and shipping.

use photo_ledger_domain::commands::{MarkPrinted, PlaceOrder, Ship};
use photo_ledger_domain::events::{OrderPrinted, OrderShipped, ReprintOrdered};
use photo_ledger_domain::orders::OrderPurpose;
use photo_ledger_domain::tracking_no::TrackingNo;
use photo_ledger_domain::values::{Fen, PrintLayout};
use photo_ledger_domain::{CaptureCommand, CaptureError, CaptureEvent};

use crate::fixtures::*;

fn reprint(n: u128, sheets: u32) -> CaptureCommand {
    CaptureCommand::PlaceOrder(PlaceOrder {
        order_id: order(n),
        purpose: OrderPurpose::Reprint,
        prints: Some(prints(sheets)),
        at: t(50),
    })
}

fn reprint_ordered(n: u128, sheets: u32) -> CaptureEvent {
    let p = prints(sheets);
    CaptureEvent::ReprintOrdered(ReprintOrdered {
        order_id: order(n),
        layout: PrintLayout::One,
        sheets,
        recipient: p.recipient,
        phone: p.phone,
        address: p.address,
        amount_fen: Fen::new(1500 * u64::from(sheets)),
        ordered_at: t(50),
    })
}

fn printed(n: u128) -> CommandOrEvent {
    CommandOrEvent(n)
}
struct CommandOrEvent(u128);
impl CommandOrEvent {
    fn command(&self) -> CaptureCommand {
        CaptureCommand::MarkPrinted(MarkPrinted {
            order_id: order(self.0),
            at: t(60),
        })
    }
    fn event(&self) -> CaptureEvent {
        CaptureEvent::OrderPrinted(OrderPrinted {
            order_id: order(self.0),
            printed_at: t(60),
        })
    }
}

fn ship(n: u128, carrier: &str) -> CaptureCommand {
    CaptureCommand::Ship(Ship {
        order_id: order(n),
        carrier: carrier.into(),
        tracking_no: TrackingNo::parse("SF123").unwrap(),
        at: t(70),
    })
}

fn shipped(n: u128) -> CaptureEvent {
    CaptureEvent::OrderShipped(OrderShipped {
        order_id: order(n),
        carrier: "顺丰".into(),
        tracking_no: TrackingNo::parse("SF123").unwrap(),
        shipped_at: t(70),
    })
}

/// Approved, with a paid reprint (order 300, two sheets).
fn paid_reprint() -> Vec<CaptureEvent> {
    let mut given = approved_capture();
    given.extend([
        reprint_ordered(300, 2),
        paid(300, OrderPurpose::Reprint, Fen::new(3000), "tx-r"),
    ]);
    given
}

#[tokio::test]
async fn reprints_are_ordered_after_approval() {
    let e = assert_records(approved_capture(), reprint(300, 2), "ReprintOrdered").await;
    assert_eq!(e, reprint_ordered(300, 2));
}

#[tokio::test]
async fn reprint_refusals() {
    let mut given = vec![verified(paid_policy())];
    given.extend(fee_paid());
    assert_refused(given, reprint(300, 1), "capture.not_approved").await;
    let no_prints = CaptureCommand::PlaceOrder(PlaceOrder {
        order_id: order(300),
        purpose: OrderPurpose::Reprint,
        prints: None,
        at: t(50),
    });
    assert_refused(
        approved_capture(),
        no_prints,
        "capture.print_details_required",
    )
    .await;
    assert_refused(
        approved_capture(),
        reprint(300, 0),
        "capture.invalid_sheets",
    )
    .await;
}

#[tokio::test]
async fn print_staff_print_then_ship() {
    let e = assert_records(paid_reprint(), printed(300).command(), "OrderPrinted").await;
    assert_eq!(e, printed(300).event());
    let mut done = paid_reprint();
    done.push(printed(300).event());
    assert_nothing_recorded(done.clone(), printed(300).command()).await;
    let e = assert_records(done, ship(300, "顺丰"), "OrderShipped").await;
    assert_eq!(e, shipped(300));
    // Shipped again under the same number (a retry, a carrier's file uploaded twice): nothing new.
    let mut shipped_once = paid_reprint();
    shipped_once.push(shipped(300));
    assert_nothing_recorded(shipped_once, ship(300, "顺丰")).await;
    // Shipping straight from to_print is allowed: some staff print and pack in one go.
    assert_records(paid_reprint(), ship(300, " 顺丰 "), "OrderShipped").await;
}

#[tokio::test]
async fn printing_and_shipping_refusals() {
    assert_refused(paid_reprint(), ship(999, "顺丰"), "capture.unknown_order").await;
    assert_refused(
        paid_reprint(),
        printed(999).command(),
        "capture.unknown_order",
    )
    .await;
    let mut unpaid = approved_capture();
    unpaid.push(reprint_ordered(300, 2));
    assert_refused(unpaid.clone(), ship(300, "顺丰"), "capture.order_unpaid").await;
    assert_refused(unpaid, printed(300).command(), "capture.order_unpaid").await;
    let mut shipped_once = paid_reprint();
    shipped_once.push(shipped(300));
    let mut under_another_number = ship(300, "顺丰");
    if let CaptureCommand::Ship(cmd) = &mut under_another_number {
        cmd.tracking_no = TrackingNo::parse("YT999").unwrap();
    }
    assert_refused(
        shipped_once.clone(),
        under_another_number,
        "capture.already_shipped",
    )
    .await;
    assert_refused(
        shipped_once,
        printed(300).command(),
        "capture.already_shipped",
    )
    .await;
    assert_refused(
        approved_capture(),
        ship(100, "顺丰"),
        "capture.not_a_print_order",
    )
    .await;
    assert_refused(paid_reprint(), ship(300, " "), "capture.tracking_required").await;
    // Prints bought with the fee wait for the approved photo.
    let mut before_approval = vec![verified(paid_policy())];
    before_approval.extend([
        order_placed(
            100,
            OrderPurpose::Collection,
            Fen::new(5500),
            Some(prints(2)),
        ),
        paid(100, OrderPurpose::Collection, Fen::new(5500), "tx-1"),
    ]);
    assert_refused(
        before_approval,
        printed(100).command(),
        "capture.not_approved",
    )
    .await;
}

#[test]
fn given_an_order_when_asked_whether_it_may_ship_then_it_answers_as_shipping_would() {
    assert_eq!(replay(paid_reprint()).may_ship(order(300)), Ok(()));
    assert_eq!(
        replay(vec![]).may_ship(order(300)),
        Err(CaptureError::NotVerified)
    );
    assert_eq!(
        replay(paid_reprint()).may_ship(order(999)),
        Err(CaptureError::UnknownOrder(order(999)))
    );
    assert_eq!(
        replay(approved_capture()).may_ship(order(100)),
        Err(CaptureError::NotAPrintOrder)
    );
    let mut unpaid = approved_capture();
    unpaid.push(reprint_ordered(300, 2));
    assert_eq!(
        replay(unpaid).may_ship(order(300)),
        Err(CaptureError::OrderUnpaid)
    );
    let mut shipped_once = paid_reprint();
    shipped_once.push(shipped(300));
    assert_eq!(
        replay(shipped_once).may_ship(order(300)),
        Err(CaptureError::AlreadyShipped)
    );
}
