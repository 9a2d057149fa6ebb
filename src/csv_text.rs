//! The text of a CSV file as staff export it from Excel or a carrier's system: UTF-8 with or
//! without a byte-order mark, or GB 18030 (what Excel on Chinese Windows writes), with LF line
//! endings so that the csv crate's line numbers are the ones an editor shows (it counts a CRLF
//! as no new line after the first record).

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
