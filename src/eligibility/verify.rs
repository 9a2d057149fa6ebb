//! The three ways a student proves they may be photographed, each ending in the capture's
//! first event, `QualificationVerified`, or a refusal with a stable code:
//!
//! - school + education category + collection code + last four of the ID number;
//! - batch feature code + collection code + last four;
//! - school + student number, the roster filling in name and ID for the student to confirm.
//!
//! A capture belongs to one education record, so its id is derived from the record (UUID v5 of
//! school, category and student number). Verifying the same record again therefore reaches the
//! same capture: the ledger refuses a second `QualificationVerified`, and the existing capture is
//! returned to its owner — or refused to any other account.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use photo_ledger_domain::commands::VerifyQualification;
use photo_ledger_domain::events::VerificationMethod;
use photo_ledger_domain::feature_code::FeatureCode;
use photo_ledger_domain::identity::{mask_id, mask_name};
use photo_ledger_domain::last_four::LastFour;
use photo_ledger_domain::metadata::{Actor, EventMetadata, Role};
use photo_ledger_domain::values::CaptureId;
use photo_ledger_domain::{CaptureCommand, CaptureError};
use photo_ledger_store::Db;
use serde::Serialize;
use uuid::Uuid;

use super::attempts::{self, AttemptLimits, FailedAttempt, LockKey};
use super::batches::{self, Batch};
use super::codes::{CodePayload, CodeVerifier};
use super::error::EligibilityError;
use super::qr;
use super::roster::{self, RosterStudent};
use super::schools::{self, School};
use crate::guessing::Guess;
use crate::ledger::{CommandOutcome, CommandRequest, Ledger, LedgerError};
use crate::memory_budget::MemoryBudget;
use crate::work_pool::WorkPool;

/// Code pictures read at once, at most: each decode may take up to `qr::MAX_DECODE_BYTES`.
const CONCURRENT_CODE_PICTURES: usize = 2;
/// The threads code pictures are read on.
static CODE_PICTURES: std::sync::LazyLock<WorkPool> =
    std::sync::LazyLock::new(|| WorkPool::new("code-picture", CONCURRENT_CODE_PICTURES));

/// Capture ids are UUID v5 in this namespace of `school_id/education_type/student_number`.
const CAPTURE_NAMESPACE: Uuid = Uuid::from_u128(0x5d1f_7c1e_8a4b_4f0e_9b6a_2c3d_4e5f_6071);

/// The capture of one education record.
pub fn capture_id_for(school_id: &str, education_type: &str, student_number: &str) -> CaptureId {
    let name = format!("{school_id}/{education_type}/{student_number}");
    CaptureId::from_uuid(Uuid::new_v5(&CAPTURE_NAMESPACE, name.as_bytes()))
}

/// A collection code as the student gave it.
#[derive(Clone, Debug)]
pub enum CodeInput {
    Text(String),
    /// A photo or screenshot of the QR code (PNG).
    Image(Vec<u8>),
}

#[derive(Clone, Debug)]
pub enum Proof {
    CollectionCode {
        school: String,
        education_type: String,
        code: CodeInput,
        last4: String,
    },
    FeatureCode {
        feature_code: String,
        code: CodeInput,
        last4: String,
    },
    StudentNumber {
        school: String,
        /// Needed only when the number is on several of the school's rosters.
        education_type: Option<String>,
        student_number: String,
    },
}

impl Proof {
    fn method(&self) -> VerificationMethod {
        match self {
            Proof::CollectionCode { .. } => VerificationMethod::CollectionCode,
            Proof::FeatureCode { .. } => VerificationMethod::FeatureCode,
            Proof::StudentNumber { .. } => VerificationMethod::StudentNumber,
        }
    }
}

#[derive(Clone, Debug)]
pub struct VerifyRequest {
    /// The mini-program account (openid) that will own the capture.
    pub owner: String,
    pub request_id: String,
    pub proof: Proof,
    /// The student's consent, given before this request: the capture records it.
    pub consent: photo_ledger_domain::consent::Consent,
    pub at: DateTime<Utc>,
}

