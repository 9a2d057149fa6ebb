//! Print runs and shipping: what print staff do with paid print orders once the photo is
//! approved.
//!
//! - A **run** is a selection of orders to print (at most [`MAX_RUN_ORDERS`]): one PDF with
//!   every order's 6寸 sheets in the order selected, each labelled in its margin with the order
//!   number, followed by the run's packing list ([`Printing::run_pdf`]); marking the run printed
//!   sends one `MarkPrinted` per order, each idempotent, so a run marked twice records nothing
//!   new ([`Printing::mark_printed`]).
//! - **Shipping** records the carrier and tracking number per order, typed or scanned
//!   ([`Printing::ship`]) or from a carrier's CSV ([`tracking_csv`], [`Printing::ship_file`]);
//!   shipping again with the same number is a no-op, with another a refusal.
//! - **Address labels**: one 100 × 150 mm page per order with the recipient, phone, address and
//!   the order number as a QR code ([`labels_pdf`]).
//!
//! The order number people see is WeChat Pay's `out_trade_no` (the order id's 32 hex digits):
//! the same on the sheet, the packing list, the label and the student's payment record.

pub mod document;
pub mod tracking_csv;

use std::collections::HashSet;

use chrono::Utc;
use pdf_writer::Content;
use photo_ledger_domain::commands::{MarkPrinted, Ship};
use photo_ledger_domain::metadata::Actor;
use photo_ledger_domain::tracking_no::TrackingNo;
use photo_ledger_domain::values::{CaptureId, OrderId, PrintLayout};
use photo_ledger_domain::{CaptureCommand, CaptureError};
use photo_ledger_photo::prints;
use photo_ledger_projections::courier_orders::{self, CourierOrder, CourierStatus};
use photo_ledger_projections::ProjectionError;

use crate::captures::{Captures, Requester};
use crate::china_time;
use crate::ledger::LedgerError;
use crate::payments::orders::out_trade_no;
use crate::photos::{PhotoService, PhotoServiceError};
use document::{Document, Text, LABEL_PAGE, SHEET_PAGE};
use tracking_csv::BadLine;

/// The most orders one run prints: their sheets' JPEGs (about half a megabyte each) are held
/// while its PDF is written.
pub const MAX_RUN_ORDERS: usize = 50;
/// Longest carrier name accepted.
pub const MAX_CARRIER_CHARS: usize = 32;
/// A carrier's name as staff typed it or a carrier's file gave it: trimmed, in NFC, 1 to
/// [`MAX_CARRIER_CHARS`] characters, none of them hidden (a byte-order mark alone would
/// otherwise pass for a name).
pub fn carrier_name(raw: &str) -> Option<String> {
    let name = photo_ledger_domain::text::visible(raw).ok()?;
    (!name.is_empty() && name.chars().count() <= MAX_CARRIER_CHARS).then_some(name)
}

/// The carriers offered when shipping by hand; a carrier's CSV may name others.
pub const CARRIERS: &[&str] = &[
    "顺丰速运",
    "中国邮政 EMS",
    "京东物流",
    "中通快递",
    "圆通速递",
    "韵达快递",
    "申通快递",
    "极兔速递",
];

