//! The review screen: take the oldest capture nobody holds, see its standard photo against the
//! 学信网 windows beside the upload it was made from, every pre-review check, the same photos
//! (同版) found in other captures; approve, or reject with reasons, and the next capture opens.
//! Decisions are the same commands the API sends, under the reviewer's claim.

use std::collections::BTreeSet;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{Duration, Utc};
use maud::{html, Markup};
use photo_ledger_domain::commands::{Approve, ClaimReview, Reject, ReleaseClaim};
use photo_ledger_domain::reasons::RejectReason;
use photo_ledger_domain::values::{CaptureId, PhotoId};
use photo_ledger_domain::{CaptureCommand, CaptureError};
use photo_ledger_photo::checks::CheckCode;
use photo_ledger_projections::capture_doc::{
    CaptureDoc, PhotoKind, SubmissionEntry, SubmissionOutcome,
};
use photo_ledger_projections::review_queue::{self, QueueCursor, QueueFilter, QueueItem};
use serde::Deserialize;

use super::page::{layout, respond, see_other, PageError};
use super::session::Session;
use crate::captures::{CaptureAccessError, Requester};
use crate::china_time;
use crate::eligibility::batches::{self, Batch};
use crate::eligibility::schools;
use crate::http::error::ApiError;
use crate::http::extract::{CommandContext, Reviewers, Staff};
use crate::http::photos::photo_response;
use crate::http::review::{CLAIM_TTL_MINUTES, MAX_NOTE_CHARS};
use crate::http::state::AppState;
use crate::ledger::LedgerError;

/// Queue items read per query while looking for one nobody holds.
const PAGE: i64 = 100;

/// What the reviewer reviews: one school, batch or education type, or everything.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Filters {
    #[serde(default)]
    pub school: String,
    #[serde(default)]
    pub batch: String,
    #[serde(default)]
    pub education_type: String,
}

impl Filters {
    fn queue(&self) -> QueueFilter {
        let given = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        QueueFilter {
            school_id: given(&self.school),
            batch_id: given(&self.batch),
            education_type: given(&self.education_type),
        }
    }

    /// The filters as the review page's query string.
    pub fn query(&self) -> String {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("school", self.school.trim())
            .append_pair("batch", self.batch.trim())
            .append_pair("education_type", self.education_type.trim())
            .finish()
    }

    fn hidden(&self) -> Markup {
        html! {
            input type="hidden" name="school" value=(self.school);
            input type="hidden" name="batch" value=(self.batch);
            input type="hidden" name="education_type" value=(self.education_type);
        }
    }
}

#[derive(Deserialize)]
pub struct StartQuery {
    #[serde(default)]
    empty: Option<String>,
    #[serde(flatten)]
    filters: Filters,
}

/// `GET /console/review`: how many wait, the filters (a school, a batch, an education type, each
/// picked from those there are), and "review next".
pub async fn start(
    state: web::Data<AppState>,
    session: Session<Reviewers>,
    query: web::Query<StartQuery>,
) -> Result<HttpResponse, PageError> {
    let StartQuery { empty, filters } = query.into_inner();
    let db = state.ledger.db();
    let waiting = review_queue::page(db, &filters.queue(), None, PAGE + 1)
        .await?
        .len();
    let schools = schools::list(db).await?;
    let batches = batches::list(db).await?;
    let education_types: BTreeSet<&String> =
        schools.iter().flat_map(|s| s.categories.iter()).collect();
    let waiting = if waiting as i64 > PAGE {
        format!("{PAGE}+")
    } else {
        waiting.to_string()
    };
    let body = html! {
        h1 { "审核" }
        @if empty.is_some() {
            p.card role="status" { "没有可审核的照片了：符合条件的都已审核，或正由其他审核员处理。" }
        }
        p { "待审核：" strong { (waiting) } }
        form.card method="post" action="/console/review/next" {
            input type="hidden" name="csrf" value=(session.csrf);
            label { "学校"
                select name="school" {
                    option value="" { "全部学校" }
                    @for school in &schools {
                        option value=(school.school_id) selected[filters.school == school.school_id] { (school.name) }
                    }
                }
            }
            label { "批次"
                select name="batch" {
                    option value="" { "全部批次" }
                    @for batch in &batches {
                        option value=(batch.batch_id) selected[filters.batch == batch.batch_id] {
                            (batch.school_name) " · " (batch.education_type) " · " (batch.feature_code)
                        }
                    }
                }
            }
            label { "学历类别"
                select name="education_type" {
                    option value="" { "全部类别" }
                    @for education_type in &education_types {
                        option value=(education_type) selected[&filters.education_type == *education_type] { (education_type) }
                    }
                }
            }
            button.primary type="submit" { "审核下一张" }
        }
    };
    Ok(respond(
        StatusCode::OK,
        layout("审核", Some((&session.caller, &session.csrf)), body),
    ))
}

