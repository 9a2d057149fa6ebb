//! Who may be photographed, against both stores: schools, batches, roster imports, collection
//! codes (typed, forged, tampered, photographed), the three ways to verify, and the guessing
//! locks.

#[macro_use]
mod support;

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use clap::Parser;
use ed25519_dalek::SigningKey;
use image::{GrayImage, ImageFormat, Luma};
use photo_ledger::cli::Cli;
use photo_ledger::eligibility::attempts::{self, AttemptLimits};
use photo_ledger::eligibility::batches::{self, Batch, NewBatch};
use photo_ledger::eligibility::codes::{CodeError, CodePayload, CodeSigner};
use photo_ledger::eligibility::roster::{self, ImportReport};
use photo_ledger::eligibility::{
    qr, schools, CodeInput, EligibilityError, Proof, Verified, Verifier, VerifyRequest,
};
use photo_ledger::ledger::Ledger;
use photo_ledger_domain::events::VerificationMethod;
use photo_ledger_domain::feature_code::FeatureCode;
use photo_ledger_domain::identity::IdType;
use photo_ledger_domain::policy::BatchPolicy;
use photo_ledger_domain::values::Fen;
use photo_ledger_projections::capture_status;
use photo_ledger_store::{on_db, Db};
use support::school::*;
use support::*;

on_both_stores!(
    a_collection_code_and_the_last_four_verify,
    the_collection_code_path_refuses_with_stable_codes,
    a_feature_code_collection_code_and_last_four_verify,
    the_feature_code_path_refuses_with_stable_codes,
    a_student_number_verifies_against_the_roster,
    the_student_number_path_refuses_with_stable_codes,
    verifying_again_returns_the_same_capture,
    concurrent_verifications_of_one_record_make_one_capture,
    five_wrong_guesses_lock_the_record_for_an_hour_whoever_asks,
    one_caller_guessing_at_many_students_is_locked,
    a_burst_of_wrong_guesses_at_one_record_has_exactly_five_evaluated,
    a_burst_of_wrong_guesses_by_one_caller_has_exactly_twenty_evaluated,
    forged_and_tampered_codes_are_refused,
    a_code_shows_nothing_of_its_student_and_old_codes_are_refused_as_outdated,
    a_screenshot_of_the_code_among_text_scaled_and_rotated_verifies,
    a_csv_roster_imports_good_rows_and_reports_bad_ones,
    an_xlsx_roster_imports_good_rows_and_reports_bad_ones,
    reimporting_updates_students_instead_of_duplicating_them,
    roster_files_that_cannot_be_read_are_refused_whole,
    batches_get_unique_feature_codes_and_keep_their_policy,
    the_cli_manages_schools_batches_rosters_and_codes,
);

/// A school with a paid batch for its full-time graduates and the CSV roster imported.
struct World {
    _store: TestStore,
    ledger: Arc<Ledger>,
    db: Db,
    signer: CodeSigner,
    school_id: String,
    batch: Batch,
}

impl World {
    async fn new(backend: Backend) -> World {
        Self::with_limits(backend, AttemptLimits::default()).await.0
    }

    async fn with_limits(backend: Backend, limits: AttemptLimits) -> (World, Verifier) {
        let store = TestStore::new(backend).await;
        let ledger = store.ledger().await;
        let db = ledger.db().clone();
        let (school, batch) =
            seed_school(&db, NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(), t0()).await;
        let signer = CodeSigner::new(SigningKey::from_bytes(&[7; 32]));
        let verifier = Verifier::new(ledger.clone(), signer.verifier(), limits);
        let world = World {
            _store: store,
            ledger,
            db,
            signer,
            school_id: school.school_id,
            batch,
        };
        (world, verifier)
    }

    fn verifier(&self) -> Verifier {
        Verifier::new(
            self.ledger.clone(),
            self.signer.verifier(),
            AttemptLimits::default(),
        )
    }

    /// The collection code `codes issue` would print for this roster student.
    async fn code(&self, education_type: &str, student_number: &str) -> String {
        let student = roster::find(
            &self.db,
            &self.school_id,
            student_number,
            Some(education_type),
        )
        .await
        .unwrap()
        .pop()
        .expect("on the roster");
        self.signer
            .issue(&CodePayload {
                school_id: self.school_id.parse().unwrap(),
                education_type: student.education_type.clone(),
                student_number: student.student_number.clone(),
            })
            .unwrap()
    }
}

async fn import(db: &Db, file: &str, batch: Option<&FeatureCode>) -> ImportReport {
    import_into(db, SCHOOL, file, &roster_fixture(file), batch)
        .await
        .unwrap()
}

async fn import_into(
    db: &Db,
    school: &str,
    file_name: &str,
    bytes: &[u8],
    batch: Option<&FeatureCode>,
) -> Result<ImportReport, EligibilityError> {
    import_roster(db, school, file_name, bytes, batch, t0()).await
}

fn by_code(code: &str, last4: &str) -> Proof {
    Proof::CollectionCode {
        school: SCHOOL.into(),
        education_type: FULL_TIME.into(),
        code: CodeInput::Text(code.into()),
        last4: last4.into(),
    }
}

fn by_number(student_number: &str) -> Proof {
    Proof::StudentNumber {
        school: SCHOOL.into(),
        education_type: None,
        student_number: student_number.into(),
    }
}

async fn attempt(
    verifier: &Verifier,
    owner: &str,
    proof: Proof,
    at: DateTime<Utc>,
) -> Result<Verified, EligibilityError> {
    verifier
        .verify(VerifyRequest {
            owner: owner.into(),
            request_id: uuid::Uuid::new_v4().to_string(),
            proof,
            consent: photo_ledger::consent::recorded_by_staff(at),
            at,
        })
        .await
}

fn refused_with(result: Result<Verified, EligibilityError>, code: &str) -> EligibilityError {
    match result {
        Ok(verified) => panic!("expected {code}, verified {verified:?}"),
        Err(e) => {
            assert_eq!(e.code(), code, "{e}");
            assert!(!e.message().is_empty());
            e
        }
    }
}