/// Why a run, a shipment or a label cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum PrintingError {
    #[error("a print run needs at least one order")]
    EmptyRun,
    #[error("a print run holds at most {MAX_RUN_ORDERS} orders, not {0}")]
    RunTooLarge(usize),
    #[error("no paid print order {0}")]
    UnknownOrder(OrderId),
    #[error("order {0} is shipped already: it is no longer printed")]
    Shipped(OrderId),
    #[error(
        "the carrier is missing, longer than {MAX_CARRIER_CHARS} characters or not all visible"
    )]
    BadCarrier,
    #[error("order {order_id} was shipped with tracking number {tracking_no} already")]
    ShippedOtherwise {
        order_id: OrderId,
        tracking_no: String,
    },
    #[error("the order number does not fit in a QR code")]
    Label(#[from] qrcode::types::QrError),
    #[error(transparent)]
    Photos(#[from] PhotoServiceError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("the print orders view cannot be read")]
    View(#[from] ProjectionError),
}

impl PrintingError {
    /// The stable machine code of this module's own refusals; the errors it passes on keep
    /// theirs (the HTTP layer maps them by their own types).
    pub fn code(&self) -> &'static str {
        match self {
            PrintingError::EmptyRun => "print.empty_run",
            PrintingError::RunTooLarge(_) => "print.run_too_large",
            PrintingError::UnknownOrder(_) => "print.unknown_order",
            PrintingError::Shipped(_) => "print.shipped",
            PrintingError::BadCarrier => "print.bad_carrier",
            PrintingError::ShippedOtherwise { .. } => "print.shipped_otherwise",
            PrintingError::Label(_) | PrintingError::Photos(_) => "internal",
            PrintingError::Ledger(e) => e.code(),
            PrintingError::View(_) => "store.unavailable",
        }
    }

    /// What print staff are told.
    pub fn message(&self) -> String {
        match self {
            PrintingError::EmptyRun => "请至少选择一个订单".into(),
            PrintingError::RunTooLarge(n) => {
                format!("一次最多打印 {MAX_RUN_ORDERS} 个订单，已选 {n} 个")
            }
            PrintingError::UnknownOrder(id) => {
                format!("没有已支付的冲印订单 {}", out_trade_no(*id))
            }
            PrintingError::Shipped(id) => format!("订单 {} 已发货，不再打印", out_trade_no(*id)),
            PrintingError::BadCarrier => {
                format!("请选择快递公司（名称不超过 {MAX_CARRIER_CHARS} 个字）")
            }
            PrintingError::ShippedOtherwise {
                order_id,
                tracking_no,
            } => format!(
                "订单 {} 已用运单号 {tracking_no} 发货",
                out_trade_no(*order_id)
            ),
            PrintingError::Ledger(e) => e.message(),
            PrintingError::Label(_) | PrintingError::Photos(_) | PrintingError::View(_) => {
                "服务暂时不可用，请稍后重试".into()
            }
        }
    }
}

/// What shipping one order did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shipped {
    Now,
    /// Shipped before with the same tracking number: nothing recorded.
    Already,
}

/// What a carrier's file did: each line's order and outcome, or the lines that stopped it.
#[derive(Debug)]
pub enum FileShipped {
    Shipped(Vec<(tracking_csv::TrackingLine, Result<Shipped, PrintingError>)>),
    Refused(Vec<BadLine>),
}

/// Print runs, shipping and labels over the capture commands.
pub struct Printing {
    captures: Captures,
}

impl Printing {
    pub fn new(captures: Captures) -> Self {
        Self { captures }
    }

    /// The paid print order `id`.
    pub async fn order(&self, id: OrderId) -> Result<CourierOrder, PrintingError> {
        courier_orders::by_order(self.captures.ledger().db(), &id.to_string())
            .await?
            .ok_or(PrintingError::UnknownOrder(id))
    }

    /// The orders of a run, in the order given, once each: one to [`MAX_RUN_ORDERS`] (counted
    /// before any is looked up), none shipped.
    pub async fn run(&self, ids: &[OrderId]) -> Result<Vec<CourierOrder>, PrintingError> {
        let mut seen = HashSet::new();
        let ids: Vec<OrderId> = ids.iter().copied().filter(|id| seen.insert(*id)).collect();
        match ids.len() {
            0 => return Err(PrintingError::EmptyRun),
            n if n > MAX_RUN_ORDERS => return Err(PrintingError::RunTooLarge(n)),
            _ => {}
        }
        let mut orders = Vec::with_capacity(ids.len());
        for id in ids {
            let order = self.order(id).await?;
            if order.status == CourierStatus::Shipped {
                return Err(PrintingError::Shipped(id));
            }
            orders.push(order);
        }
        Ok(orders)
    }

    /// The run's PDF: each order's sheets (as many as it paid for), labelled, then the packing
    /// list. Every order's photo must be approved.
    pub async fn run_pdf(
        &self,
        photos: &PhotoService,
        actor: &Actor,
        orders: &[CourierOrder],
    ) -> Result<Vec<u8>, PrintingError> {
        let mut document = Document::new();
        for order in orders {
            let photo_id = order
                .approved_photo_id
                .ok_or(LedgerError::Refused(CaptureError::NotApproved))?;
            let jpeg = photos
                .print_sheet(actor, photo_id, order.layout, false)
                .await?;
            let image = document.image(&jpeg, prints::SHEET_WIDTH, prints::SHEET_HEIGHT);
            for sheet in 1..=order.sheets {
                let label = sheet_label(order, sheet);
                let text = Text {
                    x: 10.0,
                    y: SHEET_PAGE.1 - 11.0,
                    size: 6.0,
                    text: &label,
                };
                document.page(SHEET_PAGE, Some(image), &[text], Content::new());
            }
        }
        document.flow(SHEET_PAGE, 18.0, &packing_list(orders));
        Ok(document.finish())
    }