/// What the student sees after verifying: enough to recognise themselves, nothing in clear.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VerifiedStudent {
    pub name_masked: String,
    pub id_masked: String,
    pub school: String,
    pub education_type: String,
    pub student_number: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verified {
    pub capture_id: CaptureId,
    /// False when the record had been verified before and its capture is returned.
    pub created: bool,
    pub feature_code: String,
    pub student: VerifiedStudent,
    /// The ledger's outcome, for waiting on projections before answering (read-your-writes);
    /// `None` when another command created the capture.
    #[serde(skip)]
    pub outcome: Option<CommandOutcome>,
}

/// A proof that held: the student, their school and the batch they join.
struct Proven {
    school: School,
    student: RosterStudent,
    batch: Batch,
    code_fingerprint: Option<String>,
}

/// A refusal and the student record it aimed at, if known.
struct Refusal {
    error: EligibilityError,
    subject: Option<String>,
}

impl From<EligibilityError> for Refusal {
    fn from(error: EligibilityError) -> Self {
        Refusal {
            error,
            subject: None,
        }
    }
}

pub struct Verifier {
    db: Db,
    ledger: Arc<Ledger>,
    codes: CodeVerifier,
    limits: AttemptLimits,
    /// Memory for reading code pictures: the service's decoding budget, shared with every
    /// other route that decodes pictures.
    decoding: Arc<MemoryBudget>,
}

impl Verifier {
    pub fn new(ledger: Arc<Ledger>, codes: CodeVerifier, limits: AttemptLimits) -> Self {
        Self {
            db: ledger.db().clone(),
            ledger,
            codes,
            limits,
            decoding: Arc::new(MemoryBudget::new(
                (qr::MAX_DECODE_BYTES as u32 >> 20) * CONCURRENT_CODE_PICTURES as u32,
            )),
        }
    }

    /// Reads code pictures within `budget` (shared with the other routes that decode).
    pub fn decoding_within(mut self, budget: Arc<MemoryBudget>) -> Self {
        self.decoding = budget;
        self
    }

    /// Checks the proof and records `QualificationVerified`, or returns the capture this
    /// account already has for the record. Refusals are logged for audit and feed the locks.
    pub async fn verify(&self, request: VerifyRequest) -> Result<Verified, EligibilityError> {
        let method = request.proof.method();
        let mut guess = Guess::new(&self.db, request.at);
        let outcome = match guess
            .reserve(
                &LockKey::Caller(request.owner.clone()).key(),
                self.limits.per_caller(),
            )
            .await
        {
            Ok(()) => self.prove(&request, &mut guess).await,
            Err(locked) => Err(EligibilityError::from(locked).into()),
        };
        let refusal = match outcome {
            Ok(proven) => match self.record(&request, proven).await {
                Ok(verified) => {
                    guess.release().await;
                    tracing::info!(
                        capture_id = %verified.capture_id,
                        created = verified.created,
                        ?method,
                        "eligibility verified"
                    );
                    return Ok(verified);
                }
                Err(error) => Refusal {
                    error,
                    subject: None,
                },
            },
            Err(refusal) => refusal,
        };
        // Codes only: the caller's id is pseudonymous, and no name or ID number is logged.
        tracing::info!(code = refusal.error.code(), ?method, "eligibility refused");
        let counted = refusal.error.is_guess();
        if counted {
            guess.wrong().await?;
        } else {
            guess.release().await;
        }
        if refusal.error.is_refusal() {
            attempts::record(
                &self.db,
                &FailedAttempt {
                    caller: request.owner.clone(),
                    subject: refusal.subject,
                    method,
                    code: refusal.error.code().to_string(),
                    counted,
                    at: request.at,
                },
            )
            .await?;
        }
        Err(refusal.error)
    }