async fn a_collection_code_and_the_last_four_verify(backend: Backend) {
    let world = World::new(backend).await;
    let _projecting = world.ledger.projector().spawn();
    let verifier = world.verifier();
    let code = world.code(FULL_TIME, "2022010001").await;
    let verified = attempt(&verifier, "openid-wu", by_code(&code, "1226"), t0())
        .await
        .expect("accepted");
    assert!(verified.created);
    assert_eq!(verified.feature_code, world.batch.feature_code.as_str());
    assert_eq!(verified.student.name_masked, "吴*兰");
    assert_eq!(verified.student.id_masked, "****1226");

    let (capture, sequence) = world
        .ledger
        .load(&verified.capture_id.to_string())
        .await
        .unwrap();
    assert_eq!(sequence, 1);
    let q = capture
        .qualification
        .expect("QualificationVerified recorded");
    assert_eq!(q.owner, "openid-wu");
    assert_eq!(q.school.name, SCHOOL);
    assert_eq!(q.education_type, FULL_TIME);
    assert_eq!(q.verified_by, VerificationMethod::CollectionCode);
    assert_eq!(q.verified_at, t0());
    assert_eq!(q.policy, paid_policy());
    assert_eq!(q.student.name, "吴晓兰");
    assert_eq!(q.student.id_number.as_str(), "320203200408151226");
    assert_eq!(q.student.student_number.as_deref(), Some("2022010001"));
    assert!(q
        .student
        .collection_code
        .as_deref()
        .is_some_and(|c| c.starts_with("sha256:") && !c.contains(&code)));
    // The outcome lets a caller answer once the student's status page shows the capture.
    world
        .ledger
        .wait_for_projections(verified.outcome.as_ref().unwrap(), &["capture_status"])
        .await
        .unwrap();
    let (owner, view) = capture_status::by_capture(&world.db, &verified.capture_id.to_string())
        .await
        .unwrap()
        .expect("status row");
    assert_eq!(owner, "openid-wu");
    assert_eq!(view.student.id_masked, "****1226");

    // A Hong Kong identity card: the bracket pair counts, full-width or not.
    let code = world.code(FULL_TIME, "2022010003").await;
    let verified = attempt(&verifier, "openid-chan", by_code(&code, "6（7）"), t0())
        .await
        .expect("accepted");
    assert_eq!(verified.student.id_masked, "****6(7)");
    // A resident ID ending in x, typed in lower case; and a passport.
    let code = world.code(FULL_TIME, "2022010005").await;
    attempt(&verifier, "openid-wang", by_code(&code, "003x"), t0())
        .await
        .expect("lower-case x accepted");
    let code = world.code(FULL_TIME, "2022010004").await;
    let verified = attempt(&verifier, "openid-li", by_code(&code, "5678"), t0())
        .await
        .expect("passport accepted");
    let (capture, _) = world
        .ledger
        .load(&verified.capture_id.to_string())
        .await
        .unwrap();
    assert_eq!(
        capture.qualification.unwrap().student.id_type,
        IdType::Passport
    );
}

async fn the_collection_code_path_refuses_with_stable_codes(backend: Backend) {
    let world = World::new(backend).await;
    let verifier = world.verifier();
    let code = world.code(FULL_TIME, "2022010001").await;
    let online_code = world.code(ONLINE, "2022010010").await;
    let cases = [
        (
            Proof::CollectionCode {
                school: "江南大学附属中学".into(),
                education_type: FULL_TIME.into(),
                code: CodeInput::Text(code.clone()),
                last4: "1226".into(),
            },
            "eligibility.unknown_school",
        ),
        (
            Proof::CollectionCode {
                school: SCHOOL.into(),
                education_type: "自学考试".into(),
                code: CodeInput::Text(code.clone()),
                last4: "1226".into(),
            },
            "eligibility.unknown_education_type",
        ),
        (by_code(&code, "1227"), "eligibility.last4_mismatch"),
        (by_code(&code, "12"), "eligibility.invalid_last4"),
        (by_code("PL2-AAAA", "1226"), "eligibility.code_invalid"),
        (
            by_code("学信网图像采集码 0x3f9a", "1226"),
            "eligibility.code_invalid",
        ),
        // A valid code, but for the school's online students.
        (by_code(&online_code, "0036"), "eligibility.code_mismatch"),
    ];
    for (proof, expected) in cases {
        refused_with(attempt(&verifier, "openid-x", proof, t0()).await, expected);
    }
    // Refusals are in the failed-verification log; wrong guesses are marked as counted.
    let log = attempts::list(&world.db, t0() - Duration::hours(1), 100)
        .await
        .unwrap();
    assert_eq!(log.len(), 7);
    let counted: Vec<&str> = log
        .iter()
        .filter(|a| a.counted)
        .map(|a| a.code.as_str())
        .collect();
    assert_eq!(counted.len(), 4, "{counted:?}");
    assert!(counted.contains(&"eligibility.last4_mismatch"));
    let mismatch = log
        .iter()
        .find(|a| a.code == "eligibility.last4_mismatch")
        .unwrap();
    assert_eq!(
        mismatch.subject.as_deref(),
        Some(format!("{}/2022010001", world.school_id).as_str())
    );
    assert_eq!(mismatch.method, VerificationMethod::CollectionCode);
    assert_eq!(mismatch.caller, "openid-x");
}

async fn a_feature_code_collection_code_and_last_four_verify(backend: Backend) {
    let world = World::new(backend).await;
    let verifier = world.verifier();
    let code = world.code(FULL_TIME, "2022010002").await;
    let verified = attempt(
        &verifier,
        "openid-ouyang",
        Proof::FeatureCode {
            feature_code: world.batch.feature_code.as_str().to_lowercase(),
            code: CodeInput::Text(code),
            last4: "0020".into(),
        },
        t0(),
    )
    .await
    .expect("accepted");
    assert!(verified.created);
    let (capture, _) = world
        .ledger
        .load(&verified.capture_id.to_string())
        .await
        .unwrap();
    let q = capture.qualification.unwrap();
    assert_eq!(q.verified_by, VerificationMethod::FeatureCode);
    assert_eq!(
        q.batch.map(|b| b.feature_code),
        Some(world.batch.feature_code.clone())
    );
}

