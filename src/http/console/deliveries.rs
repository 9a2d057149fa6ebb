//! Admins' page for the 学信网 delivery: per batch, the approved photos waiting for a package
//! (one button makes it); every package with its downloads, a download button (which marks
//! its photos 上网中) and, once 学信网 shows them, a button that marks them 已完成.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use maud::html;
use photo_ledger_domain::feature_code::FeatureCode;
use serde::Deserialize;

use super::page::{layout, respond, see_other, PageError};
use super::session::Session;
use crate::china_time;
use crate::eligibility::batches;
use crate::eligibility::cohort::Cohort;
use crate::http::deliveries::zip_response;
use crate::http::extract::{Admins, CommandContext};
use crate::http::state::AppState;

/// The packages the page lists, newest first.
const PACKAGES_SHOWN: u32 = 100;

#[derive(Deserialize)]
pub struct DeliveriesQuery {
    /// The package just made.
    made: Option<String>,
    /// The package just marked completed.
    completed: Option<String>,
}

/// `GET /console/deliveries`
pub async fn page(
    state: web::Data<AppState>,
    session: Session<Admins>,
    query: web::Query<DeliveriesQuery>,
) -> Result<HttpResponse, PageError> {
    let db = state.ledger.db();
    let batches = batches::list(db).await?;
    let mut waiting = HashMap::new();
    for school_id in batches.iter().map(|b| &b.school_id) {
        if !waiting.contains_key(school_id) {
            waiting.insert(
                school_id.clone(),
                state.deliveries.waiting(school_id).await?,
            );
        }
    }
    let feature_codes: HashMap<&str, &FeatureCode> = batches
        .iter()
        .map(|b| (b.batch_id.as_str(), &b.feature_code))
        .collect();
    let packages = state.deliveries.list(PACKAGES_SHOWN).await?;
    let when = |at: &chrono::DateTime<chrono::Utc>| china_time::format(at, "%m-%d %H:%M");
    let body = html! {
        h1 { "学信网交付" }
        @if let Some(made) = packages.iter().find(|(p, _)| Some(&p.package_id) == query.made.as_ref()) {
            p.card role="status" {
                "已生成交付包：" (made.0.captures) " 张照片。下载后，包中的照片即标记为“上网中”。"
            }
        }
        @if query.completed.is_some() {
            p.card role="status" { "已将交付包中的照片标记为“已完成”。" }
        }
        section.card {
            h2 { "待交付" }
            p.muted { "审核通过、尚未上传学信网、也不在任何交付包中的照片。生成交付包后，此后才通过的照片留待下一个包。" }
            table {
                tr { th { "学校" } th { "学历类别" } th { "批次特征码" } th { "待交付" } th {} }
                @for batch in &batches {
                    @let count = waiting.get(&batch.school_id).and_then(|w| w.get(&Some(batch.batch_id.clone()))).copied().unwrap_or(0);
                    tr {
                        td { (batch.school_name) }
                        td { (batch.education_type) }
                        td { code { (batch.feature_code) } }
                        td.count { (count) }
                        td {
                            @if count > 0 {
                                form.inline method="post" action="/console/deliveries" {
                                    input type="hidden" name="csrf" value=(session.csrf);
                                    input type="hidden" name="batch" value=(batch.feature_code);
                                    button type="submit" { "生成交付包" }
                                }
                            }
                        }
                    }
                }
            }
        }
        section.card {
            h2 { "交付包（最近 " (PACKAGES_SHOWN) " 个）" }
            @if packages.is_empty() {
                p { "还没有交付包。" }
            } @else {
                table.packages {
                    tr { th { "生成时间" } th { "批次" } th { "照片" } th { "生成人" } th { "下载记录" } th { "学信网状态" } th {} }
                    @for (package, downloads) in &packages {
                        tr data-package=(package.package_id) {
                            td { (when(&package.created_at)) }
                            td {
                                @match package.batch_id.as_deref().and_then(|b| feature_codes.get(b)) {
                                    Some(code) => code { (code) },
                                    None => "整个学校",
                                }
                            }
                            td.count { (package.captures) }
                            td { (package.created_by) }
                            td {
                                @if downloads.is_empty() { span.muted { "未下载" } }
                                @for download in downloads {
                                    (download.downloaded_by) " " (when(&download.downloaded_at)) br;
                                }
                            }
                            td {
                                @match (&package.completed_at, downloads.is_empty()) {
                                    (Some(at), _) => { "已完成 " (when(at)) },
                                    (None, true) => span.muted { "—" },
                                    (None, false) => "上网中",
                                }
                            }
                            td {
                                form.inline method="post" action={ "/console/deliveries/" (package.package_id) "/download" } {
                                    input type="hidden" name="csrf" value=(session.csrf);
                                    button type="submit" title=(package.file_name) { "下载 ZIP" }
                                }
                                @if package.completed_at.is_none() && !downloads.is_empty() {
                                    " "
                                    form.inline method="post" action={ "/console/deliveries/" (package.package_id) "/completed" } {
                                        input type="hidden" name="csrf" value=(session.csrf);
                                        button type="submit" { "标记已完成" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(respond(
        StatusCode::OK,
        layout("学信网交付", Some((&session.caller, &session.csrf)), body),
    ))
}

#[derive(Deserialize)]
pub struct PrepareForm {
    #[serde(default)]
    csrf: String,
    batch: String,
}

/// `POST /console/deliveries` (`batch`): makes the batch's package, then the page again.
pub async fn prepare(
    state: web::Data<AppState>,
    session: Session<Admins>,
    form: web::Form<PrepareForm>,
) -> Result<HttpResponse, PageError> {
    session.check(&state, &form.csrf)?;
    let batch = Cohort::parse(Some(&form.batch), None)?;
    let package = state
        .deliveries
        .prepare(&batch, &session.caller.subject)
        .await?;
    Ok(see_other(&format!(
        "/console/deliveries?made={}",
        package.package_id
    )))
}

#[derive(Deserialize)]
pub struct PackageForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /console/deliveries/{id}/download`: the package's ZIP (its photos marked 上网中).
pub async fn download(
    state: web::Data<AppState>,
    session: Session<Admins>,
    ctx: CommandContext,
    path: web::Path<String>,
    form: web::Form<PackageForm>,
) -> Result<HttpResponse, PageError> {
    session.check(&state, &form.csrf)?;
    let file = state
        .deliveries
        .download(&path, &ctx.requester(&session.caller))
        .await?;
    Ok(zip_response(file))
}

/// `POST /console/deliveries/{id}/completed`: marks the package's photos 已完成.
pub async fn completed(
    state: web::Data<AppState>,
    session: Session<Admins>,
    ctx: CommandContext,
    path: web::Path<String>,
    form: web::Form<PackageForm>,
) -> Result<HttpResponse, PageError> {
    session.check(&state, &form.csrf)?;
    let package = state
        .deliveries
        .complete(&path, &ctx.requester(&session.caller))
        .await?;
    Ok(see_other(&format!(
        "/console/deliveries?completed={}",
        package.package_id
    )))
}
