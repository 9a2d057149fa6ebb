//! Identity document numbers as a roster may hold them.
//!
//! Mainland resident ID numbers (GB 11643-1999) are checked completely: 17 digits, a check
//! digit (0–9 or X) computed with the ISO 7064 MOD 11-2 weights, and a real birth date in
//! positions 7–14 that is not in the future. Other documents (Hong Kong, Macao and Taiwan
//! documents, passports) have too many national formats to check digits, so they are only
//! normalised and held to a plain shape: letters and digits, optionally ending in a bracketed
//! check character as Hong Kong identity cards do (`A123456(7)`).
//!
//! Numbers are normalised once, here: full-width characters become ASCII, letters upper case,
//! spaces removed. Everything downstream compares normalised numbers.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::identity::IdType;

/// A validated, normalised identity document number.
///
/// Built by [`IdNumber::parse`], which needs the document type and today's date, so JSON (the
/// capture log, a stored command) is read back as written, without checking it again: a number
/// recorded by an earlier version always reads, and writes back byte for byte.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IdNumber(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdNumberError {
    #[error("the ID number is empty")]
    Empty,
    #[error("a resident ID number has 18 characters, not {0}")]
    ResidentLength(usize),
    #[error("a resident ID number is 17 digits followed by a digit or X")]
    ResidentCharacters,
    #[error("the birth date {0} in the ID number is not a real date")]
    BirthDate(String),
    #[error("the birth date {0} in the ID number is in the future or before 1900")]
    BirthDateOutOfRange(NaiveDate),
    #[error("the check digit should be {expected}, not {found}")]
    CheckDigit { expected: char, found: char },
    #[error("a document number has 5 to 20 characters, not {0}")]
    DocumentLength(usize),
    #[error("a document number holds letters and digits, optionally ending in a bracketed character such as (7)")]
    DocumentCharacters,
}

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK_CHARS: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// The GB 11643 check character for the first 17 digits of a resident ID number, or `None`
/// if `first17` is not 17 ASCII digits.
pub fn resident_check_digit(first17: &str) -> Option<char> {
    if first17.len() != 17 || !first17.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sum: u32 = first17
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    Some(CHECK_CHARS[(sum % 11) as usize])
}

/// Full-width forms (U+FF01–U+FF5E, such as `（`, `７`, `Ｘ`) become their ASCII twins, letters
/// become upper case and whitespace (including the ideographic space) disappears.
pub fn normalise_document_text(raw: &str) -> String {
    raw.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

impl IdNumber {
    /// The number an erased identity holds: none. [`IdNumber::parse`] never makes it.
    pub fn erased() -> Self {
        Self(String::new())
    }

    /// This is an erased identity's number.
    pub fn is_erased(&self) -> bool {
        self.0.is_empty()
    }

    /// Validates `raw` as a document of `id_type`. `today` bounds resident birth dates.
    pub fn parse(id_type: IdType, raw: &str, today: NaiveDate) -> Result<Self, IdNumberError> {
        let number = normalise_document_text(raw);
        if number.is_empty() {
            return Err(IdNumberError::Empty);
        }
        match id_type {
            IdType::ResidentId => check_resident(&number, today)?,
            IdType::HkMacaoTaiwan | IdType::Passport => check_document(&number)?,
        }
        Ok(Self(number))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn check_resident(number: &str, today: NaiveDate) -> Result<(), IdNumberError> {
    let chars = number.chars().count();
    if chars != 18 {
        return Err(IdNumberError::ResidentLength(chars));
    }
    if !number.is_ascii() {
        return Err(IdNumberError::ResidentCharacters);
    }
    let (first17, last) = number.split_at(17);
    let found = last.chars().next().unwrap_or_default();
    let Some(expected) = resident_check_digit(first17) else {
        return Err(IdNumberError::ResidentCharacters);
    };
    if !(found.is_ascii_digit() || found == 'X') {
        return Err(IdNumberError::ResidentCharacters);
    }
    let digits = &first17[6..14];
    let birth = NaiveDate::parse_from_str(digits, "%Y%m%d")
        .map_err(|_| IdNumberError::BirthDate(digits.to_string()))?;
    let earliest = NaiveDate::from_ymd_opt(1900, 1, 1).expect("a real date");
    if birth < earliest || birth > today {
        return Err(IdNumberError::BirthDateOutOfRange(birth));
    }
    if found != expected {
        return Err(IdNumberError::CheckDigit { expected, found });
    }
    Ok(())
}

fn check_document(number: &str) -> Result<(), IdNumberError> {
    let chars = number.chars().count();
    if !(5..=20).contains(&chars) {
        return Err(IdNumberError::DocumentLength(chars));
    }
    // Letters and digits, then at most one bracketed check character at the very end.
    let body = match number.strip_suffix(')') {
        Some(rest) => {
            let (body, check) = rest
                .rsplit_once('(')
                .ok_or(IdNumberError::DocumentCharacters)?;
            if check.chars().count() != 1 || body.is_empty() {
                return Err(IdNumberError::DocumentCharacters);
            }
            check_alphanumeric(check)?;
            body
        }
        None => number,
    };
    check_alphanumeric(body)
}

fn check_alphanumeric(s: &str) -> Result<(), IdNumberError> {
    if s.chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    {
        Ok(())
    } else {
        Err(IdNumberError::DocumentCharacters)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 6, 1).unwrap()
    }

    #[test]
    fn given_typed_numbers_when_parsed_for_their_document_then_valid_ones_are_normalised() {
        let resident = IdNumber::parse(IdType::ResidentId, "11010119900307662４", today());
        assert_eq!(resident.unwrap().as_str(), "110101199003076624");
        let hk = IdNumber::parse(IdType::HkMacaoTaiwan, "a123456（7）", today()).unwrap();
        assert_eq!(hk.as_str(), "A123456(7)");
    }

    #[test]
    fn given_invalid_numbers_when_parsed_then_they_are_refused_with_the_reason() {
        assert_eq!(
            IdNumber::parse(IdType::ResidentId, "110101199003076629", today()),
            Err(IdNumberError::CheckDigit {
                expected: '4',
                found: '9'
            })
        );
        assert_eq!(
            IdNumber::parse(IdType::Passport, " ", today()),
            Err(IdNumberError::Empty)
        );
        assert_eq!(
            IdNumber::parse(IdType::Passport, "E12-345", today()),
            Err(IdNumberError::DocumentCharacters)
        );
    }

    #[test]
    fn given_a_recorded_number_when_read_from_json_then_it_reads_as_written_and_writes_back() {
        // Recorded before check digits were checked: it still reads, unchanged.
        let recorded: IdNumber = serde_json::from_str(r#""110101199003070001""#).unwrap();
        assert_eq!(recorded.as_str(), "110101199003070001");
        assert_eq!(
            serde_json::to_string(&recorded).unwrap(),
            r#""110101199003070001""#
        );
    }
}
