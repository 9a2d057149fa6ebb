//! What a collection batch allows, copied into the capture when eligibility is proven so later
//! changes to the batch never rewrite an existing capture's rules.

use serde::{Deserialize, Serialize};

use crate::values::{Background, Fen};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchPolicy {
    /// The collection fee; zero for free collections such as exam photos.
    pub price_fen: Fen,
    /// The student must pay before uploading any photo.
    pub pay_before_upload: bool,
    /// Photos picked from the album are accepted; otherwise live camera only.
    pub album_allowed: bool,
    /// The backgrounds students may choose.
    pub backgrounds: Vec<Background>,
    /// Paper prints, when offered: price per 6寸 sheet.
    pub paper_prints: Option<PaperPrintsOffer>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaperPrintsOffer {
    pub price_per_sheet_fen: Fen,
}

impl BatchPolicy {
    pub fn requires_fee(&self) -> bool {
        !self.price_fen.is_zero()
    }

    pub fn offers_background(&self, background: Background) -> bool {
        self.backgrounds.is_empty() || self.backgrounds.contains(&background)
    }
}

impl Default for BatchPolicy {
    fn default() -> Self {
        Self {
            price_fen: Fen::ZERO,
            pay_before_upload: false,
            album_allowed: true,
            backgrounds: vec![Background::Blue, Background::White, Background::Grey],
            paper_prints: None,
        }
    }
}