async fn the_feature_code_path_refuses_with_stable_codes(backend: Backend) {
    let world = World::new(backend).await;
    let verifier = world.verifier();
    let code = world.code(FULL_TIME, "2022010002").await;
    let online_code = world.code(ONLINE, "2022010010").await;
    let feature = |feature_code: &str, code: &str, last4: &str| Proof::FeatureCode {
        feature_code: feature_code.into(),
        code: CodeInput::Text(code.into()),
        last4: last4.into(),
    };
    let own = world.batch.feature_code.as_str();
    // A code no batch has: take the batch's own and change one character.
    let first = if own.starts_with('Z') { "Y" } else { "Z" };
    let other = format!("{first}{}", &own[1..]);
    let cases = [
        (feature(&other, &code, "0020"), "eligibility.unknown_batch"),
        (
            feature("Z3K8F0", &code, "0020"),
            "eligibility.invalid_feature_code",
        ),
        (feature(own, &code, "0021"), "eligibility.last4_mismatch"),
        (
            feature(own, &online_code, "0036"),
            "eligibility.code_mismatch",
        ),
    ];
    for (proof, expected) in cases {
        refused_with(attempt(&verifier, "openid-y", proof, t0()).await, expected);
    }
    // After the deadline day (31 December, China time) the batch is closed.
    let after_deadline: DateTime<Utc> = "2026-12-31T16:00:00Z".parse().unwrap();
    refused_with(
        attempt(
            &verifier,
            "openid-y",
            feature(own, &code, "0020"),
            after_deadline,
        )
        .await,
        "eligibility.batch_closed",
    );
    let just_before = after_deadline - Duration::seconds(1);
    attempt(
        &verifier,
        "openid-y",
        feature(own, &code, "0020"),
        just_before,
    )
    .await
    .expect("open until the deadline day ends");
}

async fn a_student_number_verifies_against_the_roster(backend: Backend) {
    let world = World::new(backend).await;
    let verifier = world.verifier();
    let verified = attempt(&verifier, "openid-li", by_number(" 2022010004 "), t0())
        .await
        .expect("accepted");
    // Filled in from the roster, shown masked for the student to confirm.
    assert_eq!(verified.student.name_masked, "L****i");
    assert_eq!(verified.student.id_masked, "****5678");
    assert_eq!(verified.student.education_type, FULL_TIME);
    let (capture, _) = world
        .ledger
        .load(&verified.capture_id.to_string())
        .await
        .unwrap();
    let q = capture.qualification.unwrap();
    assert_eq!(q.verified_by, VerificationMethod::StudentNumber);
    assert_eq!(q.student.id_number.as_str(), "E12345678");
    assert_eq!(q.student.collection_code, None);
}

async fn the_student_number_path_refuses_with_stable_codes(backend: Backend) {
    let world = World::new(backend).await;
    let verifier = world.verifier();
    refused_with(
        attempt(&verifier, "openid-z", by_number("2022099999"), t0()).await,
        "eligibility.not_on_roster",
    );
    refused_with(
        attempt(&verifier, "openid-z", by_number("  "), t0()).await,
        "eligibility.invalid_input",
    );
    // 网络教育 has a roster row but no batch.
    refused_with(
        attempt(&verifier, "openid-z", by_number("2022010010"), t0()).await,
        "eligibility.no_open_batch",
    );
    // The same number on the school's two rosters: the student must say which.
    let both = "学号,姓名,证件类型,证件号码,学历类别\n2022010001,吴晓兰,居民身份证,320203200408151226,网络教育\n";
    import_into(&world.db, SCHOOL, "extra.csv", both.as_bytes(), None)
        .await
        .unwrap();
    let refusal = refused_with(
        attempt(&verifier, "openid-wu", by_number("2022010001"), t0()).await,
        "eligibility.education_type_required",
    );
    let EligibilityError::EducationTypeRequired(mut types) = refusal else {
        unreachable!("checked by code")
    };
    types.sort();
    assert_eq!(types, [FULL_TIME, ONLINE]);
    attempt(
        &verifier,
        "openid-wu",
        Proof::StudentNumber {
            school: SCHOOL.into(),
            education_type: Some(FULL_TIME.into()),
            student_number: "2022010001".into(),
        },
        t0(),
    )
    .await
    .expect("accepted once the category is named");
}

async fn verifying_again_returns_the_same_capture(backend: Backend) {
    let world = World::new(backend).await;
    let verifier = world.verifier();
    let code = world.code(FULL_TIME, "2022010001").await;
    let first = attempt(&verifier, "openid-wu", by_code(&code, "1226"), t0())
        .await
        .unwrap();
    let again = attempt(
        &verifier,
        "openid-wu",
        by_code(&code, "1226"),
        t0() + Duration::days(1),
    )
    .await
    .unwrap();
    let by_other_path = attempt(&verifier, "openid-wu", by_number("2022010001"), t0())
        .await
        .unwrap();
    assert!(first.created);
    assert!(!again.created && !by_other_path.created);
    assert_eq!(again.capture_id, first.capture_id);
    assert_eq!(by_other_path.capture_id, first.capture_id);
    // Another account cannot take over the record.
    refused_with(
        attempt(&verifier, "openid-mallory", by_code(&code, "1226"), t0()).await,
        "eligibility.claimed_by_another",
    );
    let history = world
        .ledger
        .history(&first.capture_id.to_string())
        .await
        .unwrap();
    assert_eq!(history.len(), 1, "one QualificationVerified, nothing more");
}

