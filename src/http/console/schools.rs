//! Admins' schools and batches: schools with the categories they collect for; batches made,
//! their policy edited while no student has been verified in them, closed; and a school's
//! roster uploaded, with every bad row shown by its line.

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use maud::{html, Markup};
use photo_ledger_domain::policy::{BatchPolicy, PaperPrintsOffer};
use photo_ledger_domain::values::{Background, Fen};
use serde::Deserialize;

use super::page::{layout, respond, see_other, PageError};
use super::session::Session;
use crate::china_time;
use crate::eligibility::batches::{self, Batch, NewBatch};
use crate::eligibility::code_sheets::{self, MAX_CODES_PER_ZIP};
use crate::eligibility::roster::{self, ImportReport, ImportRequest, RowProblem};
use crate::eligibility::{schools, EligibilityError};
use crate::http::download::attachment;
use crate::http::error::ApiError;
use crate::http::extract::{multipart_fields, Admins, FormField};
use crate::http::state::AppState;

/// A batch form sent again within this many seconds, identical, makes no second batch.
const RESENT_WITHIN_SECS: i64 = 60;

/// The roster imports a school's page lists.
const IMPORTS_SHOWN: u32 = 20;

fn page(title: &str, session: &Session<Admins>, status: StatusCode, body: Markup) -> HttpResponse {
    respond(
        status,
        layout(title, Some((&session.caller, &session.csrf)), body),
    )
}

fn invalid(message: &str) -> PageError {
    PageError::Api(EligibilityError::InvalidInput(message.to_string()).into())
}

#[derive(Deserialize)]
pub struct SchoolsQuery {
    /// What was just done: `school`, `batch`, `edited` or `closed`.
    done: Option<String>,
}

/// `GET /console/schools`
pub async fn list(
    state: web::Data<AppState>,
    session: Session<Admins>,
    query: web::Query<SchoolsQuery>,
) -> Result<HttpResponse, PageError> {
    let db = state.ledger.db();
    let schools = schools::list(db).await?;
    let all_batches = batches::list(db).await?;
    let mut rows = Vec::with_capacity(all_batches.len());
    for batch in all_batches {
        let in_use = batches::in_use(db, &batch).await?;
        rows.push((batch, in_use));
    }
    let now = Utc::now();
    let done = match query.done.as_deref() {
        Some("school") => Some("学校已保存。"),
        Some("batch") => Some("批次已创建，特征码见下表。"),
        Some("edited") => Some("批次规则已修改。"),
        Some("closed") => Some("批次已关闭，学生不能再加入。"),
        _ => None,
    };
    let body = html! {
        h1 { "学校与批次" }
        @if let Some(done) = done { p.card role="status" { (done) } }
        section.card {
            h2 { "学校" }
            table.schools {
                tr { th { "学校" } th { "学历类别" } th {} }
                @for school in &schools {
                    tr data-school=(school.school_id) {
                        td { (school.name) }
                        td { (school.categories.join("、")) }
                        td { a href={ "/console/schools/" (school.school_id) "/roster" } { "名单" } }
                    }
                }
            }
            h3 { "新建学校（或为已有学校增加学历类别）" }
            form method="post" action="/console/schools" {
                input type="hidden" name="csrf" value=(session.csrf);
                label { "学校全称" input type="text" name="name" required; }
                label { "学历类别（每行一个，或以逗号分隔）" textarea name="categories" rows="3" required {} }
                button type="submit" { "保存学校" }
            }
        }
        section.card {
            h2 { "批次" }
            table.batches {
                tr { th { "学校" } th { "学历类别" } th { "特征码" } th { "收费" } th { "规则" } th { "截止" } th {} }
                @for (batch, in_use) in &rows {
                    tr data-batch=(batch.batch_id) {
                        td { (batch.school_name) }
                        td { (batch.education_type) }
                        td { code { (batch.feature_code) } }
                        td { (batch.policy.price_fen) }
                        td { (rules(&batch.policy)) }
                        td { (deadline(batch, now)) }
                        td {
                            @if !in_use {
                                a href={ "/console/batches/" (batch.batch_id) } { "修改规则" } " "
                            }
                            @if batch.is_open(now) {
                                form.inline method="post" action={ "/console/batches/" (batch.batch_id) "/close" } {
                                    input type="hidden" name="csrf" value=(session.csrf);
                                    button type="submit" { "关闭" }
                                }
                            }
                        }
                    }
                }
            }
            h3 { "新建批次" }
            form method="post" action="/console/batches" {
                input type="hidden" name="csrf" value=(session.csrf);
                label { "学校"
                    select name="school" required {
                        @for school in &schools { option value=(school.name) { (school.name) } }
                    }
                }
                label { "学历类别" input type="text" name="education_type" required; }
                (policy_fields(None))
                button type="submit" { "创建批次" }
            }
        }
    };
    Ok(page("学校与批次", &session, StatusCode::OK, body))
}