    async fn prove(&self, request: &VerifyRequest, guess: &mut Guess) -> Result<Proven, Refusal> {
        let now = request.at;
        match &request.proof {
            Proof::CollectionCode {
                school,
                education_type,
                code,
                last4,
            } => {
                let last4 = LastFour::parse(last4).map_err(EligibilityError::from)?;
                let school = schools::by_name(&self.db, school).await?;
                let education_type = education_type.trim();
                school.require_category(education_type)?;
                let (payload, fingerprint) = self.read_code(code).await?;
                if payload.school_id.to_string() != school.school_id
                    || payload.education_type != education_type
                {
                    return Err(EligibilityError::CodeMismatch.into());
                }
                let student = self
                    .student_by_code(&school, &payload, &last4, guess)
                    .await?;
                let batch = self.batch_for(&school, &student, now).await?;
                Ok(Proven {
                    school,
                    student,
                    batch,
                    code_fingerprint: Some(fingerprint),
                })
            }
            Proof::FeatureCode {
                feature_code,
                code,
                last4,
            } => {
                let last4 = LastFour::parse(last4).map_err(EligibilityError::from)?;
                let feature_code =
                    FeatureCode::parse(feature_code).map_err(EligibilityError::from)?;
                let batch = batches::by_feature_code(&self.db, &feature_code).await?;
                batch.require_open(now)?;
                let (payload, fingerprint) = self.read_code(code).await?;
                if payload.school_id.to_string() != batch.school_id
                    || payload.education_type != batch.education_type
                {
                    return Err(EligibilityError::CodeMismatch.into());
                }
                let school = schools::by_id(&self.db, &batch.school_id).await?;
                let student = self
                    .student_by_code(&school, &payload, &last4, guess)
                    .await?;
                Ok(Proven {
                    school,
                    student,
                    batch,
                    code_fingerprint: Some(fingerprint),
                })
            }
            Proof::StudentNumber {
                school,
                education_type,
                student_number,
            } => {
                let school = schools::by_name(&self.db, school).await?;
                let education_type = education_type.as_deref().map(str::trim);
                if let Some(education_type) = education_type {
                    school.require_category(education_type)?;
                }
                let number = roster::normalise_student_number(student_number);
                if number.is_empty() {
                    return Err(EligibilityError::InvalidInput("学号为空".into()).into());
                }
                let subject = self
                    .reserve_student(&school.school_id, &number, guess)
                    .await?;
                let on_subject = |error: EligibilityError| Refusal {
                    error,
                    subject: Some(subject.clone()),
                };
                let mut found = roster::find(&self.db, &school.school_id, &number, education_type)
                    .await
                    .map_err(on_subject)?;
                let student = match found.len() {
                    0 => return Err(on_subject(EligibilityError::NotOnRoster)),
                    1 => found.remove(0),
                    _ => {
                        return Err(EligibilityError::EducationTypeRequired(
                            found.into_iter().map(|s| s.education_type).collect(),
                        )
                        .into())
                    }
                };
                let batch = self.batch_for(&school, &student, now).await?;
                Ok(Proven {
                    school,
                    student,
                    batch,
                    code_fingerprint: None,
                })
            }
        }
    }

    /// The guessing-lock subject of one student record, once the guess is reserved under it.
    async fn reserve_student(
        &self,
        school_id: &str,
        number: &str,
        guess: &mut Guess,
    ) -> Result<String, Refusal> {
        let subject = attempts::student_subject(school_id, number);
        guess
            .reserve(
                &LockKey::Student(subject.clone()).key(),
                self.limits.per_student(),
            )
            .await
            .map_err(|error| Refusal {
                error: error.into(),
                subject: Some(subject.clone()),
            })?;
        Ok(subject)
    }

    /// Reads and checks a collection code; returns what it says and its fingerprint for the
    /// event (the code itself is a credential and stays out of the ledger).
    async fn read_code(&self, code: &CodeInput) -> Result<(CodePayload, String), EligibilityError> {
        let text = match code {
            CodeInput::Text(text) => text.clone(),
            CodeInput::Image(bytes) => {
                let bytes = bytes.clone();
                // At most what the reader lets a picture allocate.
                let _memory = self.decoding.spend(qr::MAX_DECODE_BYTES).await;
                CODE_PICTURES
                    .run("code-picture", move || qr::read(&bytes))
                    .await
                    .map_err(|_| EligibilityError::CodeUnreadable)?
                    .ok_or(EligibilityError::CodeUnreadable)?
            }
        };
        let checked = self.codes.check(&text)?;
        Ok((checked.payload, checked.fingerprint))
    }

