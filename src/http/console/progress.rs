//! Admins' collection progress page: pick a batch (or a whole school), see how far its students
//! have got, open the list behind any count, or take it away as an Excel workbook or CSV to chase
//! students with.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use maud::{html, Markup};
use photo_ledger_projections::collection_progress::{self, Counts, Stage};
use serde::Deserialize;

use super::page::{layout, respond, PageError};
use super::session::Session;
use crate::china_time;
use crate::eligibility::cohort::{Cohort, Found};
use crate::eligibility::{batches, schools};
use crate::http::error::{ApiCode, ApiError};
use crate::http::extract::Admins;
use crate::http::progress::exported;
use crate::http::state::AppState;
use crate::progress::{self, Export};

/// Most students a list shows on the page; the files have them all.
const LISTED: i64 = 500;
/// Most students a file holds.
const EXPORTED: i64 = 100_000;

#[derive(Deserialize)]
pub struct ProgressQuery {
    /// The batch, by feature code.
    batch: Option<String>,
    /// A whole school, by name.
    school: Option<String>,
}

impl ProgressQuery {
    /// What was picked; `None` before anything is.
    fn cohort(&self) -> Result<Option<Cohort>, PageError> {
        fn picked(v: &Option<String>) -> Option<&str> {
            v.as_deref().filter(|v| !v.is_empty())
        }
        match (picked(&self.batch), picked(&self.school)) {
            (None, None) => Ok(None),
            (batch, school) => Ok(Some(Cohort::parse(batch, school)?)),
        }
    }

    /// The query string that names the same cohort.
    fn again(found: &Found) -> String {
        let pair = match &found.batch {
            Some(b) => ("batch", b.feature_code.as_str()),
            None => ("school", found.school.as_str()),
        };
        form_urlencoded::Serializer::new(String::new())
            .append_pair(pair.0, pair.1)
            .finish()
    }
}

/// The rows of the counts table: each count, and the stage whose students it counts.
fn rows(counts: &Counts) -> [(Stage, i64); 10] {
    [
        (Stage::NotStarted, counts.not_started),
        (Stage::Verified, counts.verified),
        (Stage::NotPaid, counts.verified - counts.paid),
        (Stage::Paid, counts.paid),
        (
            Stage::NotPhotographed,
            counts.verified - counts.photographed,
        ),
        (Stage::Photographed, counts.photographed),
        (Stage::InReview, counts.in_review),
        (Stage::Rejected, counts.rejected),
        (Stage::Approved, counts.approved),
        (Stage::Delivered, counts.delivered),
    ]
}