/// The review forms' fields (next, approve, skip, the claim's renewal): the session's
/// anti-forgery token and the reviewer's filters.
#[derive(Deserialize)]
pub struct ReviewForm {
    /// Missing is the same as wrong: the form was not made by this session.
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    filters: Filters,
}

/// `POST /console/review/next`: claims the oldest capture nobody else holds and opens it.
pub async fn next(
    state: web::Data<AppState>,
    session: Session<Reviewers>,
    ctx: CommandContext,
    form: web::Form<ReviewForm>,
) -> Result<HttpResponse, PageError> {
    session.check(&state, &form.csrf)?;
    open_next(
        &state,
        &ctx.requester(&session.caller),
        &session,
        &form.filters,
    )
    .await
}

async fn open_next(
    state: &AppState,
    requester: &Requester,
    session: &Session<Reviewers>,
    filters: &Filters,
) -> Result<HttpResponse, PageError> {
    let next = claim_next(state, requester, session, filters, Search::default()).await?;
    Ok(opened(next, filters))
}

/// The next capture's screen, or the first page saying there is none.
fn opened(next: Option<CaptureId>, filters: &Filters) -> HttpResponse {
    match next {
        Some(capture) => see_other(&format!("/console/review/{capture}?{}", filters.query())),
        None => see_other(&format!("/console/review?empty=1&{}", filters.query())),
    }
}

/// Where in the queue the next capture is looked for.
#[derive(Default)]
struct Search {
    /// Only past this point in the queue's order (a capture skipped).
    after: Option<QueueCursor>,
    /// Never this one (the capture being decided meanwhile).
    except: Option<String>,
}

