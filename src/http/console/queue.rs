//! The queue page: what waits for review, grouped by school, batch and education type — how many,
//! how long the oldest has waited (amber past half the review SLA, red past all of it), and who
//! holds which capture now — with a link that reviews just that group.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use maud::html;
use photo_ledger_projections::review_queue::{self, QueueCursor, QueueFilter, QueueItem};

use super::page::{layout, respond, PageError};
use super::review::Filters;
use super::session::Session;
use crate::china_time;
use crate::eligibility::batches;
use crate::http::extract::Reviewers;
use crate::http::state::AppState;

/// Items read per query.
const PAGE: i64 = 500;
/// The most items the page counts; a longer queue is said to be longer.
const MOST_COUNTED: usize = 20_000;

/// One school's batch (or education type) in the queue.
#[derive(Debug, Default, PartialEq)]
struct Group {
    school: String,
    count: usize,
    oldest: Option<DateTime<Utc>>,
    /// Live claims: (reviewer, until).
    claims: Vec<(String, DateTime<Utc>)>,
}

/// How late a group's oldest submission is against the review SLA.
#[derive(Debug, PartialEq, Eq)]
enum Lateness {
    OnTime,
    /// Past half the SLA.
    Soon,
    Late,
}

impl Lateness {
    fn of(waited: Duration, sla: Duration) -> Self {
        if waited >= sla {
            Lateness::Late
        } else if waited * 2 >= sla {
            Lateness::Soon
        } else {
            Lateness::OnTime
        }
    }

    fn class(&self) -> &'static str {
        match self {
            Lateness::OnTime => "on-time",
            Lateness::Soon => "soon",
            Lateness::Late => "late",
        }
    }
}

/// Groups keyed by (school id, batch id, education type).
type Groups = BTreeMap<(String, String, String), Group>;

fn group(items: &[QueueItem], now: DateTime<Utc>) -> Groups {
    let mut groups = Groups::new();
    for item in items {
        let key = (
            item.school_id.clone(),
            item.batch_id.clone().unwrap_or_default(),
            item.education_type.clone(),
        );
        let group = groups.entry(key).or_default();
        group.school.clone_from(&item.school);
        group.count += 1;
        group.oldest = Some(
            group
                .oldest
                .map_or(item.submitted_at, |o| o.min(item.submitted_at)),
        );
        if let (Some(holder), Some(until)) = (&item.claim_holder, item.claim_expires_at) {
            if until > now {
                group.claims.push((holder.clone(), until));
            }
        }
    }
    groups
}

/// `GET /console/queue`
pub async fn queue(
    state: web::Data<AppState>,
    session: Session<Reviewers>,
) -> Result<HttpResponse, PageError> {
    let mut items: Vec<QueueItem> = Vec::new();
    let mut after: Option<QueueCursor> = None;
    loop {
        let page = review_queue::page(
            state.ledger.db(),
            &QueueFilter::default(),
            after.as_ref(),
            PAGE,
        )
        .await?;
        let full = page.len() as i64 == PAGE;
        after = page.last().map(|i| QueueCursor {
            submitted_at: i.submitted_at,
            capture_id: i.capture_id.clone(),
        });
        items.extend(page);
        if !full || items.len() >= MOST_COUNTED {
            break;
        }
    }
    let batches = batches::list(state.ledger.db()).await?;
    // A batch by its feature code, the name staff and students know it by.
    let batch_label = |batch_id: &str| {
        batches
            .iter()
            .find(|b| b.batch_id == batch_id)
            .map(|b| b.feature_code.to_string())
            .unwrap_or_else(|| "—".into())
    };
    let now = Utc::now();
    let sla = Duration::hours(i64::from(state.api.console.review_sla_hours));
    let groups = group(&items, now);
    let body = html! {
        h1 { "审核队列" }
        p {
            "待审核 " strong { (items.len()) @if items.len() >= MOST_COUNTED { "+" } } " 份 · 审核时限 "
            (state.api.console.review_sla_hours) " 小时（过半为黄色，超时为红色）"
        }
        @if groups.is_empty() {
            p.card { "没有待审核的照片。" }
        } @else {
            table.card {
                tr { th { "学校" } th { "批次" } th { "学历类别" } th { "待审" } th { "最久等待" } th { "正在审核" } th {} }
                @for ((school_id, batch_id, education_type), group) in &groups {
                    @let waited = group.oldest.map(|o| now - o).unwrap_or_default();
                    tr class=(Lateness::of(waited, sla).class()) {
                        td { (group.school) }
                        td { code { (batch_label(batch_id)) } }
                        td { (education_type) }
                        td { (group.count) }
                        td { (waited.num_hours()) " 小时 " (waited.num_minutes() % 60) " 分" }
                        td {
                            @for (holder, until) in &group.claims {
                                (holder) " 至 " (china_time::format(until, "%H:%M")) br;
                            }
                        }
                        td {
                            @let this_group = Filters {
                                school: school_id.clone(),
                                batch: batch_id.clone(),
                                education_type: education_type.clone(),
                            };
                            a href={"/console/review?" (this_group.query())} { "审核这一组" }
                        }
                    }
                }
            }
        }
    };
    Ok(respond(
        StatusCode::OK,
        layout("审核队列", Some((&session.caller, &session.csrf)), body),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lateness_is_measured_against_the_review_sla() {
        let sla = Duration::hours(48);
        assert_eq!(Lateness::of(Duration::hours(23), sla), Lateness::OnTime);
        assert_eq!(Lateness::of(Duration::hours(24), sla), Lateness::Soon);
        assert_eq!(Lateness::of(Duration::hours(47), sla), Lateness::Soon);
        assert_eq!(Lateness::of(Duration::hours(48), sla), Lateness::Late);
    }
}
