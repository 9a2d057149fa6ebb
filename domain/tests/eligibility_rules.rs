//! The pure rules behind eligibility: ID numbers, the last four, feature codes, document types.

use chrono::NaiveDate;
use photo_ledger_domain::feature_code::{FeatureCode, FeatureCodeError, ALPHABET};
use photo_ledger_domain::id_number::{resident_check_digit, IdNumber, IdNumberError};
use photo_ledger_domain::identity::IdType;
use photo_ledger_domain::last_four::{LastFour, LastFourError};

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 6, 1).unwrap()
}

/// A resident ID number with a correct check digit.
fn resident(first17: &str) -> String {
    format!("{first17}{}", resident_check_digit(first17).unwrap())
}

#[test]
fn the_check_digit_follows_gb_11643() {
    // The standard's own worked example (X), a published example, and a check character of 0.
    assert_eq!(resident_check_digit("11010519491231002"), Some('X'));
    assert_eq!(resident_check_digit("44052418800101001"), Some('4'));
    assert_eq!(resident_check_digit("32020320040815122"), Some('6'));
    assert_eq!(resident_check_digit("11010520040815124"), Some('0'));
    assert_eq!(resident_check_digit("1101051949123100"), None, "16 digits");
    assert_eq!(resident_check_digit("1101051949123100A"), None, "a letter");
}

#[test]
fn resident_id_numbers_are_checked_completely() {
    let valid = resident("32020320040815122");
    let cases: Vec<(String, Result<&str, IdNumberError>)> = vec![
        (valid, Ok("320203200408151226")),
        ("11010519491231002x".into(), Ok("11010519491231002X")),
        (" 110105 19491231002X ".into(), Ok("11010519491231002X")),
        (
            "１１０１０５１９４９１２３１００２Ｘ".into(),
            Ok("11010519491231002X"),
        ),
        (
            "110105194912310021".into(),
            Err(IdNumberError::CheckDigit {
                expected: 'X',
                found: '1',
            }),
        ),
        (
            "11010519491231002".into(),
            Err(IdNumberError::ResidentLength(17)),
        ),
        (
            "1101051949123100XX".into(),
            Err(IdNumberError::ResidentCharacters),
        ),
        (
            "11010519491231002中".into(),
            Err(IdNumberError::ResidentCharacters),
        ),
        (
            resident("11010519490231002"),
            Err(IdNumberError::BirthDate("19490231".into())),
        ),
        (
            resident("11010519491331002"),
            Err(IdNumberError::BirthDate("19491331".into())),
        ),
        (
            resident("11010518991231002"),
            Err(IdNumberError::BirthDateOutOfRange(
                NaiveDate::from_ymd_opt(1899, 12, 31).unwrap(),
            )),
        ),
        (
            resident("11010520260602002"),
            Err(IdNumberError::BirthDateOutOfRange(
                NaiveDate::from_ymd_opt(2026, 6, 2).unwrap(),
            )),
        ),
        ("".into(), Err(IdNumberError::Empty)),
    ];
    for (input, expected) in cases {
        let parsed = IdNumber::parse(IdType::ResidentId, &input, today());
        assert_eq!(
            parsed.as_ref().map(IdNumber::as_str).map_err(Clone::clone),
            expected,
            "input {input:?}"
        );
    }
    // 29 February exists only in leap years.
    assert!(IdNumber::parse(IdType::ResidentId, &resident("11010520000229002"), today()).is_ok());
    assert!(IdNumber::parse(IdType::ResidentId, &resident("11010520010229002"), today()).is_err());
}

#[test]
fn other_documents_are_normalised_and_shaped() {
    let cases = [
        (IdType::HkMacaoTaiwan, "A123456(7)", Ok("A123456(7)")),
        (IdType::HkMacaoTaiwan, "a123456（7）", Ok("A123456(7)")),
        (IdType::HkMacaoTaiwan, "H12345678", Ok("H12345678")),
        (IdType::Passport, "e12345678", Ok("E12345678")),
        (IdType::Passport, "E1234", Ok("E1234")),
        (
            IdType::Passport,
            "E123",
            Err(IdNumberError::DocumentLength(4)),
        ),
        (
            IdType::Passport,
            "E12345678901234567890",
            Err(IdNumberError::DocumentLength(21)),
        ),
        (
            IdType::HkMacaoTaiwan,
            "A123456(78)",
            Err(IdNumberError::DocumentCharacters),
        ),
        (
            IdType::HkMacaoTaiwan,
            "A12(3)456",
            Err(IdNumberError::DocumentCharacters),
        ),
        (
            IdType::Passport,
            "E-12345678",
            Err(IdNumberError::DocumentCharacters),
        ),
    ];
    for (id_type, input, expected) in cases {
        let parsed = IdNumber::parse(id_type, input, today());
        assert_eq!(
            parsed.as_ref().map(IdNumber::as_str).map_err(Clone::clone),
            expected,
            "{id_type:?} {input:?}"
        );
    }
}

