//! The catalogue of reasons a reviewer may give for rejecting a photo. Codes are stable (they are
//! stored in the log as strings); the Chinese labels are what the student reads.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One reason from the catalogue. Stored and sent as its code, e.g. `"blurred"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum RejectReason {
    EyesClosed,
    MouthOpen,
    HeadPosition,
    HeadTilted,
    FaceShadow,
    TooDark,
    Overexposed,
    Blurred,
    Background,
    ClothingColour,
    HairCoversFace,
    EarsHidden,
    Accessories,
    MakeupOrFilter,
    PhotoOfPhoto,
    NotSamePerson,
    /// Anything else, explained in the note; also what a schema-1.0 free-text reason became.
    Other,
}

/// A code that is not in the catalogue.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown reject reason {0:?}")]
pub struct UnknownRejectReason(pub String);

impl RejectReason {
    /// Every reason, in the order reviewers see them.
    pub const ALL: [RejectReason; 17] = [
        RejectReason::EyesClosed,
        RejectReason::MouthOpen,
        RejectReason::HeadPosition,
        RejectReason::HeadTilted,
        RejectReason::FaceShadow,
        RejectReason::TooDark,
        RejectReason::Overexposed,
        RejectReason::Blurred,
        RejectReason::Background,
        RejectReason::ClothingColour,
        RejectReason::HairCoversFace,
        RejectReason::EarsHidden,
        RejectReason::Accessories,
        RejectReason::MakeupOrFilter,
        RejectReason::PhotoOfPhoto,
        RejectReason::NotSamePerson,
        RejectReason::Other,
    ];

    pub fn code(self) -> &'static str {
        self.entry().0
    }

    pub fn label(self) -> &'static str {
        self.entry().1
    }

    fn entry(self) -> (&'static str, &'static str) {
        match self {
            RejectReason::EyesClosed => ("eyes_closed", "眼睛未睁开或未直视镜头"),
            RejectReason::MouthOpen => ("mouth_open", "嘴巴未闭合"),
            RejectReason::HeadPosition => ("head_position", "头部位置或大小不符合要求"),
            RejectReason::HeadTilted => ("head_tilted", "头部歪斜或转向一侧"),
            RejectReason::FaceShadow => ("face_shadow", "面部有阴影或光线不均（阴阳脸）"),
            RejectReason::TooDark => ("too_dark", "照片过暗"),
            RejectReason::Overexposed => ("overexposed", "照片过亮或曝光过度"),
            RejectReason::Blurred => ("blurred", "照片模糊"),
            RejectReason::Background => ("background", "背景不是纯色或有杂物"),
            RejectReason::ClothingColour => ("clothing_colour", "服装颜色与背景过于接近"),
            RejectReason::HairCoversFace => ("hair_covers_face", "头发遮挡眉毛、眼睛或耳朵"),
            RejectReason::EarsHidden => ("ears_hidden", "耳朵未露出"),
            RejectReason::Accessories => ("accessories", "佩戴帽子、耳饰、项链或有色眼镜"),
            RejectReason::MakeupOrFilter => ("makeup_or_filter", "浓妆或使用美颜滤镜"),
            RejectReason::PhotoOfPhoto => ("photo_of_photo", "翻拍照片"),
            RejectReason::NotSamePerson => ("not_same_person", "与学籍照片不是同一人"),
            RejectReason::Other => ("other", "其他原因，请查看审核备注"),
        }
    }

    /// Reads a code exactly as the catalogue spells it.
    pub fn parse(code: &str) -> Result<Self, UnknownRejectReason> {
        Self::ALL
            .into_iter()
            .find(|r| r.code() == code)
            .ok_or_else(|| UnknownRejectReason(code.to_string()))
    }

    /// Reads a list of codes, each reason once, in the order first given (a form or client that
    /// sends one twice means it once: the student is not told the same thing twice); the first
    /// unknown code refuses the list.
    pub fn parse_all<S: AsRef<str>>(
        codes: impl IntoIterator<Item = S>,
    ) -> Result<Vec<Self>, UnknownRejectReason> {
        let mut reasons = Vec::new();
        for code in codes {
            let reason = Self::parse(code.as_ref())?;
            if !reasons.contains(&reason) {
                reasons.push(reason);
            }
        }
        Ok(reasons)
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for RejectReason {
    type Err = UnknownRejectReason;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for RejectReason {
    type Error = UnknownRejectReason;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<RejectReason> for &'static str {
    fn from(reason: RejectReason) -> Self {
        reason.code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_catalogue_code_when_parsed_then_it_is_that_reason_and_prints_as_the_code() {
        let reason = RejectReason::parse("clothing_colour").unwrap();
        assert_eq!(reason, RejectReason::ClothingColour);
        assert_eq!(reason.to_string(), "clothing_colour");
        assert_eq!(reason.label(), "服装颜色与背景过于接近");
        assert_eq!("other".parse(), Ok(RejectReason::Other));
    }

    #[test]
    fn given_every_reason_when_its_code_is_parsed_then_it_comes_back_and_codes_are_unique() {
        for reason in RejectReason::ALL {
            assert_eq!(RejectReason::parse(reason.code()), Ok(reason));
            assert!(!reason.label().is_empty());
        }
        let mut codes: Vec<_> = RejectReason::ALL.iter().map(|r| r.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), RejectReason::ALL.len());
    }

    #[test]
    fn given_a_code_outside_the_catalogue_when_parsed_then_it_is_refused_naming_it() {
        for code in [
            "ugly",
            "",
            "Blurred",
            " blurred",
            "blurred ",
            "BLURRED",
            "眼睛未睁开",
        ] {
            assert_eq!(
                RejectReason::parse(code),
                Err(UnknownRejectReason(code.to_string())),
                "{code:?}"
            );
        }
    }

    #[test]
    fn given_a_list_with_one_unknown_code_when_parsed_then_the_list_is_refused_naming_it() {
        assert_eq!(
            RejectReason::parse_all(["blurred", "too_dark"]),
            Ok(vec![RejectReason::Blurred, RejectReason::TooDark])
        );
        assert_eq!(
            RejectReason::parse_all(["blurred", "ugly", "nope"]),
            Err(UnknownRejectReason("ugly".into()))
        );
        assert_eq!(RejectReason::parse_all(Vec::<String>::new()), Ok(vec![]));
    }

    #[test]
    fn given_a_list_naming_a_reason_twice_when_parsed_then_it_is_kept_once_where_first_named() {
        assert_eq!(
            RejectReason::parse_all(["too_dark", "blurred", "too_dark", "blurred"]),
            Ok(vec![RejectReason::TooDark, RejectReason::Blurred])
        );
    }

    #[test]
    fn given_reasons_when_serialised_then_they_are_their_codes_and_unknown_codes_do_not_read() {
        let json = serde_json::to_string(&[RejectReason::Blurred, RejectReason::Other]).unwrap();
        assert_eq!(json, r#"["blurred","other"]"#);
        let back: Vec<RejectReason> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, vec![RejectReason::Blurred, RejectReason::Other]);
        assert!(serde_json::from_str::<RejectReason>(r#""ugly""#).is_err());
    }
}