async fn concurrent_verifications_of_one_record_make_one_capture(backend: Backend) {
    let world = World::new(backend).await;
    let verifier = Arc::new(world.verifier());
    let code = world.code(FULL_TIME, "2022010001").await;
    // The same student tapping twice on two phones' worth of retries, and someone else at once.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let verifier = verifier.clone();
        let owner = if i == 7 {
            "openid-mallory"
        } else {
            "openid-wu"
        };
        let proof = if i % 2 == 0 {
            by_code(&code, "1226")
        } else {
            by_number("2022010001")
        };
        tasks.spawn(async move { (owner, attempt(&verifier, owner, proof, t0()).await) });
    }
    let results = tasks.join_all().await;
    let mut created = 0;
    let mut captures = std::collections::BTreeSet::new();
    let owner_won = results
        .iter()
        .any(|(owner, r)| *owner == "openid-wu" && r.as_ref().is_ok_and(|v| v.created));
    for (owner, result) in &results {
        match result {
            Ok(verified) => {
                created += usize::from(verified.created);
                captures.insert(verified.capture_id);
            }
            Err(e) => {
                // Whoever lost the race to the other account is told so, nothing else.
                assert_eq!(e.code(), "eligibility.claimed_by_another", "{owner}: {e}");
                assert_eq!(*owner == "openid-wu", !owner_won);
            }
        }
    }
    assert_eq!(created, 1, "exactly one QualificationVerified");
    assert_eq!(captures.len(), 1);
    let capture = captures.into_iter().next().unwrap();
    let history = world.ledger.history(&capture.to_string()).await.unwrap();
    assert_eq!(history.len(), 1);
}

async fn five_wrong_guesses_lock_the_record_for_an_hour_whoever_asks(backend: Backend) {
    let world = World::new(backend).await;
    let verifier = world.verifier();
    let code = world.code(FULL_TIME, "2022010001").await;
    let minute = |m: i64| t0() + Duration::minutes(m);
    for (i, guess) in ["0000", "1111", "2222", "3333", "4444"]
        .into_iter()
        .enumerate()
    {
        refused_with(
            attempt(
                &verifier,
                &format!("guesser-{i}"),
                by_code(&code, guess),
                minute(i as i64),
            )
            .await,
            "eligibility.last4_mismatch",
        );
    }
    // Locked for everyone, with the right answer too, by code or by student number.
    let locked = refused_with(
        attempt(&verifier, "openid-wu", by_code(&code, "1226"), minute(10)).await,
        "eligibility.locked",
    );
    assert!(matches!(locked, EligibilityError::Locked { until } if until == minute(64)));
    refused_with(
        attempt(&verifier, "openid-wu", by_number("2022010001"), minute(30)).await,
        "eligibility.locked",
    );
    // Other students are not affected.
    let other = world.code(FULL_TIME, "2022010002").await;
    attempt(
        &verifier,
        "openid-ouyang",
        by_code(&other, "0020"),
        minute(11),
    )
    .await
    .expect("another record is not locked");
    // Attempts during the lock are logged but do not extend it.
    refused_with(
        attempt(&verifier, "openid-wu", by_code(&code, "9999"), minute(63)).await,
        "eligibility.locked",
    );
    let verified = attempt(&verifier, "openid-wu", by_code(&code, "1226"), minute(64))
        .await
        .expect("the lock has expired");
    assert!(verified.created);
    let log = attempts::list(&world.db, t0(), 100).await.unwrap();
    assert_eq!(
        log.iter()
            .filter(|a| a.code == "eligibility.locked")
            .count(),
        3
    );
    assert!(log
        .iter()
        .filter(|a| a.code == "eligibility.locked")
        .all(|a| !a.counted));
}

async fn one_caller_guessing_at_many_students_is_locked(backend: Backend) {
    let limits = AttemptLimits {
        per_caller: 3,
        ..AttemptLimits::default()
    };
    let (world, verifier) = World::with_limits(backend, limits).await;
    for number in ["2022010001", "2022010002", "2022010003"] {
        let code = world.code(FULL_TIME, number).await;
        refused_with(
            attempt(&verifier, "openid-bot", by_code(&code, "0000"), t0()).await,
            "eligibility.last4_mismatch",
        );
    }
    let code = world.code(FULL_TIME, "2022010004").await;
    refused_with(
        attempt(&verifier, "openid-bot", by_code(&code, "5678"), t0()).await,
        "eligibility.locked",
    );
    attempt(&verifier, "openid-li", by_code(&code, "5678"), t0())
        .await
        .expect("other callers go on");
}

/// The codes the log holds for the attempts since `t0()`, counted by code.
async fn logged_codes(db: &Db) -> std::collections::BTreeMap<String, usize> {
    let mut codes = std::collections::BTreeMap::new();
    for attempt in attempts::list(db, t0(), 1000).await.unwrap() {
        *codes.entry(attempt.code).or_default() += 1;
    }
    codes
}

/// 64 wrong last fours for one student at once, from 64 callers: five are evaluated, the
/// rest find the record locked, and the real student is locked out with them.
async fn a_burst_of_wrong_guesses_at_one_record_has_exactly_five_evaluated(backend: Backend) {
    let world = World::new(backend).await;
    let verifier = Arc::new(world.verifier());
    let code = world.code(FULL_TIME, "2022010001").await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..64 {
        let (verifier, proof) = (
            verifier.clone(),
            by_code(&code, &format!("{:04}", i + 3000)),
        );
        tasks.spawn(async move { attempt(&verifier, &format!("guesser-{i}"), proof, t0()).await });
    }
    for result in tasks.join_all().await {
        assert!(result.is_err(), "no guess was right");
    }
    let codes = logged_codes(&world.db).await;
    assert_eq!(
        codes.get("eligibility.last4_mismatch"),
        Some(&5),
        "{codes:?}"
    );
    assert_eq!(codes.get("eligibility.locked"), Some(&59), "{codes:?}");
    refused_with(
        attempt(&verifier, "openid-wu", by_code(&code, "1226"), t0()).await,
        "eligibility.locked",
    );
}

/// 64 wrong last fours from one account at once, each at another student: twenty are
/// evaluated, then the account is locked.
async fn a_burst_of_wrong_guesses_by_one_caller_has_exactly_twenty_evaluated(backend: Backend) {
    let world = World::new(backend).await;
    let verifier = Arc::new(world.verifier());
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..64 {
        let verifier = verifier.clone();
        let proof = by_number(&format!("20220{:05}", 90000 + i));
        tasks.spawn(async move { attempt(&verifier, "openid-bot", proof, t0()).await });
    }
    for result in tasks.join_all().await {
        assert!(result.is_err(), "none of them is on the roster");
    }
    let codes = logged_codes(&world.db).await;
    assert_eq!(
        codes.get("eligibility.not_on_roster"),
        Some(&20),
        "{codes:?}"
    );
    assert_eq!(codes.get("eligibility.locked"), Some(&44), "{codes:?}");
}