    /// Marks every order of a run printed: one idempotent command each.
    pub async fn mark_printed(
        &self,
        requester: &Requester,
        orders: &[CourierOrder],
    ) -> Result<(), PrintingError> {
        for order in orders {
            let command = CaptureCommand::MarkPrinted(MarkPrinted {
                order_id: order.order_id,
                at: Utc::now(),
            });
            self.captures
                .send(requester, capture_of(order)?, command)
                .await?;
        }
        Ok(())
    }

    /// Ships one order; again with the same tracking number, nothing new is recorded (the
    /// capture itself treats the same number as a retry, so this holds before the view has
    /// caught up too).
    pub async fn ship(
        &self,
        requester: &Requester,
        order_id: OrderId,
        carrier: &str,
        tracking_no: TrackingNo,
    ) -> Result<Shipped, PrintingError> {
        let order = self.order(order_id).await?;
        self.ship_order(requester, &order, carrier, tracking_no)
            .await
    }

    async fn ship_order(
        &self,
        requester: &Requester,
        order: &CourierOrder,
        carrier: &str,
        tracking_no: TrackingNo,
    ) -> Result<Shipped, PrintingError> {
        let carrier = carrier_name(carrier).ok_or(PrintingError::BadCarrier)?;
        if let Some(done) = shipped_before(order, &tracking_no)? {
            return Ok(done);
        }
        let command = CaptureCommand::Ship(Ship {
            order_id: order.order_id,
            carrier,
            tracking_no,
            at: Utc::now(),
        });
        self.captures
            .send(requester, capture_of(order)?, command)
            .await?;
        Ok(Shipped::Now)
    }

    /// Ships the orders of a carrier's CSV, each line with its own carrier or `carrier`. A file
    /// with a bad line ships nothing: one that cannot be read, or names an order that is not a
    /// paid print order or was shipped under another number.
    pub async fn ship_file(
        &self,
        requester: &Requester,
        carrier: &str,
        bytes: &[u8],
    ) -> Result<FileShipped, PrintingError> {
        let lines = match tracking_csv::read(bytes) {
            Ok(lines) => lines,
            Err(bad) => return Ok(FileShipped::Refused(bad)),
        };
        let mut checked = Vec::with_capacity(lines.len());
        let mut bad = Vec::new();
        for line in lines {
            let order = match self.order(line.order_id).await {
                Ok(order) => shipped_before(&order, &line.tracking_no).map(|_| order),
                Err(unknown @ PrintingError::UnknownOrder(_)) => Err(unknown),
                Err(e) => return Err(e),
            };
            match order {
                Ok(order) => checked.push((line, order)),
                Err(refusal) => bad.push(BadLine {
                    line: line.line,
                    reason: refusal.message(),
                }),
            }
        }
        if !bad.is_empty() {
            return Ok(FileShipped::Refused(bad));
        }
        let mut outcomes = Vec::with_capacity(checked.len());
        for (line, order) in checked {
            let carrier = line.carrier.as_deref().unwrap_or(carrier);
            let outcome = self
                .ship_order(requester, &order, carrier, line.tracking_no.clone())
                .await;
            outcomes.push((line, outcome));
        }
        Ok(FileShipped::Shipped(outcomes))
    }

    /// Shipped orders whose order number, tracking number or student's full name is `term`.
    pub async fn shipped_matching(
        &self,
        term: &str,
        limit: i64,
    ) -> Result<Vec<CourierOrder>, PrintingError> {
        let term = term.trim();
        // An order number may be typed as printed (hex) or as a UUID; the view holds the UUID.
        let order_id = tracking_csv::parse_order_number(term)
            .map(|id| id.to_string())
            .unwrap_or_else(|| term.to_string());
        let db = self.captures.ledger().db();
        Ok(courier_orders::shipped_matching(db, &order_id, term, limit).await?)
    }
}

/// What the view says of shipping `order` under `tracking_no`: done before under that number
/// (`Some`), not shipped yet (`None`), or shipped under another (refused).
fn shipped_before(
    order: &CourierOrder,
    tracking_no: &TrackingNo,
) -> Result<Option<Shipped>, PrintingError> {
    match &order.tracking_no {
        None => Ok(None),
        Some(shipped) if shipped == tracking_no.as_str() => Ok(Some(Shipped::Already)),
        Some(shipped) => Err(PrintingError::ShippedOtherwise {
            order_id: order.order_id,
            tracking_no: shipped.clone(),
        }),
    }
}