/// The policy in words: who pays when, camera or album, backgrounds, paper prints.
fn rules(policy: &BatchPolicy) -> String {
    let mut parts = vec![
        if policy.pay_before_upload {
            "先缴费后拍照"
        } else {
            "拍照后缴费"
        }
        .to_string(),
        if policy.album_allowed {
            "可用相册"
        } else {
            "仅现场拍照"
        }
        .to_string(),
        format!("背景 {}", backgrounds_text(&policy.backgrounds)),
    ];
    if let Some(offer) = policy.paper_prints {
        parts.push(format!("冲印 {}/张", offer.price_per_sheet_fen));
    }
    parts.join("，")
}

fn backgrounds_text(backgrounds: &[Background]) -> String {
    backgrounds
        .iter()
        .map(Background::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The last day of a batch (China time), or when it closed.
fn deadline(batch: &Batch, now: DateTime<Utc>) -> String {
    match batch.closes_at {
        None => "不截止".into(),
        Some(at) if at <= now => format!("已于 {} 关闭", china_time::format(&at, "%Y-%m-%d %H:%M")),
        Some(at) => last_day(at),
    }
}

/// The last day of a batch that closes at `closes_at` (the midnight after it), China time.
fn last_day(closes_at: DateTime<Utc>) -> String {
    china_time::format(&(closes_at - chrono::Duration::seconds(1)), "%Y-%m-%d")
}

/// The policy's fields, filled from `batch` when editing.
fn policy_fields(batch: Option<&Batch>) -> Markup {
    let policy = batch.map(|b| b.policy.clone()).unwrap_or_default();
    let yuan = |fen: Fen| format!("{}.{:02}", fen.fen() / 100, fen.fen() % 100);
    let last_day = batch
        .and_then(|b| b.closes_at)
        .map(last_day)
        .unwrap_or_default();
    html! {
        label { "采集费（元，0 为免费）" input type="text" name="price_yuan" inputmode="decimal" required value=(yuan(policy.price_fen)); }
        label.check { input type="checkbox" name="pay_before_upload" value="on" checked[policy.pay_before_upload]; " 先缴费后拍照" }
        label.check { input type="checkbox" name="album_allowed" value="on" checked[policy.album_allowed]; " 允许从相册选择照片" }
        label { "背景色（blue、white、grey 或 #RRGGBB，逗号分隔）" input type="text" name="backgrounds" value=(backgrounds_text(&policy.backgrounds)); }
        label { "纸质照片冲印价格（元/张，留空为不提供）" input type="text" name="paper_prints_yuan" inputmode="decimal" value=(policy.paper_prints.map(|o| yuan(o.price_per_sheet_fen)).unwrap_or_default()); }
        label { "截止日期（留空为不截止）" input type="date" name="deadline" value=(last_day); }
    }
}

#[derive(Deserialize)]
pub struct PolicyForm {
    price_yuan: String,
    pay_before_upload: Option<String>,
    album_allowed: Option<String>,
    #[serde(default)]
    backgrounds: String,
    #[serde(default)]
    paper_prints_yuan: String,
    #[serde(default)]
    deadline: String,
}

impl PolicyForm {
    /// The policy and the moment the batch closes.
    fn read(&self) -> Result<(BatchPolicy, Option<DateTime<Utc>>), PageError> {
        let price_fen = Fen::from_yuan(&self.price_yuan)
            .ok_or_else(|| invalid("采集费须为金额，如 25 或 25.50"))?;
        let backgrounds = self
            .backgrounds
            .split([',', '，', '、', ' '])
            .filter(|b| !b.trim().is_empty())
            .map(|b| b.parse::<Background>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(&format!("背景色无效：{e}")))?;
        // None named: the three standard ones, as the API gives.
        let backgrounds = if backgrounds.is_empty() {
            BatchPolicy::default().backgrounds
        } else {
            backgrounds
        };
        let paper_prints = match self.paper_prints_yuan.trim() {
            "" => None,
            price => Some(PaperPrintsOffer {
                price_per_sheet_fen: Fen::from_yuan(price)
                    .ok_or_else(|| invalid("冲印价格须为金额，如 15 或 15.00"))?,
            }),
        };
        let closes_at = match self.deadline.trim() {
            "" => None,
            day => Some(batches::closes_after(
                NaiveDate::parse_from_str(day, "%Y-%m-%d")
                    .map_err(|_| invalid("截止日期须为 YYYY-MM-DD"))?,
            )?),
        };
        let policy = BatchPolicy {
            price_fen,
            pay_before_upload: self.pay_before_upload.is_some(),
            album_allowed: self.album_allowed.is_some(),
            backgrounds,
            paper_prints,
        };
        Ok((policy, closes_at))
    }
}

#[derive(Deserialize)]
pub struct SchoolForm {
    #[serde(default)]
    csrf: String,
    name: String,
    categories: String,
}

/// `POST /console/schools` (`name`, `categories`)
pub async fn add_school(
    state: web::Data<AppState>,
    session: Session<Admins>,
    form: web::Form<SchoolForm>,
) -> Result<HttpResponse, PageError> {
    session.check(&state, &form.csrf)?;
    let categories: Vec<String> = form
        .categories
        .split(['\n', ',', '，', '、'])
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect();
    schools::add(state.ledger.db(), &form.name, &categories, Utc::now()).await?;
    Ok(see_other("/console/schools?done=school"))
}

#[derive(Deserialize)]
pub struct BatchForm {
    #[serde(default)]
    csrf: String,
    school: String,
    education_type: String,
    #[serde(flatten)]
    policy: PolicyForm,
}

/// `POST /console/batches`: a new batch (its feature code drawn), then the list. The same form
/// again within a minute makes no second batch.
pub async fn add_batch(
    state: web::Data<AppState>,
    session: Session<Admins>,
    form: web::Form<BatchForm>,
) -> Result<HttpResponse, PageError> {
    session.check(&state, &form.csrf)?;
    let (policy, closes_at) = form.policy.read()?;
    let db = state.ledger.db();
    let now = Utc::now();
    // The same form sent twice (a double click, a resend after a slow answer) makes one batch:
    // an identical one made in the last minute is taken to be it.
    let just_made = batches::list(db).await?.into_iter().any(|b| {
        b.school_name == form.school.trim()
            && b.education_type == form.education_type.trim()
            && b.policy == policy
            && b.closes_at == closes_at
            && now - b.created_at < chrono::Duration::seconds(RESENT_WITHIN_SECS)
    });
    if !just_made {
        let new = NewBatch {
            school: form.school.clone(),
            education_type: form.education_type.clone(),
            policy,
            closes_at,
        };
        batches::add(db, new, now).await?;
    }
    Ok(see_other("/console/schools?done=batch"))
}

async fn batch_of(state: &AppState, batch_id: &str) -> Result<Batch, PageError> {
    Ok(batches::by_id(state.ledger.db(), batch_id)
        .await?
        .ok_or_else(|| EligibilityError::UnknownBatch(batch_id.to_string()))?)
}

/// `GET /console/batches/{batch_id}`: the batch's policy to edit, while no student has been
/// verified in it.
pub async fn edit_form(
    state: web::Data<AppState>,
    session: Session<Admins>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let batch = batch_of(&state, &path).await?;
    let in_use = batches::in_use(state.ledger.db(), &batch).await?;
    let body = html! {
        h1 { "批次 " code { (batch.feature_code) } }
        p { (batch.school_name) " · " (batch.education_type) }
        section.card {
            @if in_use {
                p.refusal { (EligibilityError::BatchInUse(batch.feature_code.to_string()).message()) }
                p { "现行规则：" (batch.policy.price_fen) "，" (rules(&batch.policy)) }
            } @else {
                form method="post" action={ "/console/batches/" (batch.batch_id) } {
                    input type="hidden" name="csrf" value=(session.csrf);
                    (policy_fields(Some(&batch)))
                    button type="submit" { "保存规则" }
                }
            }
        }
        p { a href="/console/schools" { "← 学校与批次" } }
    };
    Ok(page("修改批次", &session, StatusCode::OK, body))
}

#[derive(Deserialize)]
pub struct EditForm {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    policy: PolicyForm,
}

/// `POST /console/batches/{batch_id}`: the new policy (409 `eligibility.batch_in_use` once a
/// student has been verified in the batch).
pub async fn edit(
    state: web::Data<AppState>,
    session: Session<Admins>,
    path: web::Path<String>,
    form: web::Form<EditForm>,
) -> Result<HttpResponse, PageError> {
    session.check(&state, &form.csrf)?;
    let (policy, closes_at) = form.policy.read()?;
    // A batch closed early stays closed: its form shows the day it closed as its deadline,
    // which would reopen it until that midnight.
    let batch = batch_of(&state, &path).await?;
    let closes_at = if batch.is_open(Utc::now()) {
        closes_at
    } else {
        batch.closes_at
    };
    batches::edit(state.ledger.db(), &batch.batch_id, &policy, closes_at).await?;
    Ok(see_other("/console/schools?done=edited"))
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /console/batches/{batch_id}/close`: closes the batch now.
pub async fn close(
    state: web::Data<AppState>,
    session: Session<Admins>,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    session.check(&state, &form.csrf)?;
    let batch = batch_of(&state, &path).await?;
    batches::close(state.ledger.db(), &batch.batch_id, Utc::now()).await?;
    Ok(see_other("/console/schools?done=closed"))
}

/// `GET /console/schools/{school_id}/roster`: the upload form and the school's last imports.
pub async fn roster_form(
    state: web::Data<AppState>,
    session: Session<Admins>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let db = state.ledger.db();
    let school = schools::by_id(db, &path).await?;
    let school_batches: Vec<Batch> = batches::list(db)
        .await?
        .into_iter()
        .filter(|b| b.school_id == school.school_id)
        .collect();
    let imports = roster::imports_of(db, &school.school_id, IMPORTS_SHOWN).await?;
    let body = html! {
        h1 { (school.name) " · 名单" }
        section.card {
            h2 { "上传名单" }
            p.muted { "CSV 或 Excel（.xlsx），第一行为表头：学号、姓名、证件类型、证件号码、学历类别（层次、专业、毕业年份可选）。有误的行不导入，逐行列出；其余照常导入。" }
            form method="post" action={ "/console/schools/" (school.school_id) "/roster" } enctype="multipart/form-data" {
                input type="hidden" name="csrf" value=(session.csrf);
                label { "批次（可选）"
                    select name="batch" {
                        option value="" { "不指定" }
                        @for b in &school_batches {
                            option value=(b.feature_code) { (b.education_type) " · " (b.feature_code) }
                        }
                    }
                }
                input type="file" name="file" accept=".csv,.xlsx,text/csv" required;
                " "
                button type="submit" { "上传" }
            }
        }
        section.card {
            h2 { "采集码" }
            p.muted { "每名学生一张二维码图片（学历类别-学号.png）和索引 codes.csv（姓名、证件号码已打码），打包为一个 ZIP，供学校下发给学生。一次最多 " (MAX_CODES_PER_ZIP) " 人。" }
            form method="post" action={ "/console/schools/" (school.school_id) "/codes" } {
                input type="hidden" name="csrf" value=(session.csrf);
                label { "学历类别"
                    select name="education_type" {
                        option value="" { "全部" }
                        @for c in &school.categories { option value=(c) { (c) } }
                    }
                }
                button type="submit" { "下载采集码（ZIP）" }
            }
        }
        section.card {
            h2 { "最近的导入" }
            @if imports.is_empty() {
                p { "还没有导入过名单。" }
            } @else {
                table {
                    tr { th { "时间" } th { "文件" } th { "导入人" } th { "读取" } th { "新增" } th { "更新" } th { "未变" } th { "有误" } }
                    @for i in &imports {
                        tr {
                            td { (china_time::format(&i.imported_at, "%m-%d %H:%M")) }
                            td { (i.file_name) }
                            td { (i.imported_by) }
                            td.count { (i.rows_read) }
                            td.count { (i.inserted) }
                            td.count { (i.updated) }
                            td.count { (i.unchanged) }
                            td.count { (i.problems.len()) }
                        }
                    }
                }
            }
        }
        p { a href="/console/schools" { "← 学校与批次" } }
    };
    Ok(page("名单", &session, StatusCode::OK, body))
}

/// `POST /console/schools/{school_id}/roster` (multipart `csrf`, `batch`, `file`): imports the
/// good rows; the report lists every bad one by line (422 when there are any).
pub async fn upload_roster(
    state: web::Data<AppState>,
    session: Session<Admins>,
    path: web::Path<String>,
    form: Multipart,
) -> Result<HttpResponse, PageError> {
    let limit = state.api.http.roster_limit_bytes;
    let fields = multipart_fields(
        form,
        &[("csrf", 256), ("batch", 64), ("file", limit)],
        "名单文件太大",
    )
    .await?;
    let text = |name: &str| fields.get(name).map(FormField::text).unwrap_or_default();
    session.check(&state, &text("csrf"))?;
    let db = state.ledger.db();
    let school = schools::by_id(db, &path).await?;
    let file = fields
        .get("file")
        .ok_or_else(|| ApiError::invalid("请选择名单文件（字段 file）"))?;
    let batch = match text("batch").trim() {
        "" => None,
        code => Some(
            photo_ledger_domain::feature_code::FeatureCode::parse(code)
                .map_err(EligibilityError::from)?,
        ),
    };
    // The format is told by the file's extension, as the API's `file_name` tells it.
    let file_name = file
        .file_name
        .clone()
        .unwrap_or_else(|| "roster.csv".into());
    let report = roster::import(
        db,
        ImportRequest {
            school: &school.name,
            batch: batch.as_ref(),
            file_name: &file_name,
            bytes: &file.bytes,
            imported_by: &session.caller.subject,
            at: Utc::now(),
        },
    )
    .await?;
    let status = if report.problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(page(
        "名单导入",
        &session,
        status,
        import_report(&school.name, &school.school_id, &report),
    ))
}

#[derive(Deserialize)]
pub struct CodesForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    education_type: String,
}

/// `POST /console/schools/{school_id}/codes` (`education_type`, or all): the roster's collection
/// codes as one ZIP of QR pictures and `codes.csv`.
pub async fn codes(
    state: web::Data<AppState>,
    session: Session<Admins>,
    path: web::Path<String>,
    form: web::Form<CodesForm>,
) -> Result<HttpResponse, PageError> {
    session.check(&state, &form.csrf)?;
    let signer = state
        .code_signer
        .clone()
        .ok_or(EligibilityError::NotIssuingCodes)?;
    let db = state.ledger.db();
    let school = schools::by_id(db, &path).await?;
    let education_type = Some(form.education_type.trim()).filter(|t| !t.is_empty());
    if let Some(education_type) = education_type {
        school.require_category(education_type)?;
    }
    let students = roster::students_of(db, &school.school_id, education_type).await?;
    if students.len() > MAX_CODES_PER_ZIP {
        return Err(invalid(&format!(
            "名单有 {} 人，一次最多 {MAX_CODES_PER_ZIP} 人：请按学历类别分别下载",
            students.len()
        )));
    }
    let school_id = uuid::Uuid::parse_str(&school.school_id).map_err(|e| ApiError::internal(&e))?;
    let zip = tokio::task::spawn_blocking(move || {
        let (files, index) = code_sheets::draw(&signer, school_id, &students)?;
        code_sheets::zip(&files, &index)
    })
    .await
    .map_err(|e| ApiError::internal(&e))?
    .map_err(|e| ApiError::internal(&e))?;
    let file_name = format!(
        "codes-{}.zip",
        china_time::format(&Utc::now(), "%Y%m%d-%H%M")
    );
    Ok(attachment("application/zip", &file_name).body(zip))
}

fn import_report(school: &str, school_id: &str, report: &ImportReport) -> Markup {
    html! {
        h1 { (school) " · 名单导入" }
        section.card {
            p {
                "读取 " (report.rows_read) " 行：新增 " (report.inserted) "，更新 " (report.updated)
                "，未变 " (report.unchanged) "，有误 " (report.problems.len()) "。"
            }
            @if !report.problems.is_empty() {
                p.refusal { "以下各行未导入，请改正后重新上传（已导入的行再次上传不会重复）：" }
                table.problems {
                    tr { th { "行" } th { "问题" } }
                    @for RowProblem { line, reason } in &report.problems {
                        tr { td.count { (line) } td { (reason) } }
                    }
                }
            }
        }
        p { a href={ "/console/schools/" (school_id) "/roster" } { "← 名单" } }
    }
}