async fn forged_and_tampered_codes_are_refused(backend: Backend) {
    let world = World::new(backend).await;
    let verifier = world.verifier();
    let code = world.code(FULL_TIME, "2022010001").await;
    let codes = world.signer.verifier();

    // Typed by hand: lower case, spaces, and 0/1/8 for O/I/B are all read.
    let typed: String = code
        .to_lowercase()
        .chars()
        .map(|c| match c {
            'o' => '0',
            'i' => '1',
            'b' => '8',
            other => other,
        })
        .collect::<Vec<_>>()
        .chunks(8)
        .map(|chunk| chunk.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ");
    let as_typed = codes.check(&typed).unwrap();
    assert_eq!(as_typed.payload.student_number, "2022010001");
    assert_eq!(
        as_typed,
        codes.check(&code).unwrap(),
        "same code, same fingerprint"
    );

    // Forged: the same payload signed with another key.
    let forger = CodeSigner::new(SigningKey::from_bytes(&[9; 32]));
    let payload = codes.verify(&code).unwrap();
    let forged = forger.issue(&payload).unwrap();
    assert_eq!(codes.verify(&forged), Err(CodeError::BadSignature));
    refused_with(
        attempt(&verifier, "openid-x", by_code(&forged, "1226"), t0()).await,
        "eligibility.code_invalid",
    );

    // Tampered: any byte changed.
    let tampered = flip_a_byte(&code);
    assert_eq!(codes.verify(&tampered), Err(CodeError::BadSignature));
    refused_with(
        attempt(&verifier, "openid-x", by_code(&tampered, "1226"), t0()).await,
        "eligibility.code_invalid",
    );

    // Truncated or not ours at all.
    assert!(matches!(
        codes.verify(&code[..code.len() - 20]),
        Err(CodeError::BadSignature | CodeError::Garbled)
    ));
    assert_eq!(codes.verify("PL2-"), Err(CodeError::Garbled));
    assert_eq!(
        codes.verify("https://example.org/x"),
        Err(CodeError::NotOurs)
    );
}

/// Whoever holds a picture of someone's code cannot read the last four out of it: the QR text
/// decodes to nothing of the student's identity. Codes of the first format, which showed the
/// masked ID number (that is, the answer), are refused as outdated, unless the deployment still
/// accepts them.
async fn a_code_shows_nothing_of_its_student_and_old_codes_are_refused_as_outdated(
    backend: Backend,
) {
    use data_encoding::BASE32_NOPAD;
    let world = World::new(backend).await;
    let code = world.code(FULL_TIME, "2022010001").await;
    let bytes = BASE32_NOPAD
        .decode(code.strip_prefix("PL2-").unwrap().as_bytes())
        .unwrap();
    let school_uuid: uuid::Uuid = world.school_id.parse().unwrap();
    for (what, needle) in [
        ("the last four", "1226".as_bytes()),
        ("the masked ID", "****".as_bytes()),
        ("the student number", "2022010001".as_bytes()),
        ("the masked name", "吴*兰".as_bytes()),
        ("the category", FULL_TIME.as_bytes()),
        ("the school", school_uuid.as_bytes().as_slice()),
    ] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "{what} can be read from the code"
        );
    }

    let old = first_format_code(&SigningKey::from_bytes(&[7; 32]), school_uuid, "2022010001");
    refused_with(
        attempt(&world.verifier(), "openid-x", by_code(&old, "1226"), t0()).await,
        "eligibility.code_outdated",
    );
    let accepting = Verifier::new(
        world.ledger.clone(),
        world.signer.verifier().accepting_v1(true),
        AttemptLimits::default(),
    );
    attempt(&accepting, "openid-wu", by_code(&old, "1226"), t0())
        .await
        .expect("accepted where the deployment opts in");
}

/// The token with one byte of its ciphertext changed.
fn flip_a_byte(token: &str) -> String {
    use data_encoding::BASE32_NOPAD;
    let mut bytes = BASE32_NOPAD
        .decode(token.strip_prefix("PL2-").unwrap().as_bytes())
        .unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    format!("PL2-{}", BASE32_NOPAD.encode(&bytes))
}

/// A code of the first format, as `codes issue` wrote them before codes were encrypted: the
/// record with the masked name and ID number, signed, readable by anyone.
fn first_format_code(signing: &SigningKey, school_id: uuid::Uuid, number: &str) -> String {
    use data_encoding::BASE32_NOPAD;
    use ed25519_dalek::Signer;
    let mut bytes = school_id.as_bytes().to_vec();
    for field in [FULL_TIME, number, "吴*兰", "****1226"] {
        bytes.push(field.len() as u8);
        bytes.extend_from_slice(field.as_bytes());
    }
    let signature = signing.sign(&[&b"photo-ledger collection code v1"[..], &bytes].concat());
    bytes.extend_from_slice(&signature.to_bytes());
    format!("PL1-{}", BASE32_NOPAD.encode(&bytes))
}

/// A phone screenshot: 1080 × 1920, lines of "text", and the code scaled and turned.
fn screenshot_with(qr_png: &[u8], scale: f64, degrees: f64) -> Vec<u8> {
    let code = image::load_from_memory(qr_png).unwrap().to_luma8();
    let side = (f64::from(code.width()) * scale).round() as u32;
    let code = image::imageops::resize(&code, side, side, image::imageops::FilterType::Triangle);
    screenshot(Some(&rotate(&code, degrees)))
}

fn screenshot(code: Option<&GrayImage>) -> Vec<u8> {
    let mut screen = GrayImage::from_pixel(1080, 1920, Luma([250]));
    // Text: rows of glyph-sized dark blocks of varying width all over the screen; the code is
    // pasted over them, so text runs up to its edges on every side.
    let mut seed = 17u32;
    for row in (0..1920).step_by(64) {
        let mut x = 60;
        while x < 1000 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let w = 18 + (seed >> 16) % 30;
            for dy in 0..36 {
                for dx in 0..w.min(1020 - x) {
                    if !(dx + dy + seed).is_multiple_of(5) {
                        screen.put_pixel(x + dx, row + dy, Luma([40]));
                    }
                }
            }
            x += w + 8;
        }
    }
    if let Some(code) = code {
        image::imageops::overlay(&mut screen, code, 240, 760);
    }
    let mut png = Vec::new();
    screen
        .write_to(&mut std::io::Cursor::new(&mut png), ImageFormat::Png)
        .unwrap();
    png
}

