//! A carrier's CSV of tracking numbers: which order went out under which number.
//!
//! Carriers' systems export different columns, so columns are found by their header (order
//! number, tracking number, optionally the carrier, in Chinese or English, in any order; others
//! are ignored). An order number is the one on the label and the packing list (32 hex digits,
//! WeChat Pay's `out_trade_no`) or the order's UUID. Every bad line is reported with the number
//! an editor shows, and a file with any bad line ships nothing.

use photo_ledger_domain::tracking_no::{TrackingNo, TrackingNoError};
use photo_ledger_domain::values::OrderId;

/// The most lines a file may hold.
pub const MAX_LINES: usize = 2000;

const ORDER_HEADERS: &[&str] = &[
    "订单号",
    "商户订单号",
    "订单编号",
    "order",
    "order_no",
    "order_number",
    "out_trade_no",
];
const TRACKING_HEADERS: &[&str] = &[
    "运单号",
    "快递单号",
    "物流单号",
    "tracking",
    "tracking_no",
    "tracking_number",
    "waybill",
];
const CARRIER_HEADERS: &[&str] = &["快递公司", "承运商", "物流公司", "carrier"];

/// One order to ship.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackingLine {
    pub line: usize,
    pub order_id: OrderId,
    pub tracking_no: TrackingNo,
    /// The carrier named on the line, if the file has such a column.
    pub carrier: Option<String>,
}

/// A line that cannot be used, and why, in words for print staff.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadLine {
    pub line: usize,
    pub reason: String,
}

/// The orders a file ships, or every line that is wrong with it (line 1 for the file as a whole).
pub fn read(bytes: &[u8]) -> Result<Vec<TrackingLine>, Vec<BadLine>> {
    let whole = |reason: &str| {
        vec![BadLine {
            line: 1,
            reason: reason.to_string(),
        }]
    };
    let text = crate::csv_text::decode(bytes)
        .ok_or_else(|| whole("文件不是 UTF-8 或 GB 18030 编码的 CSV"))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let header = match records.next() {
        Some(Ok(header)) => header,
        Some(Err(e)) => return Err(whole(&format!("CSV 无法读取：{e}"))),
        None => return Err(whole("文件是空的")),
    };
    let find = |names: &[&str]| {
        header.iter().position(|cell| {
            let cell = cell.trim().to_lowercase();
            names.iter().any(|name| cell == *name)
        })
    };
    let (Some(order_at), Some(tracking_at)) = (find(ORDER_HEADERS), find(TRACKING_HEADERS)) else {
        return Err(whole("第一行须是表头，含“订单号”和“运单号”两列"));
    };
    let carrier_at = find(CARRIER_HEADERS);

    let mut lines = Vec::new();
    let mut bad = Vec::new();
    let mut counter = crate::csv_text::LineCounter::new(&text);
    for record in records {
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                let line = e.position().map_or(0, |p| counter.line_at(p.byte()));
                bad.push(BadLine {
                    line,
                    reason: format!("CSV 无法读取：{e}"),
                });
                if bad.len() > MAX_LINES {
                    break;
                }
                continue;
            }
        };
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let line = record.position().map_or(0, |p| counter.line_at(p.byte()));
        let cell = |at: usize| record.get(at).unwrap_or("").trim();
        if lines.len() + bad.len() == MAX_LINES {
            bad.push(BadLine {
                line,
                reason: format!("一个文件最多 {MAX_LINES} 行，请分开上传"),
            });
            break;
        }
        let order_id = match parse_order_number(cell(order_at)) {
            Some(order_id) => order_id,
            None => {
                bad.push(BadLine {
                    line,
                    reason: format!("订单号“{}”不是本系统的订单号", shorten(cell(order_at))),
                });
                continue;
            }
        };
        let tracking_no = match TrackingNo::parse(cell(tracking_at)) {
            Ok(number) => number,
            Err(e) => {
                let reason = match e {
                    TrackingNoError::Empty => "没有运单号".to_string(),
                    TrackingNoError::TooLong(_) => "运单号过长".to_string(),
                    TrackingNoError::Hidden(_) => "运单号不能含有看不见的字符".to_string(),
                };
                bad.push(BadLine { line, reason });
                continue;
            }
        };
        let carrier = carrier_at
            .map(cell)
            .filter(|c| !c.is_empty())
            .map(str::to_string);
        if let Some(carrier) = &carrier {
            if carrier.chars().count() > super::MAX_CARRIER_CHARS {
                bad.push(BadLine {
                    line,
                    reason: "快递公司名称过长".into(),
                });
                continue;
            }
        }
        if let Some(earlier) = lines
            .iter()
            .find(|l: &&TrackingLine| l.order_id == order_id)
        {
            bad.push(BadLine {
                line,
                reason: format!("订单在第 {} 行已出现", earlier.line),
            });
            continue;
        }
        lines.push(TrackingLine {
            line,
            order_id,
            tracking_no,
            carrier,
        });
    }
    if !bad.is_empty() {
        return Err(bad);
    }
    if lines.is_empty() {
        return Err(whole("文件中没有订单"));
    }
    Ok(lines)
}