fn capture_of(order: &CourierOrder) -> Result<CaptureId, PrintingError> {
    order
        .capture_id
        .parse()
        .map_err(|_| PrintingError::UnknownOrder(order.order_id))
}

/// 版式一 or 版式二.
pub fn layout_name(layout: PrintLayout) -> &'static str {
    match layout {
        PrintLayout::One => "版式一",
        PrintLayout::Two => "版式二",
    }
}

/// The line in a sheet's top margin, cut to the sheet's width.
fn sheet_label(order: &CourierOrder, sheet: u32) -> String {
    let label = format!(
        "订单 {} · 第 {sheet}/{} 张 · {} · {} {}",
        out_trade_no(order.order_id),
        order.sheets,
        layout_name(order.layout),
        order.school,
        order.name_masked
    );
    document::wrap(&label, 6.0, SHEET_PAGE.0 - 20.0)
        .into_iter()
        .next()
        .unwrap_or_default()
}

/// The packing list's lines: per order its number, sheets and where it goes.
fn packing_list(orders: &[CourierOrder]) -> Vec<(String, f32)> {
    const SIZE: f32 = 7.0;
    let sheets: u32 = orders.iter().map(|o| o.sheets).sum();
    let mut lines = vec![
        ("装箱单".to_string(), 12.0),
        (
            format!(
                "{} 个订单 · 共 {sheets} 张 · {}",
                orders.len(),
                china_time::format(&Utc::now(), "%Y-%m-%d %H:%M")
            ),
            SIZE,
        ),
    ];
    for (n, order) in orders.iter().enumerate() {
        lines.push((String::new(), SIZE / 2.0));
        lines.push((
            format!(
                "{}. {}  {} × {} 张  {} {}",
                n + 1,
                out_trade_no(order.order_id),
                layout_name(order.layout),
                order.sheets,
                order.school,
                order.name_masked
            ),
            SIZE,
        ));
        let to = format!("{} {} {}", order.recipient, order.phone, order.address);
        for line in document::wrap(&to, SIZE, SHEET_PAGE.0 - 36.0 - 2.0 * SIZE) {
            lines.push((format!("　　{line}"), SIZE));
        }
    }
    lines
}

/// Between the phone and the rule above the order number, in points.
const ADDRESS_ROOM: f32 = LABEL_PAGE.1 - 87.0 - 152.0;

/// The size (at most `largest`) at which `text` fits in `width` on one line.
fn fitting(text: &str, largest: f32, width: f32) -> f32 {
    let at_one_point = document::text_width(text, 1.0);
    if at_one_point == 0.0 {
        return largest;
    }
    (width / at_one_point).min(largest)
}