    /// The roster record a valid code names, once the last four match it.
    async fn student_by_code(
        &self,
        school: &School,
        payload: &CodePayload,
        last4: &LastFour,
        guess: &mut Guess,
    ) -> Result<RosterStudent, Refusal> {
        let number = roster::normalise_student_number(&payload.student_number);
        let subject = self
            .reserve_student(&school.school_id, &number, guess)
            .await?;
        let on_subject = |error: EligibilityError| Refusal {
            error,
            subject: Some(subject.clone()),
        };
        let student = roster::find(
            &self.db,
            &school.school_id,
            &number,
            Some(&payload.education_type),
        )
        .await
        .map_err(on_subject)?
        .pop()
        .ok_or_else(|| on_subject(EligibilityError::NotOnRoster))?;
        if LastFour::of(student.id_number.as_str()) != *last4 {
            return Err(on_subject(EligibilityError::LastFourMismatch));
        }
        Ok(student)
    }

    /// The batch a student joins by naming their school: the one the roster ties them to, else
    /// the newest open batch of their category.
    async fn batch_for(
        &self,
        school: &School,
        student: &RosterStudent,
        now: DateTime<Utc>,
    ) -> Result<Batch, EligibilityError> {
        if let Some(batch_id) = &student.batch_id {
            if let Some(batch) = batches::by_id(&self.db, batch_id).await? {
                if batch.is_open(now) {
                    return Ok(batch);
                }
            }
        }
        batches::open_for(&self.db, &school.school_id, &student.education_type, now)
            .await?
            .ok_or_else(|| EligibilityError::NoOpenBatch {
                school: school.name.clone(),
                education_type: student.education_type.clone(),
            })
    }

    async fn record(
        &self,
        request: &VerifyRequest,
        proven: Proven,
    ) -> Result<Verified, EligibilityError> {
        let Proven {
            school,
            student,
            batch,
            code_fingerprint,
        } = proven;
        let capture_id = capture_id_for(
            &school.school_id,
            &student.education_type,
            &student.student_number,
        );
        let verified = |created, outcome| Verified {
            capture_id,
            created,
            outcome,
            feature_code: batch.feature_code.to_string(),
            student: VerifiedStudent {
                name_masked: mask_name(&student.name),
                id_masked: mask_id(student.id_number.as_str()),
                school: school.name.clone(),
                education_type: student.education_type.clone(),
                student_number: student.student_number.clone(),
            },
        };
        let command = CaptureCommand::VerifyQualification(VerifyQualification {
            capture_id,
            owner: request.owner.clone(),
            school: school.reference(),
            education_type: student.education_type.clone(),
            batch: Some(batch.reference()),
            student: student.identity(code_fingerprint),
            policy: batch.policy.clone(),
            verified_by: request.proof.method(),
            consent: Some(Box::new(request.consent.clone())),
            at: request.at,
        });
        let outcome = self
            .ledger
            .execute(CommandRequest {
                capture_id: capture_id.to_string(),
                command,
                metadata: EventMetadata {
                    actor: Actor::new(Role::Student, &request.owner),
                    request_id: request.request_id.clone(),
                    // One verification per account and capture: a repeat is the same command.
                    command_id: format!("verify:{}", request.owner),
                    recorded_at: request.at,
                },
            })
            .await;
        match outcome {
            Ok(outcome) => Ok(verified(
                !outcome.replayed && !outcome.events.is_empty(),
                Some(outcome),
            )),
            Err(LedgerError::Refused(CaptureError::AlreadyExists)) => {
                let (capture, _) = self.ledger.load(&capture_id.to_string()).await?;
                match capture.qualification {
                    Some(q) if q.owner == request.owner => Ok(verified(false, None)),
                    _ => Err(EligibilityError::ClaimedByAnother),
                }
            }
            Err(other) => Err(other.into()),
        }
    }
}
