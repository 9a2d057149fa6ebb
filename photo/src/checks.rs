//! Every check a reviewer would make, each with a stable code, the measured value, the limit,
//! whether it blocks submission, and what the student should do about it.

use photo_ledger_domain::checks::CheckResult;
use serde::Serialize;
use strum::IntoEnumIterator;

use super::spec::Window;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::EnumIter)]
pub enum CheckCode {
    NoFace,
    SeveralFaces,
    FaceTooSmall,
    HeadCutOff,
    TiltTooLarge,
    HeadTurned,
    EyesClosed,
    MouthOpen,
    TooDark,
    Overexposed,
    UnevenLight,
    Blurred,
    LowResolution,
    ClothingLikeBackground,
    NotSeparable,
    BackgroundNotUniform,
    HeadTopPosition,
    EyeLinePosition,
    FaceWidth,
    FaceOffCentre,
    FileSize,
}

impl CheckCode {
    /// The check a recorded code names, if it is one of these.
    pub fn parse(code: &str) -> Option<CheckCode> {
        Self::iter().find(|c| c.code() == code)
    }

    pub fn code(self) -> &'static str {
        use CheckCode::*;
        match self {
            NoFace => "photo.no_face",
            SeveralFaces => "photo.several_faces",
            FaceTooSmall => "photo.face_too_small",
            HeadCutOff => "photo.head_cut_off",
            TiltTooLarge => "photo.tilt_too_large",
            HeadTurned => "photo.head_turned",
            EyesClosed => "photo.eyes_closed",
            MouthOpen => "photo.mouth_open",
            TooDark => "photo.too_dark",
            Overexposed => "photo.overexposed",
            UnevenLight => "photo.uneven_light",
            Blurred => "photo.blurred",
            LowResolution => "photo.low_resolution",
            ClothingLikeBackground => "photo.clothing_like_background",
            NotSeparable => "photo.not_separable",
            BackgroundNotUniform => "photo.background_not_uniform",
            HeadTopPosition => "photo.head_top_position",
            EyeLinePosition => "photo.eye_line_position",
            FaceWidth => "photo.face_width",
            FaceOffCentre => "photo.face_off_centre",
            FileSize => "photo.file_size",
        }
    }

    /// What the check looks at, in a few Chinese words, for the reviewer's table.
    pub fn label(self) -> &'static str {
        use CheckCode::*;
        match self {
            NoFace => "检测到人脸",
            SeveralFaces => "只有一张人脸",
            FaceTooSmall => "人脸像素足够",
            HeadCutOff => "头顶完整",
            TiltTooLarge => "头部端正",
            HeadTurned => "正面朝向镜头",
            EyesClosed => "双眼睁开",
            MouthOpen => "嘴巴闭合",
            TooDark => "面部不过暗",
            Overexposed => "面部不过曝",
            UnevenLight => "面部光线均匀",
            Blurred => "照片清晰",
            LowResolution => "原图分辨率",
            ClothingLikeBackground => "衣服与背景有反差",
            NotSeparable => "人像与背景可分离",
            BackgroundNotUniform => "换底后背景均匀",
            HeadTopPosition => "头顶位置",
            EyeLinePosition => "眼睛位置",
            FaceWidth => "人脸宽度",
            FaceOffCentre => "人脸居中",
            FileSize => "文件大小 20–40 KB",
        }
    }

    /// Short Chinese advice for the student.
    pub fn message(self) -> &'static str {
        use CheckCode::*;
        match self {
            NoFace => "没有检测到人脸：请正对镜头，让整张脸出现在画面中。",
            SeveralFaces => "画面中有多张人脸：请只拍本人，身后不要有其他人或人像。",
            FaceTooSmall => "人脸太小、像素不足：请靠近一些，用后置摄像头拍摄更清晰的照片。",
            HeadCutOff => "头顶被裁掉了：请后退一些，让头顶上方留出空间。",
            TiltTooLarge => "头部歪斜过大：请保持头部端正、双眼水平。",
            HeadTurned => "头部偏转：请正对镜头，不要侧脸。",
            EyesClosed => "眼睛闭合：请睁开双眼，注视镜头。",
            MouthOpen => "嘴巴张开：请自然闭嘴，不要露齿大笑。",
            TooDark => "面部过暗：请在光线充足处拍摄，面向光源。",
            Overexposed => "面部过曝：请避开强光直射，不要使用闪光灯。",
            UnevenLight => "面部光线不均（阴阳脸）：请让光线均匀照在脸上，避免侧光。",
            Blurred => "照片模糊：请对焦后保持手机稳定再拍摄。",
            LowResolution => "原图分辨率偏低：建议靠近一些或用更高像素拍摄，冲印会更清晰。",
            ClothingLikeBackground => {
                "衣服颜色与背景色太接近：请换一件与背景反差明显的衣服（蓝底不要穿蓝色衣服）。"
            }
            NotSeparable => "人像与背景难以分开：请在纯色、整洁的墙面前拍摄。",
            BackgroundNotUniform => "换底后背景不均匀：请在纯色墙面前拍摄，身后不要有杂物。",
            HeadTopPosition => "头顶位置不合要求：请调整拍摄距离，头顶上方留出适当空间。",
            EyeLinePosition => "眼睛位置不合要求：请调整拍摄距离和角度。",
            FaceWidth => "人脸大小不合要求：请调整与镜头的距离。",
            FaceOffCentre => "人脸没有居中：请正对镜头，站在画面中央。",
            FileSize => "文件大小不在 20–40 KB：请重新拍摄一张细节清楚的照片。",
        }
    }

    /// A failed blocking check prevents submission. Mouth and resolution only warn: a smile that
    /// shows teeth is often accepted, and a soft print is the student's choice.
    pub fn blocking(self) -> bool {
        !matches!(self, CheckCode::MouthOpen | CheckCode::LowResolution)
    }
}

