//! Erasing a student's personal information when they ask, withdraw consent, or their school's
//! retention period ends (PIPL Art. 47), without breaking the log's proof.
//!
//! The log cannot delete, so what identifies a student is sealed under a data key of the capture
//! ([`photo_ledger_store::personal`]) and erasure destroys the key. Erasing a capture, each step
//! safe to run again:
//! 1. while the identity can still be read, deletes its copies outside the log: the student's
//!    row in the school's roster, the account's address book, and the failed verifications and
//!    guessing locks that name the student record;
//! 2. records `Erased` in the capture (who, why, when — nothing personal): from then on it
//!    refuses every command, and its state, and every view derived from it, no longer hold who
//!    the student was; the views drop its rows and its status reads 已删除;
//! 3. destroys the capture's data key: the sealed fields of every event of it read as erased,
//!    in the database and in any copy of the log taken since;
//! 4. deletes its photos and their previews from the photo store, and its snapshots.
//!
//! A student's own request erases every capture of theirs (the photo history finds them by the
//! keyed hash of their ID number); the retention policy erases each capture when its own
//! school's period has passed ([`retention`]).

pub mod retention;

use chrono::Utc;
use photo_ledger_domain::commands::Erase;
use photo_ledger_domain::erasure::ErasureReason;
use photo_ledger_domain::events::CaptureEvent;
use photo_ledger_domain::metadata::{Actor, EventMetadata};
use photo_ledger_domain::values::CaptureId;
use photo_ledger_domain::{Capture, CaptureCommand};
use photo_ledger_projections::person_key::PersonKeyer;
use photo_ledger_projections::{photo_history, ProjectionError};
use photo_ledger_store::log::{capture_history, AGGREGATE_TYPE};
use photo_ledger_store::{on_db, StoreError};
use serde::Serialize;

use crate::captures::Captures;
use crate::eligibility::attempts::{student_subject, LockKey};
use crate::ledger::LedgerError;
use crate::photos::PhotoStore;

/// Why an erasure did not complete. Every step is safe to repeat: run it again.
#[derive(Debug, thiserror::Error)]
pub enum ErasureError {
    #[error("no capture {0}")]
    UnknownCapture(CaptureId),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("the database failed while erasing")]
    Store(#[from] StoreError),
    #[error("the views failed while erasing")]
    Projection(#[from] ProjectionError),
    #[error("the photo store failed while deleting photos")]
    Photos(#[from] object_store::Error),
}

impl ErasureError {
    pub fn code(&self) -> &'static str {
        match self {
            ErasureError::UnknownCapture(_) => "erasure.unknown_capture",
            ErasureError::Ledger(e) => e.code(),
            ErasureError::Store(_) | ErasureError::Projection(_) | ErasureError::Photos(_) => {
                "erasure.unavailable"
            }
        }
    }
}

impl From<sqlx::Error> for ErasureError {
    fn from(e: sqlx::Error) -> Self {
        ErasureError::Store(StoreError::Database(e))
    }
}

/// Which captures one erasure covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The capture and every other capture of the same person (a student's own request).
    Person,
    /// The capture alone (its school's retention period ended).
    Capture,
}

/// What an erasure did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ErasureReport {
    /// The captures erased (including those erased before).
    pub captures: Vec<String>,
    /// Photos deleted from the photo store.
    pub photos_deleted: usize,
}

#[derive(Clone)]
pub struct Erasure {
    captures: Captures,
    photos: PhotoStore,
    keyer: PersonKeyer,
}

impl Erasure {
    pub fn new(captures: Captures, photos: PhotoStore, keyer: PersonKeyer) -> Self {
        Self {
            captures,
            photos,
            keyer,
        }
    }

    /// Erases `capture_id` (and, for [`Scope::Person`], the person's other captures) for
    /// `reason`, as `by`.
    pub async fn erase(
        &self,
        capture_id: CaptureId,
        scope: Scope,
        reason: ErasureReason,
        by: &Actor,
    ) -> Result<ErasureReport, ErasureError> {
        let ledger = self.captures.ledger();
        let (capture, _) = ledger.load(&capture_id.to_string()).await?;
        let Some(q) = &capture.qualification else {
            return Err(ErasureError::UnknownCapture(capture_id));
        };
        let mut captures = vec![capture_id];
        if scope == Scope::Person && !q.student.is_erased() {
            let person = self.keyer.key_for(q.student.id_number.as_str());
            for other in photo_history::captures_of_person(ledger.db(), &person).await? {
                match other.parse::<CaptureId>() {
                    Ok(other) if !captures.contains(&other) => captures.push(other),
                    _ => {}
                }
            }
        }
        // The capture asked for goes last: should this stop half-way, running it again still
        // finds the others while its own identity can be read.
        captures.rotate_left(1);
        let mut report = ErasureReport {
            captures: Vec::with_capacity(captures.len()),
            photos_deleted: 0,
        };
        for id in captures {
            report.photos_deleted += self.erase_capture(id, reason, by).await?;
            report.captures.push(id.to_string());
        }
        report.captures.sort();
        Ok(report)
    }

