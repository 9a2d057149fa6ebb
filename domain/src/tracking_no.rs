//! A courier's waybill number (运单号), as print staff type it when an order ships.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Longest waybill number accepted, in characters. Real ones have 10 to 20.
pub const MAX_CHARS: usize = 64;

/// A waybill number: trimmed, 1 to [`MAX_CHARS`] characters, none of them hidden
/// ([`crate::text::is_hidden`]: a zero-width space or a byte-order mark would make a number
/// that looks the same be another, or one that looks empty be there).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TrackingNo(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackingNoError {
    #[error("the tracking number is empty")]
    Empty,
    #[error("a tracking number has at most {MAX_CHARS} characters, not {0}")]
    TooLong(usize),
    #[error("a tracking number holds no invisible characters ({0:?})")]
    Hidden(char),
}

impl TrackingNo {
    /// Reads what print staff typed: surrounding whitespace goes, the rest is kept as typed.
    pub fn parse(input: &str) -> Result<Self, TrackingNoError> {
        let number = input.trim();
        if number.is_empty() {
            return Err(TrackingNoError::Empty);
        }
        let chars = number.chars().count();
        if chars > MAX_CHARS {
            return Err(TrackingNoError::TooLong(chars));
        }
        if let Some(hidden) = number.chars().find(|&c| crate::text::is_hidden(c)) {
            return Err(TrackingNoError::Hidden(hidden));
        }
        Ok(Self(number.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TrackingNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for TrackingNo {
    type Err = TrackingNoError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Read back from the log (or any JSON): earlier versions only guaranteed a trimmed, non-empty
/// number (their HTTP route also held it to 64 characters), so a recorded number is read exactly
/// as written and only a blank one is refused. New numbers come through [`TrackingNo::parse`].
impl TryFrom<String> for TrackingNo {
    type Error = TrackingNoError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        if s.trim().is_empty() {
            return Err(TrackingNoError::Empty);
        }
        Ok(Self(s))
    }
}

impl From<TrackingNo> for String {
    fn from(number: TrackingNo) -> Self {
        number.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_typed_number_with_spaces_around_when_parsed_then_it_is_trimmed() {
        let number = TrackingNo::parse("  SF1234567890 \n").unwrap();
        assert_eq!(number.as_str(), "SF1234567890");
        assert_eq!(number.to_string(), "SF1234567890");
        assert_eq!(
            "YT-2026 0001".parse::<TrackingNo>().unwrap().as_str(),
            "YT-2026 0001"
        );
    }

    #[test]
    fn given_blank_input_when_parsed_then_it_is_refused_as_empty() {
        for blank in ["", " ", "\t\n", "\u{3000}"] {
            assert_eq!(
                TrackingNo::parse(blank),
                Err(TrackingNoError::Empty),
                "{blank:?}"
            );
        }
    }

    #[test]
    fn given_sixty_four_characters_when_parsed_then_accepted_and_sixty_five_refused() {
        let longest = "运".repeat(MAX_CHARS);
        assert_eq!(TrackingNo::parse(&longest).unwrap().as_str(), longest);
        assert_eq!(
            TrackingNo::parse(&"9".repeat(MAX_CHARS + 1)),
            Err(TrackingNoError::TooLong(MAX_CHARS + 1))
        );
    }

    #[test]
    fn given_a_character_nobody_sees_inside_when_parsed_then_it_is_refused() {
        for (number, hidden) in [
            ("SF12\u{7}34", '\u{7}'),
            ("SF12\n34", '\n'),
            ("X\u{200B}10", '\u{200B}'),
            ("\u{FEFF}X10", '\u{FEFF}'),
            ("SF\u{202E}01", '\u{202E}'),
        ] {
            assert_eq!(
                TrackingNo::parse(number),
                Err(TrackingNoError::Hidden(hidden)),
                "{number:?}"
            );
        }
    }

    #[test]
    fn given_a_number_when_serialised_then_it_is_a_plain_string_read_back_the_same() {
        let number = TrackingNo::parse("SF1").unwrap();
        assert_eq!(serde_json::to_string(&number).unwrap(), r#""SF1""#);
        assert_eq!(
            serde_json::from_str::<TrackingNo>(r#""SF1""#).unwrap(),
            number
        );
    }

    #[test]
    fn given_recorded_json_when_read_then_only_blank_numbers_are_refused() {
        assert!(serde_json::from_str::<TrackingNo>(r#""""#).is_err());
        assert!(serde_json::from_str::<TrackingNo>(r#"" ""#).is_err());
        // Earlier versions recorded any trimmed text; it still reads as it was written.
        let odd: TrackingNo = serde_json::from_str(r#""SF\u0007""#).unwrap();
        assert_eq!(odd.as_str(), "SF\u{7}");
        let padded: TrackingNo = serde_json::from_str(r#"" SF1 ""#).unwrap();
        assert_eq!(serde_json::to_string(&padded).unwrap(), r#"" SF1 ""#);
    }
}
