//! The text of a CSV file as staff export it from Excel or a carrier's system: UTF-8 with or
//! without a byte-order mark, or GB 18030 (what Excel on Chinese Windows writes), with LF line
//! endings, and the line numbers an editor shows for the records the csv crate reads
//! ([`LineCounter`]: the crate counts neither a CRLF after the first record nor blank lines).
//! The CSV files the service writes for staff to open hold their cells as text
//! ([`write_text_record`]), never as formulas.

use std::borrow::Cow;

/// The file's text, or `None` when it is neither UTF-8 nor GB 18030.
pub fn decode(bytes: &[u8]) -> Option<String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text.to_string(),
        Err(_) => {
            let (text, _, had_errors) = encoding_rs::GB18030.decode(bytes);
            if had_errors {
                return None;
            }
            text.into_owned()
        }
    };
    Some(text.replace("\r\n", "\n"))
}

/// A cell of a CSV file the service writes, as a spreadsheet shows it rather than runs it: a
/// cell that Excel or WPS would take for a formula (one starting with `=`, `+`, `-`, `@`, a tab
/// or a carriage return, as a name or number typed into a roster can) gets a leading
/// apostrophe, which they show as text. No name, number or time the service writes starts so
/// otherwise.
pub fn text_cell(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// Writes a record whose every cell is written as text ([`text_cell`]).
pub fn write_text_record<'a, W: std::io::Write>(
    writer: &mut csv::Writer<W>,
    cells: impl IntoIterator<Item = &'a str>,
) -> csv::Result<()> {
    let cells: Vec<Cow<'a, str>> = cells.into_iter().map(text_cell).collect();
    writer.write_record(cells.iter().map(|cell| cell.as_bytes()))
}

/// Line numbers (from 1) of the records the csv crate reads, as an editor counts them: blank
/// lines included, which the crate skips without counting (a record after one is placed where
/// the blank line starts). Records come in order, so each count goes on from the last.
pub struct LineCounter<'a> {
    bytes: &'a [u8],
    at: usize,
    line: usize,
}

impl<'a> LineCounter<'a> {
    pub fn new(text: &'a str) -> Self {
        Self {
            bytes: text.as_bytes(),
            at: 0,
            line: 1,
        }
    }

    /// The line of the record the csv crate places at `byte`.
    pub fn line_at(&mut self, byte: u64) -> usize {
        let mut start = (byte as usize).min(self.bytes.len());
        while self.bytes.get(start) == Some(&b'\n') {
            start += 1;
        }
        if start > self.at {
            self.line += self.bytes[self.at..start]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            self.at = start;
        }
        self.line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_a_spreadsheet_would_run_are_written_as_text() {
        for formula in ["=1+1", "+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"] {
            assert_eq!(text_cell(formula), format!("'{formula}"));
        }
        for text in [
            "2022010001",
            "吴晓兰",
            "2026-06-02 00:30",
            "a=b",
            "",
            "'quoted",
        ] {
            assert_eq!(text_cell(text), text);
        }
    }

    #[test]
    fn utf8_with_a_bom_and_gb18030_read_the_same() {
        let (gbk, _, _) = encoding_rs::GB18030.encode("订单号,运单号\r\n");
        assert_eq!(decode(&gbk).as_deref(), Some("订单号,运单号\n"));
        assert_eq!(
            decode("\u{feff}订单号,运单号\r\n".as_bytes()).as_deref(),
            Some("订单号,运单号\n")
        );
        assert_eq!(decode(&[0x81, 0x20, 0xff]), None);
    }

    #[test]
    fn lines_are_counted_as_an_editor_counts_them_blank_ones_included() {
        let text = "学号,姓名\n1,甲\n\n\n2,乙\n3,丙\n";
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(text.as_bytes());
        let mut counter = LineCounter::new(text);
        let lines: Vec<usize> = reader
            .records()
            .map(|r| counter.line_at(r.unwrap().position().unwrap().byte()))
            .collect();
        assert_eq!(lines, [1, 2, 5, 6]);
    }
}