/// One check's outcome, as recorded in the ledger, with the advice shown to the student.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Check {
    #[serde(flatten)]
    pub result: CheckResult,
    pub message: &'static str,
}

impl Check {
    fn new(code: CheckCode, value: f32, limit: f32, passed: bool) -> Self {
        let round = |v: f32| (f64::from(v) * 1000.0).round() / 1000.0;
        Self {
            result: CheckResult {
                code: code.code().to_string(),
                value: round(value),
                limit: round(limit),
                passed,
                blocking: code.blocking(),
            },
            message: code.message(),
        }
    }

    pub fn at_most(code: CheckCode, value: f32, limit: f32) -> Self {
        Self::new(code, value, limit, value <= limit)
    }

    pub fn at_least(code: CheckCode, value: f32, limit: f32) -> Self {
        Self::new(code, value, limit, value >= limit)
    }

    /// Above `warn` a warning the reviewer sees; above `block`, a failure that blocks
    /// submission. The limit reported is the one the value broke (`warn` while it passes).
    pub fn graded_at_most(code: CheckCode, value: f32, warn: f32, block: f32) -> Self {
        let blocks = value > block;
        let mut check = Self::at_most(code, value, if blocks { block } else { warn });
        check.result.blocking = blocks;
        check
    }

    /// Compared with the window's nearer bound.
    pub fn within(code: CheckCode, value: f32, window: Window) -> Self {
        Self::new(
            code,
            value,
            window.nearest_bound(value),
            window.contains(value),
        )
    }

    /// A refusal: the measured value and the limit it broke.
    pub fn failed(code: CheckCode, value: f32, limit: f32) -> Self {
        Self::new(code, value, limit, false)
    }

    pub fn code(&self) -> &str {
        &self.result.code
    }

    pub fn blocks(&self) -> bool {
        self.result.blocks_submission()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_is_found_again_by_its_recorded_code() {
        for check in CheckCode::iter() {
            assert_eq!(CheckCode::parse(check.code()), Some(check));
        }
        assert_eq!(CheckCode::parse("photo.unknown"), None);
    }

    #[test]
    fn every_check_has_a_label_of_its_own() {
        let labels: std::collections::HashSet<&str> = CheckCode::iter()
            .map(|check| {
                assert!(!check.label().is_empty(), "{check:?}");
                check.label()
            })
            .collect();
        assert_eq!(labels.len(), CheckCode::iter().count());
    }
}
