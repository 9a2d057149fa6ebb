//! Admins' page: the guessing locks in force, each with a form to lift it early (why is
//! required and kept with who lifted it), and the failed-verification log of the last day.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use maud::html;
use photo_ledger_domain::events::VerificationMethod;
use serde::Deserialize;

use super::page::{layout, respond, see_other, PageError};
use super::session::Session;
use crate::china_time;
use crate::eligibility::attempts;
use crate::guessing;
use crate::http::extract::Admins;
use crate::http::locks::{lift_lock, MAX_REASON_CHARS};
use crate::http::state::AppState;

/// The failed verifications the page lists, newest first.
const FAILURES_SHOWN: u32 = 200;

#[derive(Deserialize)]
pub struct AdminQuery {
    /// After a lift: `1` when a lock was lifted, `0` when the key was no longer locked.
    lifted: Option<u8>,
}

/// `GET /console/admin`
pub async fn page(
    state: web::Data<AppState>,
    session: Session<Admins>,
    query: web::Query<AdminQuery>,
) -> Result<HttpResponse, PageError> {
    let now = Utc::now();
    let db = state.ledger.db();
    let locks = guessing::locks(db, now).await?;
    let failures = attempts::list(db, now - Duration::days(1), FAILURES_SHOWN).await?;
    let when = |at: &DateTime<Utc>| china_time::format(at, "%m-%d %H:%M:%S");
    let body = html! {
        h1 { "管理" }
        @match query.lifted {
            Some(1) => p.card role="status" { "已解除锁定，并记录了解除人与原因。" },
            Some(_) => p.card role="status" { "该项已不在锁定中，无需解除。" },
            None => {}
        }
        section.card {
            h2 { "猜测锁定（" (locks.len()) "）" }
            p.muted { "多次核验失败的学生记录、账号或地址会被暂时锁定。确认是本人后可提前解除，须写明原因。" }
            @if locks.is_empty() {
                p { "当前没有锁定。" }
            } @else {
                table {
                    tr { th { "锁定对象" } th { "锁定至" } th { "提前解除" } }
                    @for lock in &locks {
                        tr {
                            td { code { (lock.key) } }
                            td { (when(&lock.locked_until)) }
                            td {
                                form.inline method="post" action="/console/admin/locks/lift" {
                                    input type="hidden" name="csrf" value=(session.csrf);
                                    input type="hidden" name="key" value=(lock.key);
                                    input type="text" name="reason" required maxlength=(MAX_REASON_CHARS)
                                        placeholder="原因（必填）" aria-label="解除原因";
                                    " "
                                    button type="submit" { "解除" }
                                }
                            }
                        }
                    }
                }
            }
        }
        section.card {
            h2 { "核验失败记录（近 24 小时，最多 " (FAILURES_SHOWN) " 条）" }
            @if failures.is_empty() {
                p { "近 24 小时没有失败的核验。" }
            } @else {
                table {
                    tr { th { "时间" } th { "调用者" } th { "学生记录" } th { "方式" } th { "结果代码" } th { "计入锁定" } }
                    @for failure in &failures {
                        tr {
                            td { (when(&failure.at)) }
                            td { code { (failure.caller) } }
                            td { @if let Some(subject) = &failure.subject { code { (subject) } } }
                            td { (method_label(failure.method)) }
                            td { code { (failure.code) } }
                            td { @if failure.counted { "是" } @else { "否" } }
                        }
                    }
                }
            }
        }
    };
    Ok(respond(
        StatusCode::OK,
        layout("管理", Some((&session.caller, &session.csrf)), body),
    ))
}

fn method_label(method: VerificationMethod) -> &'static str {
    match method {
        VerificationMethod::CollectionCode => "采集码",
        VerificationMethod::FeatureCode => "批次特征码",
        VerificationMethod::StudentNumber => "学号",
    }
}

#[derive(Deserialize)]
pub struct LiftForm {
    #[serde(default)]
    csrf: String,
    key: String,
    #[serde(default)]
    reason: String,
}

/// `POST /console/admin/locks/lift` (`key`, `reason`): lifts the lock, as the API's
/// `POST /admin/locks/lift` does, then the page again.
pub async fn lift(
    state: web::Data<AppState>,
    session: Session<Admins>,
    form: web::Form<LiftForm>,
) -> Result<HttpResponse, PageError> {
    session.check(&state, &form.csrf)?;
    let lifted = lift_lock(&state, &session.caller.subject, &form.key, &form.reason).await?;
    Ok(see_other(&format!(
        "/console/admin?lifted={}",
        u8::from(lifted.is_some())
    )))
}
