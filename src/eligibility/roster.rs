//! A school's roster (graduate list): who may be photographed, as the school says.
//!
//! An import validates every row, stores the good ones and reports each bad one with its line
//! number and reason; a bad row never stops the others. Rows are keyed by (school, education
//! category, student number), so importing again updates a student instead of adding them twice.
//! Each import is recorded with who ran it, when, the file's SHA-256 and the counts.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use photo_ledger_domain::feature_code::FeatureCode;
use photo_ledger_domain::id_number::{normalise_document_text, IdNumber, IdNumberError};
use photo_ledger_domain::identity::{IdType, StudentIdentity};
use photo_ledger_store::{on_db, Db};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::types::Json;

use super::batches::{self, Batch};
use super::error::EligibilityError;
use super::roster_file::{self, Column, SheetRow};
use super::schools::{self, School};

/// One education record of one student, as the roster holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RosterStudent {
    pub school_id: String,
    pub education_type: String,
    pub student_number: String,
    pub name: String,
    pub id_type: IdType,
    /// Normalised: upper case, ASCII brackets.
    pub id_number: IdNumber,
    pub level: Option<String>,
    pub major: Option<String>,
    pub graduation_year: Option<u16>,
    pub batch_id: Option<String>,
}

impl RosterStudent {
    pub fn identity(&self, collection_code: Option<String>) -> StudentIdentity {
        StudentIdentity {
            name: self.name.clone(),
            id_type: self.id_type,
            id_number: self.id_number.clone(),
            student_number: Some(self.student_number.clone()),
            collection_code,
            major: self.major.clone(),
            level: self.level.clone(),
            graduation_year: self.graduation_year,
        }
    }
}

/// Student numbers compare as typed on a phone: spaces, full-width forms and case ignored.
pub fn normalise_student_number(raw: &str) -> String {
    normalise_document_text(raw)
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RowProblem {
    pub line: usize,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub import_id: String,
    pub file_sha256: String,
    pub rows_read: usize,
    pub inserted: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub problems: Vec<RowProblem>,
}

pub struct ImportRequest<'a> {
    pub school: &'a str,
    /// Ties the imported students to this batch (its category must match theirs).
    pub batch: Option<&'a FeatureCode>,
    pub file_name: &'a str,
    pub bytes: &'a [u8],
    pub imported_by: &'a str,
    pub at: DateTime<Utc>,
}

