//! Schools and the education categories (学历类别) each collects photos for.

use chrono::{DateTime, Utc};
use photo_ledger_domain::events::SchoolRef;
use photo_ledger_store::{on_db, Db};
use serde::Serialize;

use super::error::EligibilityError;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct School {
    pub school_id: String,
    pub name: String,
    /// Sorted.
    pub categories: Vec<String>,
}

impl School {
    pub fn collects(&self, education_type: &str) -> bool {
        self.categories.iter().any(|c| c == education_type)
    }

    pub fn reference(&self) -> SchoolRef {
        SchoolRef {
            school_id: self.school_id.clone(),
            name: self.name.clone(),
        }
    }

    /// Refuses an education type the school does not collect for.
    pub fn require_category(&self, education_type: &str) -> Result<(), EligibilityError> {
        if self.collects(education_type) {
            Ok(())
        } else {
            Err(EligibilityError::UnknownEducationType {
                school: self.name.clone(),
                education_type: education_type.to_string(),
            })
        }
    }
}

const MAX_TEXT: usize = 64;

/// A trimmed, non-empty name of at most 64 characters; `what` names it in the refusal.
pub fn clean_text(what: &str, raw: &str) -> Result<String, EligibilityError> {
    let text = photo_ledger_domain::text::visible(raw).map_err(|hidden| {
        EligibilityError::InvalidInput(format!(
            "{what}含有看不见的字符（U+{:04X}，第 {} 个字符），请重新输入",
            u32::from(hidden.character),
            hidden.position + 1
        ))
    })?;
    if text.is_empty() {
        return Err(EligibilityError::InvalidInput(format!("{what}为空")));
    }
    if text.chars().count() > MAX_TEXT {
        return Err(EligibilityError::InvalidInput(format!(
            "{what}“{text}”超过 {MAX_TEXT} 个字符"
        )));
    }
    Ok(text)
}

/// Adds a school, or adds categories to the school of that name. Returns the school and
/// whether it is new.
pub async fn add(
    db: &Db,
    name: &str,
    categories: &[String],
    now: DateTime<Utc>,
) -> Result<(School, bool), EligibilityError> {
    let name = clean_text("学校名称", name)?;
    let categories = categories
        .iter()
        .map(|c| clean_text("学历类别", c))
        .collect::<Result<Vec<_>, _>>()?;
    if categories.is_empty() {
        return Err(EligibilityError::InvalidInput(
            "学校至少要有一个学历类别".into(),
        ));
    }
    let new_id = uuid::Uuid::new_v4().to_string();
    let created = on_db!(db, pool => {
        let mut tx = pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO schools (school_id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
        )
        .bind(&new_id)
        .bind(&name)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected() == 1;
        let school_id: String = sqlx::query_scalar("SELECT school_id FROM schools WHERE name = $1")
            .bind(&name)
            .fetch_one(&mut *tx)
            .await?;
        for category in &categories {
            sqlx::query(
                "INSERT INTO school_categories (school_id, education_type) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(&school_id)
            .bind(category)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok::<_, sqlx::Error>(inserted)
    })?;
    Ok((by_name(db, &name).await?, created))
}

/// Every school, by name.
pub async fn list(db: &Db) -> Result<Vec<School>, EligibilityError> {
    let rows: Vec<(String, String, Option<String>)> = on_db!(db, pool => sqlx::query_as(
        "SELECT s.school_id, s.name, c.education_type FROM schools s
         LEFT JOIN school_categories c ON c.school_id = s.school_id
         ORDER BY s.name, c.education_type")
        .fetch_all(pool)
        .await)?;
    let mut schools: Vec<School> = Vec::new();
    for (school_id, name, category) in rows {
        if schools.last().is_none_or(|s| s.school_id != school_id) {
            schools.push(School {
                school_id,
                name,
                categories: vec![],
            });
        }
        if let (Some(category), Some(school)) = (category, schools.last_mut()) {
            school.categories.push(category);
        }
    }
    Ok(schools)
}

/// The school of that name (as typed: surrounding spaces do not matter).
pub async fn by_name(db: &Db, name: &str) -> Result<School, EligibilityError> {
    let name = name.trim();
    let school_id: Option<String> = on_db!(db, pool => sqlx::query_scalar(
        "SELECT school_id FROM schools WHERE name = $1")
        .bind(name)
        .fetch_optional(pool)
        .await)?;
    match school_id {
        Some(id) => by_id(db, &id).await,
        None => Err(EligibilityError::UnknownSchool(name.to_string())),
    }
}

pub async fn by_id(db: &Db, school_id: &str) -> Result<School, EligibilityError> {
    let name: Option<String> = on_db!(db, pool => sqlx::query_scalar(
        "SELECT name FROM schools WHERE school_id = $1")
        .bind(school_id)
        .fetch_optional(pool)
        .await)?;
    let name = name.ok_or_else(|| EligibilityError::UnknownSchool(school_id.to_string()))?;
    let categories: Vec<String> = on_db!(db, pool => sqlx::query_scalar(
        "SELECT education_type FROM school_categories WHERE school_id = $1 ORDER BY education_type")
        .bind(school_id)
        .fetch_all(pool)
        .await)?;
    Ok(School {
        school_id: school_id.to_string(),
        name,
        categories,
    })
}