    /// Erases one capture; returns how many photos were deleted.
    async fn erase_capture(
        &self,
        id: CaptureId,
        reason: ErasureReason,
        by: &Actor,
    ) -> Result<usize, ErasureError> {
        let ledger = self.captures.ledger();
        let capture_id = &id.to_string();
        let (capture, _) = ledger.load(capture_id).await?;
        self.delete_copies(&capture).await?;
        let metadata = EventMetadata {
            actor: by.clone(),
            request_id: uuid::Uuid::new_v4().to_string(),
            // One erasure per capture: a repeat is the same command, and records nothing.
            command_id: format!("erase:{capture_id}"),
            recorded_at: Utc::now(),
        };
        self.captures
            .run(
                metadata,
                id,
                CaptureCommand::Erase(Erase {
                    reason,
                    by: by.id.clone(),
                    at: Utc::now(),
                }),
            )
            .await?;
        let keys = ledger.decoder().keys();
        keys.destroy(capture_id).await?;
        let mut deleted = 0;
        for sha256 in &self.photos_of(capture_id).await? {
            if self.photos.delete(sha256).await? {
                deleted += 1;
            }
        }
        on_db!(ledger.db(), pool => sqlx::query(
            "DELETE FROM snapshots WHERE aggregate_type = $1 AND aggregate_id = $2")
            .bind(AGGREGATE_TYPE)
            .bind(capture_id)
            .execute(pool)
            .await
            .map(|_| ()))?;
        tracing::info!(capture_id, reason = reason.code(), by = %by.id, photos_deleted = deleted, "capture erased");
        Ok(deleted)
    }

    /// Deletes what identifies the student outside the log, while the capture can still say
    /// who they are: their roster row and their account's address book.
    async fn delete_copies(&self, capture: &Capture) -> Result<(), ErasureError> {
        let Some(q) = capture.identified() else {
            return Ok(());
        };
        let db = self.captures.ledger().db();
        on_db!(db, pool => sqlx::query(
            "DELETE FROM roster_students WHERE school_id = $1 AND education_type = $2 AND id_number = $3")
            .bind(&q.school.school_id)
            .bind(&q.education_type)
            .bind(q.student.id_number.as_str())
            .execute(pool)
            .await
            .map(|_| ()))?;
        on_db!(db, pool => sqlx::query("DELETE FROM addresses WHERE owner = $1")
            .bind(&q.owner)
            .execute(pool)
            .await
            .map(|_| ()))?;
        if let Some(number) = &q.student.student_number {
            // The failed-verification log and the guessing locks name the student record by
            // school and student number.
            let subject = student_subject(&q.school.school_id, number);
            let lock_key = LockKey::Student(subject.clone()).key();
            on_db!(db, pool => sqlx::query("DELETE FROM verification_attempts WHERE subject = $1")
                .bind(&subject)
                .execute(pool)
                .await
                .map(|_| ()))?;
            for table in ["guesses", "guess_locks", "guess_lock_lifts"] {
                on_db!(db, pool => sqlx::query(&format!("DELETE FROM {table} WHERE lock_key = $1"))
                    .bind(&lock_key)
                    .execute(pool)
                    .await
                    .map(|_| ()))?;
            }
        }
        Ok(())
    }

    /// The SHA-256 of every photo the capture recorded, uploaded or standardised: the log keeps
    /// them after erasure, so deleting them can be run again.
    async fn photos_of(&self, capture_id: &str) -> Result<Vec<String>, ErasureError> {
        let history = capture_history(self.captures.ledger().decoder(), capture_id).await?;
        let mut photos: Vec<String> = history
            .into_iter()
            .filter_map(|logged| match logged.event {
                CaptureEvent::PhotoUploaded(e) => Some(e.photo.sha256),
                CaptureEvent::Standardised(e) => Some(e.result.sha256),
                _ => None,
            })
            .collect();
        photos.sort();
        photos.dedup();
        Ok(photos)
    }
}