/// `GET /console/progress?batch=|school=`
pub async fn page(
    state: web::Data<AppState>,
    session: Session<Admins>,
    query: web::Query<ProgressQuery>,
) -> Result<HttpResponse, PageError> {
    let db = state.ledger.db();
    let picker = picker(&state, &query).await?;
    let shown = match query.cohort()? {
        Some(cohort) => {
            let found = cohort.find(db).await?;
            let counts = collection_progress::counts(db, progress::scope(&found)).await?;
            Some((found, counts))
        }
        None => None,
    };
    let body = html! {
        h1 { "采集进度" }
        (picker)
        @if let Some((found, counts)) = &shown {
            @let again = ProgressQuery::again(found);
            section.card.progress {
                h2 { (found.title()) }
                p.muted {
                    "名单 " (counts.roster) " 人；"
                    @match counts.median_review_wait_secs {
                        Some(secs) => { "审核等待时间中位数 " (wait(secs)) "。" },
                        None => "还没有审核过的照片。",
                    }
                }
                table {
                    tr { th { "进度" } th { "人数" } th {} }
                    @for (stage, count) in rows(counts) {
                        tr data-stage=(stage.code()) {
                            td { (stage.label()) }
                            td.count { (count) }
                            td {
                                a href={ "/console/progress/students?" (again) "&stage=" (stage.code()) } { "名单" }
                                " · "
                                a href={ "/console/progress/students?" (again) "&stage=" (stage.code()) "&format=xlsx" } { "Excel" }
                                " · "
                                a href={ "/console/progress/students?" (again) "&stage=" (stage.code()) "&format=csv" } { "CSV" }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(respond(
        StatusCode::OK,
        layout("采集进度", Some((&session.caller, &session.csrf)), body),
    ))
}

/// The form that picks a batch or a school.
async fn picker(state: &AppState, query: &ProgressQuery) -> Result<Markup, PageError> {
    let db = state.ledger.db();
    let batches = batches::list(db).await?;
    let schools = schools::list(db).await?;
    let chosen = |v: &Option<String>, option: &str| v.as_deref() == Some(option);
    Ok(html! {
        form.card.filters method="get" action="/console/progress" {
            label { "批次 "
                select name="batch" {
                    option value="" { "—" }
                    @for b in &batches {
                        option value=(b.feature_code) selected[chosen(&query.batch, b.feature_code.as_str())] {
                            (b.school_name) " · " (b.education_type) " · " (b.feature_code)
                        }
                    }
                }
            }
            " 或整个学校 "
            select name="school" aria-label="学校" {
                option value="" { "—" }
                @for s in &schools {
                    option value=(s.name) selected[chosen(&query.school, &s.name)] { (s.name) }
                }
            }
            " "
            button type="submit" { "查看" }
        }
    })
}

/// `3 小时 20 分`, `12 分`, `40 秒`.
fn wait(secs: i64) -> String {
    match secs {
        s if s >= 3600 => format!("{} 小时 {} 分", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{} 分", s / 60),
        s => format!("{s} 秒"),
    }
}

#[derive(Deserialize)]
pub struct StudentsQuery {
    batch: Option<String>,
    school: Option<String>,
    stage: Stage,
    /// `csv` or `xlsx` for the file.
    format: Option<String>,
}

/// `GET /console/progress/students?batch=|school=&stage=&format=`: the students behind a
/// count, as a page or as a file (`xlsx`, `csv`).
pub async fn students(
    state: web::Data<AppState>,
    session: Session<Admins>,
    query: web::Query<StudentsQuery>,
) -> Result<HttpResponse, PageError> {
    let export = match query.format.as_deref() {
        None => None,
        Some(format) => Some(Export::parse(format).ok_or_else(|| {
            ApiError::with_message(ApiCode::InvalidQuery, "format 只能为 csv 或 xlsx")
        })?),
    };
    let db = state.ledger.db();
    let found = Cohort::parse(query.batch.as_deref(), query.school.as_deref())?
        .find(db)
        .await?;
    let limit = if export.is_some() { EXPORTED } else { LISTED };
    let students =
        collection_progress::students(db, progress::scope(&found), query.stage, limit).await?;
    if let Some(export) = export {
        return Ok(exported(export, &found, query.stage, students).await?);
    }
    let again = ProgressQuery::again(&found);
    let when = |at: &Option<chrono::DateTime<chrono::Utc>>| {
        at.as_ref()
            .map(|at| china_time::format(at, "%m-%d %H:%M"))
            .unwrap_or_default()
    };
    let body = html! {
        h1 { (query.stage.label()) }
        p {
            a href={ "/console/progress?" (again) } { "← " (found.title()) }
            " · "
            a href={ "/console/progress/students?" (again) "&stage=" (query.stage.code()) "&format=xlsx" } { "导出 Excel" }
            " · "
            a href={ "/console/progress/students?" (again) "&stage=" (query.stage.code()) "&format=csv" } { "导出 CSV" }
        }
        section.card.students {
            @if students.is_empty() {
                p { "没有学生。" }
            } @else {
                @if students.len() as i64 == LISTED {
                    p.muted { "只显示前 " (LISTED) " 人，全部名单请导出 Excel 或 CSV。" }
                }
                table {
                    tr { th { "学号" } th { "姓名" } th { "学历类别" } th { "状态" } th { "缴费" } th { "拍照" } th { "提交" } th { "审核" } }
                    @for s in &students {
                        tr {
                            td { (s.student_number.as_deref().unwrap_or("")) }
                            td { (s.name.as_deref().unwrap_or("")) }
                            td { (s.education_type) }
                            td { (s.status_label) }
                            td { (when(&s.paid_at)) }
                            td { (when(&s.photographed_at)) }
                            td { (when(&s.submitted_at)) }
                            td { (when(&s.decided_at)) }
                        }
                    }
                }
            }
        }
    };
    Ok(respond(
        StatusCode::OK,
        layout(
            query.stage.label(),
            Some((&session.caller, &session.csrf)),
            body,
        ),
    ))
}