/// Bilinear rotation about the centre on a canvas large enough for the corners; white fill.
fn rotate(image: &GrayImage, degrees: f64) -> GrayImage {
    let (w, h) = (f64::from(image.width()), f64::from(image.height()));
    let (sin, cos) = degrees.to_radians().sin_cos();
    let out_w = (w * cos.abs() + h * sin.abs()).ceil() as u32;
    let out_h = (w * sin.abs() + h * cos.abs()).ceil() as u32;
    let (cx, cy) = (w / 2.0, h / 2.0);
    let (ox, oy) = (f64::from(out_w) / 2.0, f64::from(out_h) / 2.0);
    GrayImage::from_fn(out_w, out_h, |x, y| {
        let (dx, dy) = (f64::from(x) - ox, f64::from(y) - oy);
        let sx = cos * dx + sin * dy + cx;
        let sy = -sin * dx + cos * dy + cy;
        if sx < 0.0 || sy < 0.0 || sx >= w - 1.0 || sy >= h - 1.0 {
            return Luma([255]);
        }
        let (x0, y0) = (sx.floor(), sy.floor());
        let (fx, fy) = (sx - x0, sy - y0);
        let p = |x: f64, y: f64| f64::from(image.get_pixel(x as u32, y as u32).0[0]);
        let top = p(x0, y0) * (1.0 - fx) + p(x0 + 1.0, y0) * fx;
        let bottom = p(x0, y0 + 1.0) * (1.0 - fx) + p(x0 + 1.0, y0 + 1.0) * fx;
        Luma([(top * (1.0 - fy) + bottom * fy).round() as u8])
    })
}

async fn a_screenshot_of_the_code_among_text_scaled_and_rotated_verifies(backend: Backend) {
    let world = World::new(backend).await;
    let verifier = world.verifier();
    let code = world.code(FULL_TIME, "2022010003").await;
    let png = qr::render_png(&code).unwrap();
    assert_eq!(
        qr::read(&png).as_deref(),
        Some(code.as_str()),
        "the printed PNG"
    );
    for (scale, degrees) in [(0.7, 4.0), (1.4, -6.0), (0.9, 2.5)] {
        let screenshot = screenshot_with(&png, scale, degrees);
        assert_eq!(
            qr::read(&screenshot).as_deref(),
            Some(code.as_str()),
            "scaled {scale}, turned {degrees}°"
        );
    }
    let verified = attempt(
        &verifier,
        "openid-chan",
        Proof::CollectionCode {
            school: SCHOOL.into(),
            education_type: FULL_TIME.into(),
            code: CodeInput::Image(screenshot_with(&png, 0.8, 5.0)),
            last4: "6(7)".into(),
        },
        t0(),
    )
    .await
    .expect("verified from the screenshot");
    assert_eq!(verified.student.student_number, "2022010003");

    // A screenshot without a code, and bytes that are no image, are unreadable, not errors.
    assert_eq!(qr::read(&screenshot(None)), None);
    refused_with(
        attempt(
            &verifier,
            "openid-chan",
            Proof::CollectionCode {
                school: SCHOOL.into(),
                education_type: FULL_TIME.into(),
                code: CodeInput::Image(b"GIF89a not really".to_vec()),
                last4: "6(7)".into(),
            },
            t0(),
        )
        .await,
        "eligibility.code_unreadable",
    );
}

async fn a_csv_roster_imports_good_rows_and_reports_bad_ones(backend: Backend) {
    // World::new imported graduates.csv; import it into a fresh school to see the report.
    let world = World::new(backend).await;
    schools::add(&world.db, "太湖学院", &[FULL_TIME.into()], t0())
        .await
        .unwrap();
    let report = import_into(
        &world.db,
        "太湖学院",
        "graduates.csv",
        &roster_fixture("graduates.csv"),
        None,
    )
    .await
    .unwrap();
    assert_eq!(report.rows_read, 13);
    assert_eq!(
        (report.inserted, report.updated, report.unchanged),
        (5, 0, 0)
    );
    let problems: Vec<(usize, &str)> = report
        .problems
        .iter()
        .map(|p| (p.line, p.reason.as_str()))
        .collect();
    let expected_fragments = [
        (7, "校验位应为"),
        (8, "出生日期 20030230 不存在"),
        (9, "证件类型“驾驶证”无法识别"),
        (10, "姓名为空"),
        (11, "与第 2 行重复"),
        (12, "“网络教育”不在太湖学院的采集类别"),
        (13, "应为 18 位，实为 17 位"),
        (14, "毕业年份“26”"),
    ];
    assert_eq!(problems.len(), expected_fragments.len(), "{problems:?}");
    for ((line, reason), (expected_line, fragment)) in problems.iter().zip(expected_fragments) {
        assert_eq!(*line, expected_line, "{reason}");
        assert!(reason.contains(fragment), "line {line}: {reason}");
    }
    // The import is recorded: who, when, the file's SHA-256, the counts and the bad rows.
    let school = schools::by_name(&world.db, "太湖学院").await.unwrap();
    let records = roster::imports_of(&world.db, &school.school_id, 10)
        .await
        .unwrap();
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record.import_id, report.import_id);
    assert_eq!(record.imported_by, "教务处 王老师");
    assert_eq!(record.imported_at, t0());
    assert_eq!(record.file_name, "graduates.csv");
    assert_eq!(
        record.file_sha256,
        "9f91fefcb37776abfdebcc1a926866b769a8bac97e07858fe8916a210636d9de"
    );
    assert_eq!(
        (record.rows_read, record.inserted, record.updated),
        (13, 5, 0)
    );
    assert_eq!(record.problems, report.problems);

    // The same rows saved by Excel on Chinese Windows (GB 18030) read the same.
    let gb = import_into(
        &world.db,
        "太湖学院",
        "graduates-gb18030.csv",
        &roster_fixture("graduates-gb18030.csv"),
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        (gb.inserted, gb.updated, gb.unchanged, gb.problems.len()),
        (0, 0, 3, 0)
    );
}

