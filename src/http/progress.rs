//! Admins' routes for collection progress: a batch's (or a school's) counts, and the students
//! behind any count, as JSON or as the CSV school staff chase students with.

use actix_web::{web, HttpResponse};
use photo_ledger_projections::collection_progress::{self, Counts, Stage, StudentProgress};
use serde::{Deserialize, Serialize};

use super::download::attachment;
use super::error::{ApiCode, ApiError, ErrorBody};
use super::extract::{limit_within, Admins, Auth};
use crate::eligibility::cohort::{Cohort, Found};
use crate::http::state::AppState;
use crate::progress::{self, Export};

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ProgressQuery {
    /// The batch, by feature code.
    batch: Option<String>,
    /// Every batch of the school, by name (instead of `batch`).
    school: Option<String>,
}

#[derive(Serialize)]
struct ProgressAnswer {
    cohort: Found,
    counts: Counts,
}

#[utoipa::path(get, path = "/api/v1/admin/progress", tag = "admins", params(ProgressQuery), security(("bearer" = [])),
    responses((status = 200, description = "`{cohort: {school_id, school, batch}, counts: {roster, not_started, verified, paid, photographed, in_review, rejected, approved, delivered, median_review_wait_secs}}`", body = Object),
        (status = 404, description = "`eligibility.unknown_batch`, `eligibility.unknown_school`", body = ErrorBody), (status = "4XX", body = ErrorBody)))]
/// `GET /admin/progress?batch=|school=`: how far the students have got.
pub async fn counts(
    state: web::Data<AppState>,
    _caller: Auth<Admins>,
    query: web::Query<ProgressQuery>,
) -> Result<HttpResponse, ApiError> {
    let db = state.ledger.db();
    let cohort = Cohort::parse(query.batch.as_deref(), query.school.as_deref())?
        .find(db)
        .await?;
    let counts = collection_progress::counts(db, progress::scope(&cohort)).await?;
    Ok(HttpResponse::Ok().json(ProgressAnswer { cohort, counts }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StudentsQuery {
    /// The batch, by feature code.
    batch: Option<String>,
    /// Every batch of the school, by name (instead of `batch`).
    school: Option<String>,
    /// `not_started`, `verified`, `not_paid`, `paid`, `not_photographed`, `photographed`,
    /// `in_review`, `rejected`, `approved` or `delivered`.
    #[param(value_type = String)]
    stage: Stage,
    /// `json` (the default), `csv` or `xlsx`.
    format: Option<String>,
    /// 1 to 100000; 10000 when absent.
    #[param(minimum = 1, maximum = 100000)]
    limit: Option<u32>,
}

#[derive(Serialize)]
struct StudentsAnswer {
    students: Vec<StudentProgress>,
}

#[utoipa::path(get, path = "/api/v1/admin/progress/students", tag = "admins", params(StudentsQuery), security(("bearer" = [])),
    responses((status = 200, description = "`{students: [{student_number, name, education_type, capture_id, status, status_label, paid_at, photographed_at, submitted_at, decided_at}]}` by student number, or the same as CSV (`text/csv`, UTF-8 with a byte-order mark) or as an Excel workbook", body = Object),
        (status = 404, description = "`eligibility.unknown_batch`, `eligibility.unknown_school`", body = ErrorBody), (status = "4XX", body = ErrorBody)))]
/// `GET /admin/progress/students?batch=|school=&stage=&format=`: the students behind one count.
pub async fn students(
    state: web::Data<AppState>,
    _caller: Auth<Admins>,
    query: web::Query<StudentsQuery>,
) -> Result<HttpResponse, ApiError> {
    let export = match query.format.as_deref() {
        None | Some("json") => None,
        Some(format) => Some(Export::parse(format).ok_or_else(|| {
            ApiError::with_message(ApiCode::InvalidQuery, "format 只能为 json、csv 或 xlsx")
        })?),
    };
    let limit = limit_within(query.limit, 10_000, 100_000)?;
    let db = state.ledger.db();
    let cohort = Cohort::parse(query.batch.as_deref(), query.school.as_deref())?
        .find(db)
        .await?;
    let students =
        collection_progress::students(db, progress::scope(&cohort), query.stage, limit).await?;
    match export {
        None => Ok(HttpResponse::Ok().json(StudentsAnswer { students })),
        Some(export) => exported(export, &cohort, query.stage, students).await,
    }
}

/// The students behind a count as a file to take away, named by batch (or `school`) and stage;
/// written on a blocking thread (up to 100,000 rows).
pub async fn exported(
    export: Export,
    cohort: &Found,
    stage: Stage,
    students: Vec<StudentProgress>,
) -> Result<HttpResponse, ApiError> {
    let body = tokio::task::spawn_blocking(move || export.write(&students))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|e| ApiError::internal(&e))?;
    let batch = cohort
        .batch
        .as_ref()
        .map_or("school", |b| b.feature_code.as_str());
    let file_name = format!("progress-{batch}-{}.{}", stage.code(), export.extension());
    Ok(attachment(export.content_type(), &file_name).body(body))
}