/// Imports a roster file. File-level problems (unreadable, missing columns, unknown school or
/// batch) are errors; row-level problems are in the report.
pub async fn import(db: &Db, request: ImportRequest<'_>) -> Result<ImportReport, EligibilityError> {
    let school = schools::by_name(db, request.school).await?;
    let batch = match request.batch {
        Some(code) => {
            let batch = batches::by_feature_code(db, code).await?;
            if batch.school_id != school.school_id {
                return Err(EligibilityError::InvalidInput(format!(
                    "批次 {code} 属于{}，不属于{}",
                    batch.school_name, school.name
                )));
            }
            Some(batch)
        }
        None => None,
    };
    let rows = roster_file::read(request.file_name, request.bytes)?;
    let rows_read = rows.len();
    let (students, mut problems) = validate(rows, &school, batch.as_ref(), request.at);
    let import_id = uuid::Uuid::new_v4().to_string();
    let file_sha256 = hex::encode(Sha256::digest(request.bytes));
    let (mut inserted, mut updated, mut unchanged) = (0, 0, 0);
    on_db!(db, pool => {
        let mut tx = pool.begin().await?;
        // Recorded first so each row can name the import that last wrote it; counts follow.
        sqlx::query(
            "INSERT INTO roster_imports (import_id, school_id, batch_id, imported_by, imported_at,
                file_name, file_sha256, rows_read, inserted, updated, unchanged, rejected, problems)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, 0, 0, 0, $9)")
            .bind(&import_id)
            .bind(&school.school_id)
            .bind(batch.as_ref().map(|b| b.batch_id.as_str()))
            .bind(request.imported_by)
            .bind(request.at)
            .bind(request.file_name)
            .bind(&file_sha256)
            .bind(count(rows_read))
            .bind(Json(&problems))
            .execute(&mut *tx)
            .await?;
        for (line, student) in &students {
            // One person, one record per category: an ID number already under another student
            // number is a renumbering or a typo the school must resolve.
            let holder: Option<String> = sqlx::query_scalar(
                "SELECT student_number FROM roster_students
                 WHERE school_id = $1 AND education_type = $2 AND id_number = $3
                   AND student_number <> $4")
                .bind(&student.school_id)
                .bind(&student.education_type)
                .bind(student.id_number.as_str())
                .bind(&student.student_number)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(holder) = holder {
                problems.push(RowProblem {
                    line: *line,
                    reason: format!("证件号码已登记在学号 {holder} 名下"),
                });
                continue;
            }
            let existing: Option<StudentRow> = sqlx::query_as(&format!(
                "{SELECT} WHERE school_id = $1 AND education_type = $2 AND student_number = $3"))
                .bind(&student.school_id)
                .bind(&student.education_type)
                .bind(&student.student_number)
                .fetch_optional(&mut *tx)
                .await?;
            let existing = existing.map(from_row).transpose().map_err(decode_error)?;
            match existing {
                Some(current) if current == *student => {
                    unchanged += 1;
                    continue;
                }
                Some(_) => updated += 1,
                None => inserted += 1,
            }
            sqlx::query(
                "INSERT INTO roster_students (school_id, education_type, student_number, name,
                    id_type, id_number, level, major, graduation_year, batch_id, import_id, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                 ON CONFLICT (school_id, education_type, student_number) DO UPDATE SET
                    name = excluded.name, id_type = excluded.id_type, id_number = excluded.id_number,
                    level = excluded.level, major = excluded.major,
                    graduation_year = excluded.graduation_year, batch_id = excluded.batch_id,
                    import_id = excluded.import_id, updated_at = excluded.updated_at")
                .bind(&student.school_id)
                .bind(&student.education_type)
                .bind(&student.student_number)
                .bind(&student.name)
                .bind(id_type_name(student.id_type))
                .bind(student.id_number.as_str())
                .bind(&student.level)
                .bind(&student.major)
                .bind(student.graduation_year.map(i32::from))
                .bind(&student.batch_id)
                .bind(&import_id)
                .bind(request.at)
                .execute(&mut *tx)
                .await?;
        }
        problems.sort_by_key(|p| p.line);
        sqlx::query(
            "UPDATE roster_imports SET inserted = $2, updated = $3, unchanged = $4, rejected = $5,
                problems = $6
             WHERE import_id = $1")
            .bind(&import_id)
            .bind(count(inserted))
            .bind(count(updated))
            .bind(count(unchanged))
            .bind(count(problems.len()))
            .bind(Json(&problems))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(())
    })?;
    Ok(ImportReport {
        import_id,
        file_sha256,
        rows_read,
        inserted,
        updated,
        unchanged,
        problems,
    })
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Checks every row; returns the good students with their lines and a problem for each bad row.
fn validate(
    rows: Vec<SheetRow>,
    school: &School,
    batch: Option<&Batch>,
    now: DateTime<Utc>,
) -> (Vec<(usize, RosterStudent)>, Vec<RowProblem>) {
    let today = now.with_timezone(&crate::china_time::CHINA).date_naive();
    let mut students = Vec::new();
    let mut problems = Vec::new();
    let mut numbers: HashMap<(String, String), usize> = HashMap::new();
    let mut ids: HashMap<(String, IdNumber), usize> = HashMap::new();
    for row in rows {
        let student = match validate_row(&row, school, batch, today) {
            Ok(student) => student,
            Err(reason) => {
                problems.push(RowProblem {
                    line: row.line,
                    reason,
                });
                continue;
            }
        };
        let number_key = (
            student.education_type.clone(),
            student.student_number.clone(),
        );
        let id_key = (student.education_type.clone(), student.id_number.clone());
        if let Some(first) = numbers.get(&number_key) {
            problems.push(RowProblem {
                line: row.line,
                reason: format!("学号 {} 与第 {first} 行重复", student.student_number),
            });
            continue;
        }
        if let Some(first) = ids.get(&id_key) {
            problems.push(RowProblem {
                line: row.line,
                reason: format!("证件号码与第 {first} 行重复"),
            });
            continue;
        }
        numbers.insert(number_key, row.line);
        ids.insert(id_key, row.line);
        students.push((row.line, student));
    }
    (students, problems)
}

fn validate_row(
    row: &SheetRow,
    school: &School,
    batch: Option<&Batch>,
    today: chrono::NaiveDate,
) -> Result<RosterStudent, String> {
    let required = |column: Column| -> Result<&str, String> {
        row.get(column)
            .map(|c| c.text.as_str())
            .ok_or_else(|| format!("{}为空", column.headers().0))
    };
    let optional = |column: Column| row.get(column).map(|c| c.text.clone());

    let student_number = normalise_student_number(required(Column::StudentNumber)?);
    if student_number.chars().count() > 32 {
        return Err(format!("学号 {student_number} 超过 32 个字符"));
    }
    let name = photo_ledger_domain::text::visible(required(Column::Name)?).map_err(|hidden| {
        format!(
            "姓名含有看不见的字符（U+{:04X}）",
            u32::from(hidden.character)
        )
    })?;
    if name.chars().count() > 64 {
        return Err("姓名超过 64 个字符".into());
    }
    let id_type_text = required(Column::IdType)?;
    let id_type = IdType::parse(id_type_text).ok_or_else(|| {
        format!("证件类型“{id_type_text}”无法识别，应为 居民身份证、港澳台居民证件 或 护照")
    })?;
    let id_cell = row
        .get(Column::IdNumber)
        .ok_or_else(|| "证件号码为空".to_string())?;
    // A spreadsheet number keeps about 15 significant digits: an 18-digit ID typed as a
    // number has already lost its last digits, even if they happen to pass the check.
    if id_cell.numeric && id_cell.text.chars().filter(char::is_ascii_digit).count() > 15 {
        return Err(
            "证件号码被 Excel 存成了数字，末几位已丢失：请把该列设为文本格式后重新导出".into(),
        );
    }
    let id_number = IdNumber::parse(id_type, &id_cell.text, today).map_err(|e| id_problem(&e))?;
    let education_type = required(Column::EducationType)?.to_string();
    if !school.collects(&education_type) {
        return Err(format!(
            "学历类别“{education_type}”不在{}的采集类别（{}）中",
            school.name,
            school.categories.join("、")
        ));
    }
    if let Some(batch) = batch {
        if batch.education_type != education_type {
            return Err(format!(
                "学历类别“{education_type}”与批次 {} 的类别“{}”不符",
                batch.feature_code, batch.education_type
            ));
        }
    }
    let graduation_year = match optional(Column::GraduationYear) {
        Some(text) => Some(
            text.parse::<u16>()
                .ok()
                .filter(|y| (1950..=2100).contains(y))
                .ok_or_else(|| format!("毕业年份“{text}”应为四位年份"))?,
        ),
        None => None,
    };
    Ok(RosterStudent {
        school_id: school.school_id.clone(),
        education_type,
        student_number,
        name,
        id_type,
        id_number,
        level: optional(Column::Level),
        major: optional(Column::Major),
        graduation_year,
        batch_id: batch.map(|b| b.batch_id.clone()),
    })
}

fn id_problem(e: &IdNumberError) -> String {
    match e {
        IdNumberError::Empty => "证件号码为空".into(),
        IdNumberError::ResidentLength(n) => format!("身份证号码应为 18 位，实为 {n} 位"),
        IdNumberError::ResidentCharacters => "身份证号码应为 17 位数字加一位数字或 X".into(),
        IdNumberError::BirthDate(d) => format!("身份证号码中的出生日期 {d} 不存在"),
        IdNumberError::BirthDateOutOfRange(d) => format!("身份证号码中的出生日期 {d} 不合理"),
        IdNumberError::CheckDigit { expected, found } => {
            format!("身份证号码校验位应为 {expected}，实为 {found}")
        }
        IdNumberError::DocumentLength(n) => format!("证件号码应为 5 到 20 个字符，实为 {n} 个"),
        IdNumberError::DocumentCharacters => "证件号码只能包含字母、数字和末尾的括号校验位".into(),
    }
}

fn id_type_name(id_type: IdType) -> &'static str {
    match id_type {
        IdType::ResidentId => "resident_id",
        IdType::HkMacaoTaiwan => "hk_macao_taiwan",
        IdType::Passport => "passport",
    }
}

const SELECT: &str = "SELECT school_id, education_type, student_number, name, id_type, id_number,
    level, major, graduation_year, batch_id FROM roster_students";

type StudentRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<i32>,
    Option<String>,
);

fn from_row(row: StudentRow) -> Result<RosterStudent, String> {
    let (
        school_id,
        education_type,
        student_number,
        name,
        id_type,
        id_number,
        level,
        major,
        graduation_year,
        batch_id,
    ) = row;
    let id_type = IdType::parse(&id_type).ok_or_else(|| format!("stored id_type {id_type:?}"))?;
    // Checked again as it is read, like a batch's feature code: a roster row only ever holds a
    // number that passed on import.
    let id_number = IdNumber::parse(id_type, &id_number, chrono::Utc::now().date_naive())
        .map_err(|e| format!("stored id_number: {e}"))?;
    Ok(RosterStudent {
        id_type,
        graduation_year: graduation_year
            .map(u16::try_from)
            .transpose()
            .map_err(|_| "stored graduation_year".to_string())?,
        school_id,
        education_type,
        student_number,
        name,
        id_number,
        level,
        major,
        batch_id,
    })
}

fn decode_error(what: String) -> sqlx::Error {
    sqlx::Error::Decode(format!("roster row: {what}").into())
}

/// The roster records with this student number at a school, in every category or in one.
pub async fn find(
    db: &Db,
    school_id: &str,
    student_number: &str,
    education_type: Option<&str>,
) -> Result<Vec<RosterStudent>, EligibilityError> {
    let number = normalise_student_number(student_number);
    let sql = format!(
        "{SELECT} WHERE school_id = $1 AND student_number = $2 AND ($3 IS NULL OR education_type = $3)
         ORDER BY education_type"
    );
    let rows: Vec<StudentRow> = on_db!(db, pool => sqlx::query_as(&sql)
        .bind(school_id)
        .bind(&number)
        .bind(education_type)
        .fetch_all(pool)
        .await)?;
    rows.into_iter()
        .map(|row| from_row(row).map_err(|e| EligibilityError::Store(decode_error(e))))
        .collect()
}

/// A school's whole roster, or one category of it, by student number.
pub async fn students_of(
    db: &Db,
    school_id: &str,
    education_type: Option<&str>,
) -> Result<Vec<RosterStudent>, EligibilityError> {
    let sql = format!(
        "{SELECT} WHERE school_id = $1 AND ($2 IS NULL OR education_type = $2)
         ORDER BY education_type, student_number"
    );
    let rows: Vec<StudentRow> = on_db!(db, pool => sqlx::query_as(&sql)
        .bind(school_id)
        .bind(education_type)
        .fetch_all(pool)
        .await)?;
    rows.into_iter()
        .map(|row| from_row(row).map_err(|e| EligibilityError::Store(decode_error(e))))
        .collect()
}

/// One recorded import, as admins review them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ImportRecord {
    pub import_id: String,
    pub batch_id: Option<String>,
    pub imported_by: String,
    pub imported_at: DateTime<Utc>,
    pub file_name: String,
    pub file_sha256: String,
    pub rows_read: i32,
    pub inserted: i32,
    pub updated: i32,
    pub unchanged: i32,
    #[sqlx(json)]
    pub problems: Vec<RowProblem>,
}

/// A school's roster imports, newest first.
pub async fn imports_of(
    db: &Db,
    school_id: &str,
    limit: u32,
) -> Result<Vec<ImportRecord>, EligibilityError> {
    Ok(on_db!(db, pool => sqlx::query_as(
        "SELECT import_id, batch_id, imported_by, imported_at, file_name, file_sha256, rows_read,
            inserted, updated, unchanged, problems
         FROM roster_imports WHERE school_id = $1
         ORDER BY imported_at DESC, import_id LIMIT $2")
        .bind(school_id)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await)?)
}