/// An order number as printed (32 hex digits) or as the API writes it (a UUID).
pub fn parse_order_number(text: &str) -> Option<OrderId> {
    let text = text.trim();
    if text.len() != 32 && text.len() != 36 {
        return None;
    }
    uuid::Uuid::try_parse(text).ok().map(OrderId::from_uuid)
}

/// What a person recognises of a long cell.
fn shorten(text: &str) -> String {
    let mut short: String = text.chars().take(40).collect();
    if text.chars().count() > 40 {
        short.push('…');
    }
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "3f2a9c0e5b7d4e1f8a6b2c9d0e1f2a3b";
    const B: &str = "0b7ae5b4-7f44-4b0e-9a53-0d7a0c6f5e21";

    #[test]
    fn columns_are_found_by_their_headers_in_any_order() {
        let csv = format!("快递公司,备注,运单号,订单号\n顺丰速运,,SF100,{A}\n\n,,YT200,{B}\n");
        let lines = read(csv.as_bytes()).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].line, 2);
        assert_eq!(lines[0].order_id, parse_order_number(A).unwrap());
        assert_eq!(lines[0].tracking_no.as_str(), "SF100");
        assert_eq!(lines[0].carrier.as_deref(), Some("顺丰速运"));
        assert_eq!(lines[1].line, 4, "the blank line is skipped but counted");
        assert_eq!(lines[1].carrier, None);
        let english = format!("order_no,tracking_no\r\n{A},SF100\r\n");
        assert_eq!(read(english.as_bytes()).unwrap()[0].line, 2);
    }

    #[test]
    fn every_bad_line_is_reported_and_nothing_ships() {
        let csv = format!("订单号,运单号\n{A},SF1\nnot-an-order,SF2\n{B},\n{A},SF3\n");
        let bad = read(csv.as_bytes()).unwrap_err();
        let lines: Vec<usize> = bad.iter().map(|b| b.line).collect();
        assert_eq!(lines, vec![3, 4, 5], "{bad:?}");
        assert!(bad[0].reason.contains("not-an-order"));
        assert_eq!(bad[1].reason, "没有运单号");
        assert_eq!(bad[2].reason, "订单在第 2 行已出现");
    }

    #[test]
    fn a_file_without_the_two_headers_or_without_orders_is_refused_as_a_whole() {
        let headless = format!("{A},SF1\n");
        assert_eq!(read(headless.as_bytes()).unwrap_err()[0].line, 1);
        assert_eq!(
            read(b"order_no,tracking_no\n").unwrap_err()[0].reason,
            "文件中没有订单"
        );
        assert_eq!(read(b"").unwrap_err()[0].reason, "文件是空的");
        assert!(read(&[0x81, 0x20, 0xff]).is_err());
    }

    #[test]
    fn order_numbers_are_the_printed_hex_or_the_uuid() {
        let id = parse_order_number(B).unwrap();
        assert_eq!(parse_order_number(&B.replace('-', "")), Some(id));
        assert_eq!(
            parse_order_number(&format!(" {} ", B.to_uppercase())),
            Some(id)
        );
        assert_eq!(parse_order_number("3f2a9c0e"), None);
        assert_eq!(
            parse_order_number("{0b7ae5b4-7f44-4b0e-9a53-0d7a0c6f5e21}"),
            None
        );
    }
}
