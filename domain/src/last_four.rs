//! The last four characters of an identity document number, as students type them to prove
//! a collection code is theirs.
//!
//! The rule the mini-programs print: the last four characters of the number, where brackets
//! are characters too — so a complete pair counts as two and `A123456(7)` ends in `6(7)`.
//! Full-width brackets and digits count as their ASCII twins and letters are case-insensitive,
//! so `６（７）` and `6(7)` match, as do `123x` and `123X`. Passport numbers work the same way.

use std::fmt;

use crate::id_number::normalise_document_text;

/// Four normalised characters: digits, upper-case letters, or a closing `(c)` check character.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LastFour(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LastFourError {
    #[error("enter exactly four characters, not {0}")]
    Length(usize),
    #[error("only letters, digits and a closing bracketed character such as 6(7) are allowed")]
    Characters,
}

impl LastFour {
    /// What a student typed.
    pub fn parse(input: &str) -> Result<Self, LastFourError> {
        let text = normalise_document_text(input);
        let chars: Vec<char> = text.chars().collect();
        if chars.len() != 4 {
            return Err(LastFourError::Length(chars.len()));
        }
        let alnum = |c: &char| c.is_ascii_digit() || c.is_ascii_uppercase();
        let plain = chars.iter().all(alnum);
        // The only place brackets can be among the last four: a complete pair at the end.
        let bracketed = alnum(&chars[0]) && chars[1] == '(' && alnum(&chars[2]) && chars[3] == ')';
        if plain || bracketed {
            Ok(Self(text))
        } else {
            Err(LastFourError::Characters)
        }
    }

    /// The last four of a document number (normalised first, so a roster's raw text works too).
    pub fn of(id_number: &str) -> Self {
        let chars: Vec<char> = normalise_document_text(id_number).chars().collect();
        let start = chars.len().saturating_sub(4);
        Self(chars[start..].iter().collect())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LastFour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