#[test]
fn the_last_four_count_a_bracket_pair_as_two_characters() {
    // (document number on the roster, what the student types, matches)
    let cases = [
        ("A123456(7)", "6(7)", true),
        ("A123456(7)", "6（7）", true),
        ("A123456(7)", "６（７）", true),
        ("A123456(7)", "3456", false),
        ("11010519491231002X", "002X", true),
        ("11010519491231002X", "002x", true),
        ("11010519491231002x", "002X", true),
        ("11010519491231002X", "0020", false),
        ("320203200408151226", "1226", true),
        ("320203200408151226", " 12 26 ", true),
        ("E12345678", "5678", true),
        ("e12345678", "5678", true),
        ("G1234567A", "567a", true),
        ("H1234567(A)", "7(a)", true),
    ];
    for (id_number, typed, matches) in cases {
        let typed = LastFour::parse(typed).unwrap_or_else(|e| panic!("{typed:?}: {e}"));
        assert_eq!(
            LastFour::of(id_number) == typed,
            matches,
            "{id_number:?} typed {typed}"
        );
    }
}

#[test]
fn typed_last_fours_that_cannot_match_anything_are_refused() {
    assert_eq!(LastFour::parse("123"), Err(LastFourError::Length(3)));
    assert_eq!(LastFour::parse("12345"), Err(LastFourError::Length(5)));
    assert_eq!(LastFour::parse(""), Err(LastFourError::Length(0)));
    assert_eq!(LastFour::parse("(7)6"), Err(LastFourError::Characters));
    assert_eq!(LastFour::parse("12-4"), Err(LastFourError::Characters));
    assert_eq!(LastFour::parse("12三4"), Err(LastFourError::Characters));
    assert_eq!(LastFour::parse("6(7("), Err(LastFourError::Characters));
}

#[test]
fn the_last_four_of_a_short_number_is_the_whole_number() {
    assert_eq!(LastFour::of("E12").as_str(), "E12");
    assert_eq!(LastFour::of("a123456（7）").as_str(), "6(7)");
}

#[test]
fn feature_codes_use_an_alphabet_without_look_alikes() {
    for c in ['0', 'O', '1', 'I', 'L'] {
        assert!(!ALPHABET.contains(&(c as u8)), "{c} must not be used");
    }
    assert_eq!(FeatureCode::parse("z3k8f7").unwrap().as_str(), "Z3K8F7");
    assert_eq!(FeatureCode::parse(" Z3K8F7 ").unwrap().as_str(), "Z3K8F7");
    assert_eq!(
        FeatureCode::parse("Z3K8F"),
        Err(FeatureCodeError::Length(5))
    );
    assert_eq!(
        FeatureCode::parse("Z3K8F0"),
        Err(FeatureCodeError::Character('0'))
    );
    assert_eq!(
        FeatureCode::parse("Z3K8FO"),
        Err(FeatureCodeError::Character('O'))
    );
    assert_eq!(
        FeatureCode::parse("Z3K8F码"),
        Err(FeatureCodeError::Character('码'))
    );
}

#[test]
fn generated_feature_codes_parse_back_and_cover_the_alphabet() {
    let mut next = 0;
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..ALPHABET.len() {
        let code = FeatureCode::generate(|n| {
            next = (next + 1) % n;
            next
        });
        assert_eq!(FeatureCode::parse(code.as_str()), Ok(code.clone()));
        seen.extend(code.as_str().chars());
    }
    assert_eq!(seen.len(), ALPHABET.len());
}

#[test]
fn document_types_read_roster_labels_in_either_language() {
    assert_eq!(IdType::parse("居民身份证"), Some(IdType::ResidentId));
    assert_eq!(IdType::parse("身份证"), Some(IdType::ResidentId));
    assert_eq!(IdType::parse("Resident_ID"), Some(IdType::ResidentId));
    assert_eq!(IdType::parse("港澳台居民证件"), Some(IdType::HkMacaoTaiwan));
    assert_eq!(IdType::parse(" 护照 "), Some(IdType::Passport));
    assert_eq!(IdType::parse("passport"), Some(IdType::Passport));
    assert_eq!(IdType::parse("驾驶证"), None);
}
