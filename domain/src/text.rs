//! Names and addresses as people read them. Two strings that look the same must be the same
//! string: school names that differ only by a zero-width space, a byte-order mark or a
//! right-to-left override would otherwise be two schools, and a name or address could be shown
//! reordered or with hidden text. So text from people is put in Unicode's composed form (NFC)
//! and refused when it holds a character nobody sees: a control character, a format character
//! (zero-width, joiners, bidirectional controls, invisible operators, tags), or one no font
//! draws the same for everyone: a private-use character or a noncharacter.

use unicode_normalization::UnicodeNormalization;

/// A character that cannot be seen, at a (0-based, in characters) position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invisible character U+{:04X} at position {position}", u32::from(*character))]
pub struct HiddenCharacter {
    pub character: char,
    pub position: usize,
}

/// Unicode's format characters (general category Cf), which are not drawn: zero-width spaces
/// and joiners, bidirectional marks, embeddings, overrides and isolates, invisible operators,
/// the byte-order mark, interlinear annotation marks and tags.
fn is_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{08E2}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
    )
}

/// Private-use characters (what they look like is up to whoever made the font) and
/// noncharacters (never meant to be shown at all).
fn is_private_or_noncharacter(c: char) -> bool {
    matches!(
        c,
        '\u{E000}'..='\u{F8FF}' | '\u{F0000}'..='\u{10FFFF}' | '\u{FDD0}'..='\u{FDEF}'
    ) || (u32::from(c) & 0xFFFE) == 0xFFFE
}

/// A character nobody can see, or not the same for everyone: a control, format, private-use
/// or noncharacter.
pub fn is_hidden(c: char) -> bool {
    c.is_control() || is_format(c) || is_private_or_noncharacter(c)
}

/// `raw` trimmed and in NFC, or the first character in it nobody can see.
pub fn visible(raw: &str) -> Result<String, HiddenCharacter> {
    let text: String = raw.trim().nfc().collect();
    match text.chars().enumerate().find(|(_, c)| is_hidden(*c)) {
        Some((position, character)) => Err(HiddenCharacter {
            character,
            position,
        }),
        None => Ok(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_that_looks_the_same_is_the_same() {
        assert_eq!(visible("  江南大学 ").unwrap(), "江南大学");
        // "é" typed as e + combining acute is the same name as the precomposed "é".
        assert_eq!(visible("Ren\u{0065}\u{0301}e").unwrap(), "Ren\u{00E9}e");
        assert_eq!(visible("吴晓兰").unwrap(), "吴晓兰");
    }

    #[test]
    fn what_nobody_can_see_is_refused() {
        for (text, character, position) in [
            ("江南\u{200B}大学", '\u{200B}', 2),
            ("\u{FEFF}江南大学", '\u{FEFF}', 0),
            ("江南大学\u{202E}", '\u{202E}', 4),
            ("江南\u{2066}大学", '\u{2066}', 2),
            ("江南\u{00AD}大学", '\u{00AD}', 2),
            ("吴\u{0000}兰", '\0', 1),
            ("吴\u{001B}兰", '\u{1B}', 1),
            ("吴兰\u{E0041}", '\u{E0041}', 2),
            ("吴\u{E000}兰", '\u{E000}', 1),
            ("吴兰\u{10FFFF}", '\u{10FFFF}', 2),
            ("吴\u{FFFF}兰", '\u{FFFF}', 1),
            ("吴\u{FDD0}兰", '\u{FDD0}', 1),
            ("吴\u{1FFFE}兰", '\u{1FFFE}', 1),
        ] {
            assert_eq!(
                visible(text),
                Err(HiddenCharacter {
                    character,
                    position
                }),
                "{text:?}"
            );
        }
    }
}
