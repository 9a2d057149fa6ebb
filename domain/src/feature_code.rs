//! A collection batch's feature code (特征码): six characters a student types to join a
//! centralised collection, such as `Z3K8F7`.
//!
//! The alphabet leaves out characters that look alike on a printed notice or a phone screen
//! (0/O, 1/I/L), so what a student reads is what they type. Lower case is accepted and read
//! as upper case.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// 8 digits and 23 letters: no 0, 1, I, L or O.
pub const ALPHABET: &[u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
pub const LENGTH: usize = 6;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FeatureCode(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeatureCodeError {
    #[error("a feature code has {LENGTH} characters, not {0}")]
    Length(usize),
    #[error("{0:?} is not used in feature codes (they have no 0, 1, I, L or O)")]
    Character(char),
}

impl FeatureCode {
    pub fn parse(input: &str) -> Result<Self, FeatureCodeError> {
        let code = input.trim().to_ascii_uppercase();
        let length = code.chars().count();
        if length != LENGTH {
            return Err(FeatureCodeError::Length(length));
        }
        if let Some(bad) = code
            .chars()
            .find(|c| !c.is_ascii() || !ALPHABET.contains(&(*c as u8)))
        {
            return Err(FeatureCodeError::Character(bad));
        }
        Ok(Self(code))
    }

    /// A new code; `pick(n)` must return a uniformly random index below `n`.
    pub fn generate(mut pick: impl FnMut(usize) -> usize) -> Self {
        let code = (0..LENGTH)
            .map(|_| char::from(ALPHABET[pick(ALPHABET.len()) % ALPHABET.len()]))
            .collect();
        Self(code)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FeatureCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for FeatureCode {
    type Err = FeatureCodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for FeatureCode {
    type Error = FeatureCodeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<FeatureCode> for String {
    fn from(code: FeatureCode) -> Self {
        code.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_stored_code_when_read_from_json_then_it_is_checked_and_writes_back_the_same() {
        let code: FeatureCode = serde_json::from_str(r#""Z3K8F7""#).unwrap();
        assert_eq!(code.as_str(), "Z3K8F7");
        assert_eq!(serde_json::to_string(&code).unwrap(), r#""Z3K8F7""#);
    }

    #[test]
    fn given_json_that_is_no_feature_code_when_read_then_it_is_refused() {
        for bad in [r#""Z3K8F""#, r#""Z3K8F0""#, r#""""#, "7"] {
            assert!(serde_json::from_str::<FeatureCode>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn given_typed_input_when_parsed_then_it_is_trimmed_and_upper_cased() {
        assert_eq!(FeatureCode::parse(" z3k8f7 ").unwrap().as_str(), "Z3K8F7");
        assert_eq!(
            FeatureCode::parse("Z3K8F"),
            Err(FeatureCodeError::Length(5))
        );
        assert_eq!(
            FeatureCode::parse("Z3K8FO"),
            Err(FeatureCodeError::Character('O'))
        );
    }
}