async fn an_xlsx_roster_imports_good_rows_and_reports_bad_ones(backend: Backend) {
    let world = World::new(backend).await;
    let (open_university, _) = schools::add(&world.db, "国家开放大学", &["开放教育".into()], t0())
        .await
        .unwrap();
    let report = import_into(
        &world.db,
        "国家开放大学",
        "open-education.xlsx",
        &roster_fixture("open-education.xlsx"),
        None,
    )
    .await
    .unwrap();
    assert_eq!(report.inserted, 3);
    let problems: Vec<(usize, &str)> = report
        .problems
        .iter()
        .map(|p| (p.line, p.reason.as_str()))
        .collect();
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert_eq!(problems[0].0, 5);
    assert!(problems[0].1.contains("存成了数字"), "{}", problems[0].1);
    assert_eq!(problems[1].0, 6);
    assert!(problems[1].1.contains("字母、数字"), "{}", problems[1].1);
    assert_eq!(problems[2], (8, "学号为空"));
    // A student number stored as a spreadsheet number reads without ".0".
    let students = roster::students_of(&world.db, &open_university.school_id, None)
        .await
        .unwrap();
    let numbers: Vec<&str> = students.iter().map(|s| s.student_number.as_str()).collect();
    assert_eq!(numbers, ["2023020001", "2023020002", "2023020003"]);
    assert_eq!(students[2].id_type, IdType::HkMacaoTaiwan);
    assert_eq!(students[2].id_number.as_str(), "H1234567(A)");
}