/// One address label page per order: recipient, phone, address, the order number in words
/// and as a QR code.
pub fn labels_pdf(orders: &[CourierOrder]) -> Result<Vec<u8>, PrintingError> {
    const MARGIN: f32 = 18.0;
    const QR_SIDE: f32 = 100.0;
    let (width, height) = LABEL_PAGE;
    let mut document = Document::new();
    for order in orders {
        let number = out_trade_no(order.order_id);
        let line_width = width - 2.0 * MARGIN;
        // The recipient as large as fits on one line (up to 18 pt); the address at 13 pt, or
        // smaller when it needs more than the room above the order's rule.
        let recipient_size = fitting(&order.recipient, 18.0, line_width);
        let (address_size, address) = [13.0, 11.0, 9.0, 7.5]
            .into_iter()
            .map(|size| (size, document::wrap(&order.address, size, line_width)))
            .find(|(size, lines)| lines.len() as f32 * size * 1.3 <= ADDRESS_ROOM)
            .unwrap_or_else(|| (7.0, document::wrap(&order.address, 7.0, line_width)));
        let left_column = width - 2.0 * MARGIN - QR_SIDE - 6.0;
        let who = format!("{} {}", order.school, order.name_masked);
        let what = format!("{} × {} 张", layout_name(order.layout), order.sheets);
        let mut texts = vec![
            Text {
                x: MARGIN,
                y: height - 30.0,
                size: 9.0,
                text: "收件人",
            },
            Text {
                x: MARGIN,
                y: height - 54.0,
                size: recipient_size,
                text: &order.recipient,
            },
            Text {
                x: MARGIN,
                y: height - 76.0,
                size: 14.0,
                text: &order.phone,
            },
        ];
        for (n, line) in address.iter().enumerate() {
            texts.push(Text {
                x: MARGIN,
                y: height - 87.0 - address_size * (1.0 + 1.3 * n as f32),
                size: address_size,
                text: line,
            });
        }
        texts.push(Text {
            x: MARGIN,
            y: 128.0,
            size: 9.0,
            text: "订单号",
        });
        texts.push(Text {
            x: MARGIN,
            y: 114.0,
            size: 7.5,
            text: &number,
        });
        let who_lines = document::wrap(&who, 8.0, left_column);
        for (n, line) in who_lines.iter().take(2).enumerate() {
            texts.push(Text {
                x: MARGIN,
                y: 96.0 - 11.0 * n as f32,
                size: 8.0,
                text: line,
            });
        }
        texts.push(Text {
            x: MARGIN,
            y: 62.0,
            size: 8.0,
            text: &what,
        });
        let mut draw = Content::new();
        // A rule between the address and the order.
        draw.set_line_width(0.8);
        draw.move_to(MARGIN, 146.0);
        draw.line_to(width - MARGIN, 146.0);
        draw.stroke();
        document::qr_code(
            &mut draw,
            &number,
            width - MARGIN - QR_SIDE,
            MARGIN + 18.0,
            QR_SIDE,
        )?;
        document.page(LABEL_PAGE, None, &texts, draw);
    }
    Ok(document.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use photo_ledger_domain::orders::OrderPurpose;
    use photo_ledger_domain::values::Fen;

    fn order(recipient: &str, address: &str) -> CourierOrder {
        CourierOrder {
            order_id: OrderId::new(),
            capture_id: CaptureId::new().to_string(),
            purpose: OrderPurpose::Reprint,
            status: CourierStatus::ToShip,
            approved_photo_id: None,
            school: "江南大学".into(),
            name_masked: "吴*兰".into(),
            layout: PrintLayout::One,
            sheets: 2,
            recipient: recipient.into(),
            phone: "13800000000".into(),
            address: address.into(),
            amount_fen: Fen::new(3000),
            paid_at: Utc.with_ymd_and_hms(2026, 6, 1, 8, 0, 0).unwrap(),
            printed_at: None,
            carrier: None,
            tracking_no: None,
            shipped_at: None,
        }
    }

    /// Every text line of a label page: (x, y, size, text width).
    fn lines_of(pdf: &[u8]) -> Vec<(f32, f32, f32, String)> {
        let doc = lopdf::Document::load_mem(pdf).unwrap();
        let page = *doc.get_pages().get(&1).unwrap();
        let content = doc.get_and_decode_page_content(page).unwrap();
        let (mut size, mut at) = (0.0, (0.0, 0.0));
        let mut lines = Vec::new();
        for op in &content.operations {
            let number = |i: usize| op.operands[i].as_float().unwrap();
            match op.operator.as_str() {
                "Tf" => size = number(1),
                "Td" => at = (number(0), number(1)),
                "Tj" => {
                    let bytes = op.operands[0].as_str().unwrap();
                    let units: Vec<u16> = bytes
                        .chunks(2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]))
                        .collect();
                    lines.push((at.0, at.1, size, String::from_utf16(&units).unwrap()));
                }
                _ => {}
            }
        }
        lines
    }

    #[test]
    fn a_label_keeps_a_long_name_and_the_longest_address_on_the_page_above_the_order() {
        let address = "新疆维吾尔自治区伊犁哈萨克自治州".repeat(12);
        let address = address.chars().take(200).collect::<String>();
        let recipient = "阿卜杜热合曼·买买提依明·艾力克木·吐尔逊江·阿不都";
        let pdf = labels_pdf(&[order(recipient, &address)]).unwrap();
        let lines = lines_of(&pdf);
        let width = LABEL_PAGE.0;
        for (x, _, size, text) in &lines {
            let right = x + document::text_width(text, *size);
            assert!(right <= width - 17.0, "{text} runs to {right} of {width}");
        }
        let shown: String = lines
            .iter()
            .filter(|(_, y, _, _)| *y < LABEL_PAGE.1 - 87.0 && *y > 146.0)
            .map(|(_, _, _, t)| t.as_str())
            .collect();
        assert_eq!(shown, address, "the whole address, above the rule");
        assert!(lines.iter().any(|(_, _, _, t)| t == recipient));
    }
}
