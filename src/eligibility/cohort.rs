//! A batch, or every batch of a school: what staff ask a delivery package or a progress count
//! to be of.

use photo_ledger_domain::feature_code::FeatureCode;
use photo_ledger_store::Db;
use serde::Serialize;

use super::{batches, schools, EligibilityError};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cohort {
    /// The batch with this feature code.
    Batch(FeatureCode),
    /// Every batch of the school with this name.
    School(String),
}

impl Cohort {
    /// From what staff give: a batch's feature code or a school's name, exactly one.
    pub fn parse(batch: Option<&str>, school: Option<&str>) -> Result<Cohort, EligibilityError> {
        match (batch, school) {
            (Some(batch), None) => Ok(Cohort::Batch(FeatureCode::parse(batch)?)),
            (None, Some(school)) => Ok(Cohort::School(school.to_string())),
            _ => Err(EligibilityError::InvalidInput(
                "give a batch (its feature code) or a school (its name), not both".into(),
            )),
        }
    }

    /// The batch or school, found.
    pub async fn find(&self, db: &Db) -> Result<Found, EligibilityError> {
        Ok(match self {
            Cohort::Batch(code) => {
                let batch = batches::by_feature_code(db, code).await?;
                Found {
                    school_id: batch.school_id,
                    school: batch.school_name,
                    batch: Some(FoundBatch {
                        batch_id: batch.batch_id,
                        feature_code: code.to_string(),
                        education_type: batch.education_type,
                    }),
                }
            }
            Cohort::School(name) => {
                let school = schools::by_name(db, name).await?;
                Found {
                    school_id: school.school_id,
                    school: school.name,
                    batch: None,
                }
            }
        })
    }
}

/// A school, and the batch when one was asked for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Found {
    pub school_id: String,
    pub school: String,
    pub batch: Option<FoundBatch>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FoundBatch {
    pub batch_id: String,
    pub feature_code: String,
    pub education_type: String,
}

impl Found {
    /// `江南大学 · 普通高等教育 · 批次 ABCD1234`, or the school's name alone.
    pub fn title(&self) -> String {
        match &self.batch {
            Some(b) => format!(
                "{} · {} · 批次 {}",
                self.school, b.education_type, b.feature_code
            ),
            None => self.school.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staff_name_a_batch_or_a_school_and_not_both() {
        assert_eq!(
            Cohort::parse(None, Some("江南大学")).unwrap(),
            Cohort::School("江南大学".into())
        );
        assert!(matches!(
            Cohort::parse(Some("not a code"), None),
            Err(EligibilityError::InvalidFeatureCode(_))
        ));
        for (batch, school) in [(None, None), (Some("x"), Some("江南大学"))] {
            assert!(matches!(
                Cohort::parse(batch, school),
                Err(EligibilityError::InvalidInput(_))
            ));
        }
    }
}