async fn reimporting_updates_students_instead_of_duplicating_them(backend: Backend) {
    let world = World::new(backend).await;
    let update = import(
        &world.db,
        "graduates-update.csv",
        Some(&world.batch.feature_code),
    )
    .await;
    // Every row now names the batch, so even the unchanged names count as updated, except the
    // new student.
    assert_eq!(update.inserted, 1);
    assert_eq!(update.updated, 5);
    let again = import(
        &world.db,
        "graduates-update.csv",
        Some(&world.batch.feature_code),
    )
    .await;
    assert_eq!((again.inserted, again.updated, again.unchanged), (0, 0, 6));
    let students = roster::students_of(&world.db, &world.school_id, Some(FULL_TIME))
        .await
        .unwrap();
    assert_eq!(students.len(), 6, "5 from the first import and 1 new");
    let ouyang = students
        .iter()
        .find(|s| s.student_number == "2022010002")
        .unwrap();
    assert_eq!(ouyang.major.as_deref(), Some("视觉传达设计"));
    assert_eq!(
        ouyang.batch_id.as_deref(),
        Some(world.batch.batch_id.as_str())
    );
    // An ID number already on the roster under another student number is refused, by line.
    let renumbered = "学号,姓名,证件类型,证件号码,学历类别\n\
        2022019999,吴晓兰,居民身份证,320203200408151226,普通高等教育\n\
        2022010014,钱多多,护照,EA1234567,普通高等教育\n";
    let report = import_into(
        &world.db,
        SCHOOL,
        "renumbered.csv",
        renumbered.as_bytes(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(report.inserted, 1);
    assert_eq!(
        report.problems,
        [roster::RowProblem {
            line: 2,
            reason: "证件号码已登记在学号 2022010001 名下".into()
        }]
    );
    let imports: i64 = on_db!(&world.db, pool => sqlx::query_scalar(
        "SELECT count(*) FROM roster_imports WHERE school_id = $1")
        .bind(&world.school_id)
        .fetch_one(pool)
        .await)
    .unwrap();
    assert_eq!(imports, 4);
}

async fn roster_files_that_cannot_be_read_are_refused_whole(backend: Backend) {
    let world = World::new(backend).await;
    let refuse = |result: Result<ImportReport, EligibilityError>, code: &str| match result {
        Ok(report) => panic!("expected {code}, imported {report:?}"),
        Err(e) => assert_eq!(e.code(), code, "{e}"),
    };
    refuse(
        import_into(
            &world.db,
            SCHOOL,
            "名单.csv",
            "姓名,学号\n吴晓兰,1\n".as_bytes(),
            None,
        )
        .await,
        "eligibility.roster_missing_columns",
    );
    refuse(
        import_into(
            &world.db,
            SCHOOL,
            "名单.xlsx",
            b"PK\x03\x04 not a workbook",
            None,
        )
        .await,
        "eligibility.roster_unreadable",
    );
    refuse(
        import_into(&world.db, SCHOOL, "名单.pdf", b"%PDF", None).await,
        "eligibility.roster_unreadable",
    );
    refuse(
        import_into(&world.db, SCHOOL, "名单.csv", b"", None).await,
        "eligibility.roster_unreadable",
    );
    refuse(
        import_into(
            &world.db,
            "清华大学",
            "名单.csv",
            &roster_fixture("graduates.csv"),
            None,
        )
        .await,
        "eligibility.unknown_school",
    );
    let unknown = FeatureCode::parse("ZZZZZZ").unwrap();
    refuse(
        import_into(
            &world.db,
            SCHOOL,
            "名单.csv",
            &roster_fixture("graduates.csv"),
            Some(&unknown),
        )
        .await,
        "eligibility.unknown_batch",
    );
    // Students of another category cannot join the full-time batch.
    let report = import(&world.db, "graduates.csv", Some(&world.batch.feature_code)).await;
    assert!(report
        .problems
        .iter()
        .any(|p| p.line == 12 && p.reason.contains("与批次")));
}

async fn batches_get_unique_feature_codes_and_keep_their_policy(backend: Backend) {
    let world = World::new(backend).await;
    let mut codes = std::collections::BTreeSet::from([world.batch.feature_code.to_string()]);
    for _ in 0..20 {
        let batch = batches::add(
            &world.db,
            NewBatch {
                school: SCHOOL.into(),
                education_type: ONLINE.into(),
                policy: BatchPolicy::default(),
                closes_at: None,
            },
            t0(),
        )
        .await
        .unwrap();
        assert!(codes.insert(batch.feature_code.to_string()));
    }
    let found = batches::by_feature_code(&world.db, &world.batch.feature_code)
        .await
        .unwrap();
    assert_eq!(found, world.batch);
    assert_eq!(found.policy, paid_policy());
    assert_eq!(
        found.closes_at,
        Some("2026-12-31T16:00:00Z".parse().unwrap())
    );
    assert_eq!(batches::list(&world.db).await.unwrap().len(), 21);
    let refused = batches::add(
        &world.db,
        NewBatch {
            school: SCHOOL.into(),
            education_type: "自学考试".into(),
            policy: BatchPolicy::default(),
            closes_at: None,
        },
        t0(),
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code(), "eligibility.unknown_education_type");
}

async fn the_cli_manages_schools_batches_rosters_and_codes(backend: Backend) {
    let store = TestStore::new(backend).await;
    let cli = |args: &[&str]| {
        let mut all = vec!["photo-ledger"];
        all.extend_from_slice(args);
        let store_args = store.cli_args();
        let mut all: Vec<String> = all.into_iter().map(String::from).collect();
        all.extend(store_args);
        Cli::try_parse_from(all).expect("arguments parse")
    };
    cli(&[
        "school",
        "add",
        SCHOOL,
        "--category",
        FULL_TIME,
        "--category",
        ONLINE,
    ])
    .load_and_run()
    .await
    .unwrap();
    cli(&["school", "list"]).load_and_run().await.unwrap();
    // The CLI runs on the real clock: a deadline a year ahead keeps the batch open.
    let deadline = (Utc::now() + Duration::days(365)).date_naive();
    cli(&[
        "batch",
        "add",
        "--school",
        SCHOOL,
        "--education-type",
        FULL_TIME,
        "--price-fen",
        "2000",
        "--pay-before-upload",
        "--album-allowed",
        "false",
        "--paper-prints-fen",
        "1500",
        "--deadline",
        &deadline.to_string(),
        "--backgrounds",
        "blue,#00a3e6",
    ])
    .load_and_run()
    .await
    .unwrap();
    cli(&["batch", "list"]).load_and_run().await.unwrap();
    let roster_file = format!(
        "{}/fixtures/rosters/graduates.csv",
        env!("CARGO_MANIFEST_DIR")
    );
    // Bad rows are reported, not fatal; a file that cannot be read is.
    cli(&[
        "roster",
        "import",
        &roster_file,
        "--school",
        SCHOOL,
        "--by",
        "admin",
    ])
    .load_and_run()
    .await
    .expect("bad rows do not fail the import");
    let bad = store.data_dir().join("bad.csv");
    std::fs::write(&bad, "name\nx\n").unwrap();
    assert!(cli(&[
        "roster",
        "import",
        bad.to_str().unwrap(),
        "--school",
        SCHOOL
    ])
    .load_and_run()
    .await
    .is_err());
    let outdir = store.data_dir().join("codes");
    cli(&[
        "codes",
        "issue",
        "--school",
        SCHOOL,
        outdir.to_str().unwrap(),
    ])
    .load_and_run()
    .await
    .unwrap();

    let db = photo_ledger::startup::open_store(&store.settings)
        .await
        .unwrap();
    let batch = batches::list(&db).await.unwrap().remove(0);
    assert_eq!(batch.policy.price_fen, Fen::new(2000));
    assert!(batch.policy.pay_before_upload && !batch.policy.album_allowed);
    assert_eq!(batch.policy.backgrounds.len(), 2);
    assert_eq!(
        batch.closes_at,
        Some(batches::closes_after(deadline).unwrap())
    );

    // One PNG per roster student (6 good rows, one of them 网络教育), each a valid code.
    let mut pngs: Vec<_> = std::fs::read_dir(&outdir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    pngs.sort();
    assert_eq!(pngs.len(), 6);
    let verifier = CodeSigner::load_or_create(&store.data_dir())
        .unwrap()
        .verifier();
    let first = qr::read(&std::fs::read(&pngs[0]).unwrap()).expect("a QR code");
    let payload = verifier.verify(&first).unwrap();
    assert_eq!(payload.student_number, "2022010001");
    cli(&["codes", "verify", &first])
        .load_and_run()
        .await
        .unwrap();
    cli(&["codes", "verify", "--image", pngs[1].to_str().unwrap()])
        .load_and_run()
        .await
        .unwrap();
    assert!(cli(&["codes", "verify", &first[..first.len() - 10]])
        .load_and_run()
        .await
        .is_err());
    // Not before the student's consent is recorded.
    let unconsented = cli(&[
        "verify",
        "--owner",
        "openid-wu",
        "--school",
        SCHOOL,
        "--student-number",
        "2022010001",
    ])
    .load_and_run()
    .await
    .unwrap_err();
    assert!(
        unconsented.to_string().contains("--consent"),
        "{unconsented}"
    );
    // A student verifying from the command line, with the printed picture and then by number.
    cli(&[
        "verify",
        "--consent",
        "--owner",
        "openid-wu",
        "--school",
        SCHOOL,
        "--education-type",
        FULL_TIME,
        "--code-image",
        pngs[0].to_str().unwrap(),
        "--last4",
        "1226",
    ])
    .load_and_run()
    .await
    .unwrap();
    cli(&[
        "verify",
        "--consent",
        "--owner",
        "openid-wu",
        "--school",
        SCHOOL,
        "--student-number",
        "2022010001",
    ])
    .load_and_run()
    .await
    .expect("the same capture again");
    let wrong = cli(&[
        "verify",
        "--consent",
        "--owner",
        "openid-x",
        "--school",
        SCHOOL,
        "--category", // the earlier spelling of --education-type, still read
        FULL_TIME,
        "--code",
        &first,
        "--last4",
        "0000",
    ])
    .load_and_run()
    .await
    .unwrap_err();
    assert!(
        wrong.to_string().contains("eligibility.last4_mismatch"),
        "{wrong}"
    );
    cli(&["attempts"]).load_and_run().await.unwrap();
    cli(&["roster", "imports", "--school", SCHOOL])
        .load_and_run()
        .await
        .unwrap();
}