/// The oldest capture in review matching `filters` and `search` that nobody else holds, claimed
/// for this reviewer; `None` when there is none.
async fn claim_next(
    state: &AppState,
    requester: &Requester,
    session: &Session<Reviewers>,
    filters: &Filters,
    search: Search,
) -> Result<Option<CaptureId>, PageError> {
    let reviewer = &session.caller.subject;
    let filter = filters.queue();
    let Search { mut after, except } = search;
    loop {
        let items = review_queue::page(state.ledger.db(), &filter, after.as_ref(), PAGE).await?;
        let now = Utc::now();
        for item in &items {
            let Ok(capture) = item.capture_id.parse::<CaptureId>() else {
                continue;
            };
            if held_by_another(item, reviewer, now) || except.as_ref() == Some(&item.capture_id) {
                continue;
            }
            match state
                .captures
                .act(requester, capture, claim(reviewer))
                .await
            {
                Ok(_) => return Ok(Some(capture)),
                // Taken or decided since the queue was read: the next one.
                Err(CaptureAccessError::Ledger(LedgerError::Refused(
                    CaptureError::ClaimedByAnother | CaptureError::NotInReview,
                ))) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        if (items.len() as i64) < PAGE {
            return Ok(None);
        }
        after = items.last().map(|i| QueueCursor {
            submitted_at: i.submitted_at,
            capture_id: i.capture_id.clone(),
        });
    }
}

/// `reviewer`'s claim on a capture from now, for as long as a claim through the API lasts.
fn claim(reviewer: &str) -> CaptureCommand {
    CaptureCommand::ClaimReview(ClaimReview {
        reviewer_id: reviewer.to_string(),
        at: Utc::now(),
        ttl: Duration::minutes(CLAIM_TTL_MINUTES),
    })
}

/// Records a decision on `capture` and opens the next capture. The next is claimed while the
/// decision is being recorded (commands on two captures, so neither waits for the other): the
/// reviewer's next screen is ready as soon as the slower of the two is. When the decision is
/// refused, the claim just taken is let go again and the refusal is what the reviewer sees.
async fn decide_then_next(
    state: &AppState,
    requester: &Requester,
    session: &Session<Reviewers>,
    filters: &Filters,
    capture: CaptureId,
    decision: CaptureCommand,
) -> Result<HttpResponse, PageError> {
    let search = Search {
        after: None,
        except: Some(capture.to_string()),
    };
    let (decided, next) = tokio::join!(
        state.captures.act(requester, capture, decision),
        claim_next(state, requester, session, filters, search),
    );
    if let Err(refused) = decided {
        if let Ok(Some(next)) = next {
            release(state, requester, session, next).await?;
        }
        return Err(refused.into());
    }
    Ok(opened(next?, filters))
}

/// Lets go of this reviewer's claim on `capture`; nothing when it is no longer in review.
async fn release(
    state: &AppState,
    requester: &Requester,
    session: &Session<Reviewers>,
    capture: CaptureId,
) -> Result<(), PageError> {
    let command = CaptureCommand::ReleaseClaim(ReleaseClaim {
        reviewer_id: session.caller.subject.clone(),
        at: Utc::now(),
    });
    match state.captures.act(requester, capture, command).await {
        // Decided or withdrawn meanwhile: nothing to let go of.
        Ok(_)
        | Err(CaptureAccessError::Ledger(LedgerError::Refused(CaptureError::NotInReview))) => {
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /console/review/{capture_id}`: the review screen.
pub async fn screen(
    state: web::Data<AppState>,
    session: Session<Reviewers>,
    path: web::Path<CaptureId>,
    filters: web::Query<Filters>,
) -> Result<HttpResponse, PageError> {
    let capture_id = path.into_inner();
    let db = state.ledger.db();
    let who = Some((&session.caller, session.csrf.as_str()));
    let Some(item) = review_queue::item(db, &capture_id.to_string()).await? else {
        let body = html! {
            h1 { "不在审核中" }
            p { "这份采集已审核、已撤回或不存在。" }
            p { a href={"/console/review?" (filters.query())} { "返回审核" } }
        };
        return Ok(respond(
            StatusCode::NOT_FOUND,
            layout("不在审核中", who, body),
        ));
    };
    let doc = CaptureDoc::load(state.ledger.decoder(), &capture_id.to_string()).await?;
    let original = doc
        .as_ref()
        .and_then(|doc| source_of(doc, item.standard_photo_id));
    let earlier: Vec<SubmissionEntry> = doc
        .iter()
        .flat_map(|doc| doc.earlier_submissions().cloned())
        .collect();
    let next_photo = next_free(&state, &session, &filters, &item).await?;
    let batch = match &item.batch_id {
        Some(id) => batches::by_id(db, id).await?,
        None => None,
    };
    let body = review_screen(
        &session,
        &item,
        Shown {
            original,
            batch: batch.as_ref(),
            earlier: &earlier,
            next_photo,
        },
        &filters,
    );
    Ok(respond(StatusCode::OK, layout("审核", who, body)))
}

/// The standard photo of the capture the reviewer will most likely get next: the first after
/// `item` in the queue that nobody else holds.
async fn next_free(
    state: &AppState,
    session: &Session<Reviewers>,
    filters: &Filters,
    item: &QueueItem,
) -> Result<Option<PhotoId>, PageError> {
    let after = QueueCursor {
        submitted_at: item.submitted_at,
        capture_id: item.capture_id.clone(),
    };
    let now = Utc::now();
    let items = review_queue::page(state.ledger.db(), &filters.queue(), Some(&after), 10).await?;
    Ok(items
        .into_iter()
        .find(|i| !held_by_another(i, &session.caller.subject, now))
        .map(|i| i.standard_photo_id))
}

/// Whether another reviewer's claim on the item is still running.
fn held_by_another(item: &QueueItem, reviewer: &str, now: chrono::DateTime<Utc>) -> bool {
    matches!(
        (&item.claim_holder, item.claim_expires_at),
        (Some(holder), Some(until)) if holder != reviewer && until > now
    )
}

/// The upload a standard photo was made from.
fn source_of(doc: &CaptureDoc, standard: PhotoId) -> Option<PhotoId> {
    doc.photos
        .iter()
        .find(|p| p.photo_id == standard)
        .and_then(|p| match &p.kind {
            PhotoKind::Standard {
                source_photo_id, ..
            } => Some(*source_photo_id),
            PhotoKind::Uploaded { .. } => None,
        })
}

/// What the screen shows beside the queue item.
struct Shown<'a> {
    /// The upload the standard photo was made from.
    original: Option<PhotoId>,
    /// The batch the capture was collected in.
    batch: Option<&'a Batch>,
    /// The capture's earlier submissions, newest first.
    earlier: &'a [SubmissionEntry],
    /// The photo of the capture most likely next, fetched ahead.
    next_photo: Option<PhotoId>,
}

/// One earlier submission: its photo, when, and how it ended (the reasons of a rejection).
fn earlier_submission(entry: &SubmissionEntry) -> Markup {
    let when = |at: &chrono::DateTime<Utc>| china_time::format(at, "%Y-%m-%d %H:%M");
    html! {
        div.same {
            img src={"/console/photos/" (entry.standard_photo_id) "?size=thumb"} alt="此前提交的照片";
            div {
                p { "提交于 " (when(&entry.submitted_at)) }
                @match &entry.outcome {
                    Some(SubmissionOutcome::Rejected { reviewer_id, reasons, note, at }) => {
                        p { strong { "不通过" } " · " (reviewer_id) " · " (when(at)) }
                        ul.reasons-given {
                            @for reason in reasons { li { (reason.label()) } }
                        }
                        @if !note.is_empty() { p { "备注：" (note) } }
                    }
                    Some(SubmissionOutcome::Withdrawn { at }) => p { "学生撤回 · " (when(at)) },
                    Some(SubmissionOutcome::Approved { reviewer_id, at }) => {
                        p { "通过 · " (reviewer_id) " · " (when(at)) }
                    }
                    None => p { "审核中" },
                }
            }
        }
    }
}

fn review_screen(
    session: &Session<Reviewers>,
    item: &QueueItem,
    shown: Shown<'_>,
    filters: &Filters,
) -> Markup {
    let Shown {
        original,
        batch,
        earlier,
        next_photo,
    } = shown;
    let waited = Utc::now() - item.submitted_at;
    let action = |decision: &str| format!("/console/review/{}/{decision}", item.capture_id);
    html! {
        div data-review data-renew=(action("claim")) {
            h1 { "审核 · " (item.name_masked) " " (item.id_masked) }
            p.keys data-keys-status role="status" {
                "键盘：" kbd { "A" } " 通过 · " kbd { "1" } "–" kbd { "17" } " 选原因 · " kbd { "R" } " 不通过 · "
                kbd { "S" } " 跳过 · " kbd { "N" } " 备注"
            }
            @if let Some(next) = next_photo {
                // The next capture's photo, fetched now so it shows at once after the decision.
                img.preload src={"/console/photos/" (next)} alt="" width="1" height="1";
            }
            p.muted {
                (item.school) " · " (item.education_type)
                @if let Some(batch) = batch { " · 批次 " code { (batch.feature_code) } }
                " · 已等待 " (waited.num_hours()) " 小时 " (waited.num_minutes() % 60) " 分"
            }
            div.review {
                div {
                    div.standard {
                        img src={"/console/photos/" (item.standard_photo_id)} alt="标准照" width="480" height="640" elementtiming="standard-photo";
                        div.band.head { span { "头顶 50–110" } }
                        div.band.eyes { span { "眼睛 200–300" } }
                        div.width.outer {}
                        div.width.inner {}
                    }
                    p.muted { "蓝色：头顶与眼睛所在区间；绿色：脸宽 180–300 像素。" }
                }
                div {
                    @if !item.same_photos.is_empty() {
                        section.card.warning {
                            h2 { "同版照片警告" }
                            p { "这张照片与以下采集中的照片是同一张照片（同版），请对照后决定：" }
                            div.thumbs {
                                @for same in &item.same_photos {
                                    div.same {
                                        img src={"/console/photos/" (same.photo_id) "?size=thumb"} alt="另一份采集的照片";
                                        p {
                                            @if same.same_person { "同一人的另一学历记录（同版规定）" } @else { "另一人的照片" }
                                            br; (same.school) " · " (same.education_type)
                                            br; "相差 " (same.distance) " 位"
                                        }
                                    }
                                }
                            }
                        }
                    }
                    @if !earlier.is_empty() {
                        section.card.earlier {
                            h2 { "此前的提交（" (earlier.len()) "）" }
                            @for entry in earlier { (earlier_submission(entry)) }
                        }
                    }
                    @if let Some(original) = original {
                        div.original.card {
                            h2 { "上传原图" }
                            img src={"/console/photos/" (original) "?size=thumb"} alt="上传原图";
                        }
                    }
                    section.card {
                        h2 { "预审检查" }
                        table {
                            tr { th { "检查" } th { "值" } th { "限值" } th { "结果" } }
                            @for check in &item.checks {
                                tr class=(if check.passed { "" } else if check.blocking { "failed" } else { "warned" }) {
                                    @let known = CheckCode::parse(&check.code);
                                    td {
                                        @if let Some(known) = known { (known.label()) br; }
                                        small { code { (check.code) } }
                                        @if let Some(advice) = known.filter(|_| !check.passed) {
                                            br; small { (advice.message()) }
                                        }
                                    }
                                    td { (format!("{:.3}", check.value)) }
                                    td { (format!("{:.3}", check.limit)) }
                                    td { @if check.passed { "通过" } @else if check.blocking { "不通过" } @else { "提醒" } }
                                }
                            }
                        }
                    }
                    div.card {
                        form.inline method="post" action=(action("approve")) data-action="approve" {
                            input type="hidden" name="csrf" value=(session.csrf);
                            (filters.hidden())
                            button.primary type="submit" { "通过" }
                        }
                        " "
                        form.inline method="post" action=(action("skip")) data-action="skip" {
                            input type="hidden" name="csrf" value=(session.csrf);
                            (filters.hidden())
                            button type="submit" { "跳过" }
                        }
                    }
                    form.card method="post" action=(action("reject")) data-action="reject" {
                        input type="hidden" name="csrf" value=(session.csrf);
                        (filters.hidden())
                        h2 { "不通过原因" }
                        div.reasons {
                            @for (n, reason) in RejectReason::ALL.iter().enumerate() {
                                label {
                                    input type="checkbox" name="reason" value=(reason.code());
                                    " " kbd { (n + 1) } " " (reason.label())
                                }
                            }
                        }
                        label { "备注（可空，至多 " (MAX_NOTE_CHARS) " 字）" textarea name="note" rows="2" maxlength=(MAX_NOTE_CHARS) {} }
                        button.danger type="submit" { "不通过" }
                    }
                }
            }
        }
    }
}

/// `POST /console/review/{capture_id}/approve`, then the next capture.
pub async fn approve(
    state: web::Data<AppState>,
    session: Session<Reviewers>,
    ctx: CommandContext,
    path: web::Path<CaptureId>,
    form: web::Form<ReviewForm>,
) -> Result<HttpResponse, PageError> {
    session.check(&state, &form.csrf)?;
    let requester = ctx.requester(&session.caller);
    let command = CaptureCommand::Approve(Approve {
        reviewer_id: session.caller.subject.clone(),
        at: Utc::now(),
    });
    decide_then_next(
        &state,
        &requester,
        &session,
        &form.filters,
        path.into_inner(),
        command,
    )
    .await
}

/// `POST /console/review/{capture_id}/reject` (`reason` once per reason, `note`), then the next
/// capture.
pub async fn reject(
    state: web::Data<AppState>,
    session: Session<Reviewers>,
    ctx: CommandContext,
    path: web::Path<CaptureId>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    session.check(&state, &field("csrf"))?;
    let filters = Filters {
        school: field("school"),
        batch: field("batch"),
        education_type: field("education_type"),
    };
    let note = field("note");
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(ApiError::invalid(format!("审核备注不能超过 {MAX_NOTE_CHARS} 个字")).into());
    }
    let codes = form.iter().filter(|(k, _)| k == "reason").map(|(_, v)| v);
    let reasons = RejectReason::parse_all(codes)
        .map_err(|unknown| ApiError::from(LedgerError::Refused(unknown.into())))?;
    let requester = ctx.requester(&session.caller);
    let command = CaptureCommand::Reject(Reject {
        reviewer_id: session.caller.subject.clone(),
        reasons,
        note,
        at: Utc::now(),
    });
    decide_then_next(
        &state,
        &requester,
        &session,
        &filters,
        path.into_inner(),
        command,
    )
    .await
}

/// `POST /console/review/{capture_id}/skip`: lets go of the capture (another reviewer may take it
/// at once) and opens the next one after it in the queue.
pub async fn skip(
    state: web::Data<AppState>,
    session: Session<Reviewers>,
    ctx: CommandContext,
    path: web::Path<CaptureId>,
    form: web::Form<ReviewForm>,
) -> Result<HttpResponse, PageError> {
    session.check(&state, &form.csrf)?;
    let capture_id = path.into_inner();
    let requester = ctx.requester(&session.caller);
    let skipped = review_queue::item(state.ledger.db(), &capture_id.to_string())
        .await?
        .map(|item| QueueCursor {
            submitted_at: item.submitted_at,
            capture_id: item.capture_id,
        });
    release(&state, &requester, &session, capture_id).await?;
    let search = Search {
        after: skipped,
        except: None,
    };
    let next = claim_next(&state, &requester, &session, &form.filters, search).await?;
    Ok(opened(next, &form.filters))
}

/// `POST /console/review/{capture_id}/claim` (the script, every few minutes): renews this
/// reviewer's claim while the screen is open. 204.
pub async fn renew(
    state: web::Data<AppState>,
    session: Session<Reviewers>,
    ctx: CommandContext,
    path: web::Path<CaptureId>,
    form: web::Form<ReviewForm>,
) -> Result<HttpResponse, PageError> {
    session.check(&state, &form.csrf)?;
    let command = claim(&session.caller.subject);
    state
        .captures
        .act(&ctx.requester(&session.caller), path.into_inner(), command)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
pub struct PhotoQuery {
    size: Option<String>,
}

/// `GET /console/photos/{photo_id}` (`?size=thumb`): a photo for the review screen, to staff.
pub async fn photo(
    state: web::Data<AppState>,
    session: Session<Staff>,
    path: web::Path<PhotoId>,
    query: web::Query<PhotoQuery>,
) -> Result<HttpResponse, PageError> {
    let thumb = query.size.as_deref() == Some("thumb");
    Ok(photo_response(&state, &session.caller.actor(), path.into_inner(), thumb).await?)
}
