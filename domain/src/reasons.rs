//! The catalogue of reasons a reviewer may give for rejecting a photo. Codes are stable; the
//! Chinese labels are what the student reads.

/// `(code, label)` pairs, in the order reviewers see them.
pub const REJECT_REASONS: &[(&str, &str)] = &[
    ("eyes_closed", "眼睛未睁开或未直视镜头"),
    ("mouth_open", "嘴巴未闭合"),
    ("head_position", "头部位置或大小不符合要求"),
    ("head_tilted", "头部歪斜或转向一侧"),
    ("face_shadow", "面部有阴影或光线不均（阴阳脸）"),
    ("too_dark", "照片过暗"),
    ("overexposed", "照片过亮或曝光过度"),
    ("blurred", "照片模糊"),
    ("background", "背景不是纯色或有杂物"),
    ("clothing_colour", "服装颜色与背景过于接近"),
    ("hair_covers_face", "头发遮挡眉毛、眼睛或耳朵"),
    ("ears_hidden", "耳朵未露出"),
    ("accessories", "佩戴帽子、耳饰、项链或有色眼镜"),
    ("makeup_or_filter", "浓妆或使用美颜滤镜"),
    ("photo_of_photo", "翻拍照片"),
    ("not_same_person", "与学籍照片不是同一人"),
    ("other", "其他原因，请查看审核备注"),
];

pub fn reject_reason_label(code: &str) -> Option<&'static str> {
    REJECT_REASONS
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, label)| *label)
}
