//! Failed verifications: the audit log admins read, and the keys the guessing locks count
//! them under.
//!
//! The last four are only 10,000 possibilities, so wrong guesses at one student record (by
//! collection code or student number) lock that record for everyone, and wrong guesses by one
//! caller lock that caller, whatever they aim at (see [`crate::guessing`]).

use chrono::{DateTime, Duration, Utc};
use photo_ledger_domain::events::VerificationMethod;
use photo_ledger_store::{on_db, Db};
use serde::Serialize;

use super::error::EligibilityError;
use crate::guessing::Limit;

#[derive(Clone, Debug)]
pub struct AttemptLimits {
    /// Wrong guesses at one student record within `window` that lock it.
    pub per_student: u32,
    /// Wrong guesses by one caller within `window` that lock the caller.
    pub per_caller: u32,
    pub window: Duration,
    pub lock_for: Duration,
}

impl AttemptLimits {
    pub fn per_student(&self) -> Limit {
        self.limit(self.per_student)
    }

    pub fn per_caller(&self) -> Limit {
        self.limit(self.per_caller)
    }

    fn limit(&self, max_wrong: u32) -> Limit {
        Limit {
            max_wrong,
            window: self.window,
            lock_for: self.lock_for,
        }
    }
}

impl Default for AttemptLimits {
    fn default() -> Self {
        Self {
            per_student: 5,
            per_caller: 20,
            window: Duration::hours(1),
            lock_for: Duration::hours(1),
        }
    }
}

/// What a lock is on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LockKey {
    /// One student record: `school_id/student_number`.
    Student(String),
    Caller(String),
}

/// The subject of attempts at one student record.
pub fn student_subject(school_id: &str, student_number: &str) -> String {
    format!("{school_id}/{student_number}")
}

impl LockKey {
    /// The key the guessing locks count under.
    pub fn key(&self) -> String {
        match self {
            LockKey::Student(subject) => format!("student:{subject}"),
            LockKey::Caller(caller) => format!("caller:{caller}"),
        }
    }
}

/// A refused verification, as logged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FailedAttempt {
    pub caller: String,
    /// `school_id/student_number` when the attempt named a student.
    pub subject: Option<String>,
    pub method: VerificationMethod,
    pub code: String,
    /// A wrong guess, counted towards the locks.
    pub counted: bool,
    pub at: DateTime<Utc>,
}

/// The longest caller or subject the log keeps; what a request sent beyond it is cut, and the cut
/// said (`…[+N bytes]`), so a megabyte "student number" costs the log a line, not a megabyte.
pub const LOGGED_CHARS: usize = 128;

/// `text` as the log keeps it.
fn for_the_log(text: &str) -> String {
    match text.char_indices().nth(LOGGED_CHARS) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}…[+{} bytes]", &text[..cut], text.len() - cut),
    }
}

/// Logs a refused attempt.
pub async fn record(db: &Db, attempt: &FailedAttempt) -> Result<(), EligibilityError> {
    let (caller, subject) = (
        for_the_log(&attempt.caller),
        attempt.subject.as_deref().map(for_the_log),
    );
    on_db!(db, pool => sqlx::query(
        "INSERT INTO verification_attempts (caller, subject, method, code, counted, at)
         VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(&caller)
        .bind(&subject)
        .bind(method_name(attempt.method))
        .bind(&attempt.code)
        .bind(attempt.counted)
        .bind(attempt.at)
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(())
}

type AttemptRow = (String, Option<String>, String, String, bool, DateTime<Utc>);

/// The failed-verification log, newest first, for admins.
pub async fn list(
    db: &Db,
    since: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<FailedAttempt>, EligibilityError> {
    let rows: Vec<AttemptRow> = on_db!(db, pool => sqlx::query_as(
            "SELECT caller, subject, method, code, counted, at FROM verification_attempts
             WHERE at >= $1 ORDER BY at DESC, attempt_id DESC LIMIT $2")
            .bind(since)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await)?;
    rows.into_iter()
        .map(|(caller, subject, method, code, counted, at)| {
            let method = parse_method(&method).ok_or_else(|| {
                EligibilityError::Store(sqlx::Error::Decode(
                    format!("verification attempt with method {method:?}").into(),
                ))
            })?;
            Ok(FailedAttempt {
                caller,
                subject,
                method,
                code,
                counted,
                at,
            })
        })
        .collect()
}

fn method_name(method: VerificationMethod) -> &'static str {
    match method {
        VerificationMethod::CollectionCode => "collection_code",
        VerificationMethod::FeatureCode => "feature_code",
        VerificationMethod::StudentNumber => "student_number",
    }
}

fn parse_method(name: &str) -> Option<VerificationMethod> {
    [
        VerificationMethod::CollectionCode,
        VerificationMethod::FeatureCode,
        VerificationMethod::StudentNumber,
    ]
    .into_iter()
    .find(|m| method_name(*m) == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_log_keeps_of_an_input_is_bounded_and_says_it_was_cut() {
        assert_eq!(for_the_log("school/2022010001"), "school/2022010001");
        let huge = format!("school/{}", "学".repeat(1_000_000));
        let kept = for_the_log(&huge);
        assert_eq!(
            kept.chars().count(),
            LOGGED_CHARS + "…[+2999637 bytes]".chars().count()
        );
        assert!(kept.ends_with("…[+2999637 bytes]"), "{kept}");
        let exactly = "x".repeat(LOGGED_CHARS);
        assert_eq!(for_the_log(&exactly), exactly);
    }
}
