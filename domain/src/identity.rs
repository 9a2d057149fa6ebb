//! Who is being photographed. The identity travels as one nested group so it can later be
//! encrypted per student without touching the rest of the event.

use serde::{Deserialize, Serialize};

use crate::id_number::IdNumber;

/// The kind of identity document (证件类型).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdType {
    /// 居民身份证
    ResidentId,
    /// 港澳台居民证件
    HkMacaoTaiwan,
    /// 护照
    Passport,
}

impl IdType {
    pub fn label(self) -> &'static str {
        match self {
            IdType::ResidentId => "居民身份证",
            IdType::HkMacaoTaiwan => "港澳台居民证件",
            IdType::Passport => "护照",
        }
    }

    /// Reads a roster's 证件类型 cell: the Chinese label (身份证 for short) or the English name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "居民身份证" | "身份证" | "resident_id" => IdType::ResidentId,
            "港澳台居民证件" | "hk_macao_taiwan" => IdType::HkMacaoTaiwan,
            "护照" | "passport" => IdType::Passport,
            _ => return None,
        })
    }
}

/// The student as the school's roster or the collection code describes them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StudentIdentity {
    pub name: String,
    pub id_type: IdType,
    pub id_number: IdNumber,
    pub student_number: Option<String>,
    pub collection_code: Option<String>,
    pub major: Option<String>,
    pub level: Option<String>,
    pub graduation_year: Option<u16>,
}

impl StudentIdentity {
    /// 吴*兰 style: keep the first and last character, hide the middle.
    /// An erased identity reads as 已删除.
    pub fn masked_name(&self) -> String {
        if self.is_erased() {
            return crate::erasure::ERASED.to_string();
        }
        mask_name(&self.name)
    }

    /// ****6629 style: only the last four characters stay visible.
    pub fn masked_id(&self) -> String {
        mask_id(self.id_number.as_str())
    }

    /// The identity was erased ([`StudentIdentity::erased`]).
    pub fn is_erased(&self) -> bool {
        self.id_number.is_erased()
    }
}

pub fn mask_name(name: &str) -> String {
    let chars: Vec<char> = name.trim().chars().collect();
    match chars.len() {
        0 => String::new(),
        1 => "*".to_string(),
        2 => format!("{}*", chars[0]),
        n => format!("{}{}{}", chars[0], "*".repeat(n - 2), chars[n - 1]),
    }
}

pub fn mask_id(id_number: &str) -> String {
    let chars: Vec<char> = id_number.trim().chars().collect();
    let visible = chars.len().min(4);
    let tail: String = chars[chars.len() - visible..].iter().collect();
    format!("****{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_masked_in_the_middle() {
        assert_eq!(mask_name("吴晓兰"), "吴*兰");
        assert_eq!(mask_name("欧阳娜娜"), "欧**娜");
        assert_eq!(mask_name("吴兰"), "吴*");
        assert_eq!(mask_name("吴"), "*");
        assert_eq!(mask_name(""), "");
    }

    #[test]
    fn ids_show_only_the_last_four() {
        assert_eq!(mask_id("110101199003076629"), "****6629");
        assert_eq!(mask_id("E123"), "****E123");
        assert_eq!(mask_id("12"), "****12");
    }
}
