//! A keyed hash of a person's ID number, so a person's photos can be found across captures
//! without the number ever being stored in clear in a view.

use hmac::{Hmac, Mac};
use sha2::Sha256;

#[derive(Clone)]
pub struct PersonKeyer {
    key: Vec<u8>,
}

impl std::fmt::Debug for PersonKeyer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PersonKeyer([redacted])")
    }
}

impl PersonKeyer {
    pub fn new(key: impl Into<Vec<u8>>) -> Self {
        Self { key: key.into() }
    }

    /// HMAC-SHA256 of the normalised ID number (trimmed, upper case, full-width brackets made
    /// ASCII), hex encoded.
    pub fn key_for(&self, id_number: &str) -> String {
        let normalised: String = id_number
            .trim()
            .chars()
            .map(|c| match c {
                '（' => '(',
                '）' => ')',
                c => c.to_ascii_uppercase(),
            })
            .filter(|c| !c.is_whitespace())
            .collect();
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(normalised.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_person_gets_the_same_key_however_written() {
        let keyer = PersonKeyer::new(b"k".to_vec());
        assert_eq!(keyer.key_for("A123456(7)"), keyer.key_for(" a123456（7） "));
        assert_ne!(
            keyer.key_for("A123456(7)"),
            PersonKeyer::new(b"other".to_vec()).key_for("A123456(7)")
        );
        assert!(!keyer.key_for("110101199003076629").contains("6629"));
    }
}
