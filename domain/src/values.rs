//! Small value objects shared by commands, events and views. Each can only be built through a
//! validating constructor, so nothing downstream re-checks them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new random (v4) id.
            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }

            /// The id a UUID already names: one read back, or derived (v5) from a request.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// Identifies one capture (one student, one education record).
    CaptureId
);
uuid_id!(
    /// Identifies one stored photo, uploaded or standardised.
    PhotoId
);
uuid_id!(
    /// Identifies one payable order of a capture.
    OrderId
);
uuid_id!(
    /// Identifies one refund of one payment; derived from the payment (see
    /// [`crate::refunds::refund_id`]), so asking again never refunds twice.
    RefundId
);

/// An amount of money in fen (分). Money never travels as a float.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Fen(u64);

impl Fen {
    pub const ZERO: Fen = Fen(0);

    pub const fn new(fen: u64) -> Self {
        Fen(fen)
    }

    /// The amount in fen.
    pub const fn fen(self) -> u64 {
        self.0
    }

    /// An amount as staff type it in yuan: `25`, `25.5`, `25.50`, `0.8` (`¥` and spaces
    /// allowed); `None` for anything else, more than two decimals included.
    pub fn from_yuan(text: &str) -> Option<Fen> {
        let text = text.trim().trim_start_matches(['¥', '￥']).trim();
        let (yuan, fraction) = text.split_once('.').unwrap_or((text, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if yuan.is_empty() || !digits(yuan) || !digits(fraction) || fraction.len() > 2 {
            return None;
        }
        let cents = match fraction.len() {
            0 => 0,
            1 => fraction.parse::<u64>().ok()? * 10,
            _ => fraction.parse::<u64>().ok()?,
        };
        yuan.parse::<u64>()
            .ok()?
            .checked_mul(100)?
            .checked_add(cents)
            .map(Fen)
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `None` on overflow, which no real order reaches.
    pub fn checked_mul(self, n: u32) -> Option<Fen> {
        self.0.checked_mul(u64::from(n)).map(Fen)
    }

    pub fn checked_add(self, other: Fen) -> Option<Fen> {
        self.0.checked_add(other.0).map(Fen)
    }
}

impl fmt::Display for Fen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "¥{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

/// An sRGB colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Rgb(pub u8, pub u8, pub u8);

/// The background a standard photo is composited on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Background {
    /// Light blue RGB(100, 197, 255), the 学信网 default.
    #[default]
    Blue,
    White,
    /// Light grey RGB(240, 240, 240).
    Grey,
    Custom(Rgb),
}

impl Background {
    pub fn rgb(self) -> Rgb {
        match self {
            Background::Blue => Rgb(100, 197, 255),
            Background::White => Rgb(255, 255, 255),
            Background::Grey => Rgb(240, 240, 240),
            Background::Custom(rgb) => rgb,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown background {0:?}: use blue, white, grey or a colour written #RRGGBB")]
pub struct BackgroundParseError(pub String);

impl FromStr for Background {
    type Err = BackgroundParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        match lower.as_str() {
            "blue" => return Ok(Background::Blue),
            "white" => return Ok(Background::White),
            "grey" | "gray" => return Ok(Background::Grey),
            _ => {}
        }
        let hex = lower
            .strip_prefix('#')
            .filter(|h| h.len() == 6 && h.chars().all(|c| c.is_ascii_hexdigit()))
            .ok_or_else(|| BackgroundParseError(s.to_string()))?;
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).expect("checked hex digits");
        Ok(Background::Custom(Rgb(byte(0), byte(2), byte(4))))
    }
}

impl fmt::Display for Background {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Background::Blue => f.write_str("blue"),
            Background::White => f.write_str("white"),
            Background::Grey => f.write_str("grey"),
            Background::Custom(Rgb(r, g, b)) => write!(f, "#{r:02x}{g:02x}{b:02x}"),
        }
    }
}

impl Serialize for Background {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Background {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Where an uploaded photo came from on the phone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhotoSource {
    Camera,
    Album,
}

/// The two 6寸 print sheets the mini-programs sell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrintLayout {
    /// 版式一: 1寸 × 8 + 2寸 × 4.
    One,
    /// 版式二: 2寸 × 8.
    Two,
}

impl PrintLayout {
    /// As it is written in requests and views.
    pub fn code(self) -> &'static str {
        match self {
            PrintLayout::One => "one",
            PrintLayout::Two => "two",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            PrintLayout::One => "版式一（1寸×8 + 2寸×4）",
            PrintLayout::Two => "版式二（2寸×8）",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_typed_in_yuan_are_read_to_the_fen() {
        for (typed, fen) in [
            ("25", 2500),
            ("25.5", 2550),
            (" ¥25.50 ", 2550),
            ("￥0.08", 8),
            ("0", 0),
        ] {
            assert_eq!(Fen::from_yuan(typed), Some(Fen::new(fen)), "{typed}");
        }
        for typed in [
            "",
            ".5",
            "25.505",
            "-1",
            "2 5",
            "1e3",
            "99999999999999999999",
        ] {
            assert_eq!(Fen::from_yuan(typed), None, "{typed}");
        }
        assert_eq!(
            Fen::from_yuan("25."),
            Some(Fen::new(2500)),
            "a trailing point"
        );
    }

    #[test]
    fn backgrounds_parse_names_and_hex_colours() {
        assert_eq!("blue".parse(), Ok(Background::Blue));
        assert_eq!("Grey".parse(), Ok(Background::Grey));
        assert_eq!("gray".parse(), Ok(Background::Grey));
        assert_eq!(
            "#00A3E6".parse(),
            Ok(Background::Custom(Rgb(0, 0xa3, 0xe6)))
        );
        assert!("#00A3E".parse::<Background>().is_err());
        assert!("green".parse::<Background>().is_err());
        assert!("#GGGGGG".parse::<Background>().is_err());
        assert_eq!(Background::Custom(Rgb(0, 191, 243)).to_string(), "#00bff3");
        assert_eq!(Background::Blue.rgb(), Rgb(100, 197, 255));
        assert_eq!(Background::Grey.rgb(), Rgb(240, 240, 240));
    }

    #[test]
    fn given_an_amount_in_fen_when_built_then_it_reads_back_and_serialises_as_the_bare_number() {
        let fee = Fen::new(2500);
        assert_eq!(fee.fen(), 2500);
        assert_eq!(serde_json::to_string(&fee).unwrap(), "2500");
        assert_eq!(serde_json::from_str::<Fen>("2500").unwrap(), fee);
        assert!(Fen::new(0).is_zero() && Fen::new(0) == Fen::ZERO);
        assert!(serde_json::from_str::<Fen>("-1").is_err());
        assert!(serde_json::from_str::<Fen>("25.5").is_err());
    }

    #[test]
    fn given_amounts_when_added_or_multiplied_past_u64_then_none() {
        assert_eq!(Fen::new(u64::MAX).checked_add(Fen::new(1)), None);
        assert_eq!(Fen::new(u64::MAX).checked_mul(2), None);
        assert_eq!(Fen::new(1).checked_add(Fen::new(2)), Some(Fen::new(3)));
    }

    #[test]
    fn given_a_uuid_when_an_id_is_built_from_it_then_it_reads_back_prints_and_serialises_as_it() {
        let uuid = Uuid::from_u128(0x1ed9_e7a0_0000_4000_8000_0000_0000_0100);
        let capture = CaptureId::from_uuid(uuid);
        assert_eq!(capture.as_uuid(), uuid);
        assert_eq!(capture.to_string(), "1ed9e7a0-0000-4000-8000-000000000100");
        assert_eq!(
            serde_json::to_string(&capture).unwrap(),
            r#""1ed9e7a0-0000-4000-8000-000000000100""#
        );
        assert_eq!(
            "1ed9e7a0-0000-4000-8000-000000000100".parse::<CaptureId>(),
            Ok(capture)
        );
        assert_eq!(
            PhotoId::from_uuid(uuid).as_uuid(),
            OrderId::from_uuid(uuid).as_uuid()
        );
        assert_ne!(OrderId::new(), OrderId::new());
    }

    #[test]
    fn given_text_that_is_no_uuid_when_read_as_an_id_then_it_is_refused() {
        assert!("not-a-uuid".parse::<CaptureId>().is_err());
        assert!("".parse::<PhotoId>().is_err());
        assert!(serde_json::from_str::<OrderId>(r#""1ed9e7a0""#).is_err());
    }

    #[test]
    fn fen_prints_as_yuan() {
        assert_eq!(Fen(2500).to_string(), "¥25.00");
        assert_eq!(Fen(5).to_string(), "¥0.05");
        assert_eq!(Fen(100).checked_mul(3), Some(Fen(300)));
    }
}
