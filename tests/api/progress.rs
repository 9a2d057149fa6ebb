//! Collection progress over real HTTP: after a scripted day of students at every stage, the
//! counts equal a count made straight from the log (and the roster), before and after the
//! views are rebuilt by `photo-ledger replay`; the lists, the CSV and the workbook behind the
//! counts; the console page; who may see it.

use std::collections::BTreeSet;

use crate::api_support::console::{browser, sign_in};
use crate::api_support::*;
use crate::support::Backend;
use cqrs_es::Aggregate;
use photo_ledger_domain::status::CaptureStatus;
use photo_ledger_domain::Capture;
use photo_ledger_projections::capture_doc::{CaptureDoc, SubmissionOutcome};
use photo_ledger_projections::collection_progress::{self, Counts, Scope};
use photo_ledger_store::{on_db, Decoder};
use reqwest::header::COOKIE;
use serde_json::json;

on_both_stores!(progress_counts_what_the_log_says_before_and_after_a_replay,);

const WANG: Student = Student {
    number: "2022010005",
    id_number: "44052419990101003x",
    name: "王建国",
};

/// A capture opened by student number, its fee paid when `paid`.
async fn opened(app: &TestApp, openid: &str, student: &Student, paid: bool) -> (String, String) {
    let token = app.student(openid).await;
    let capture = app.open_capture(&token, student).await;
    if paid {
        pay_fee(app, &token, &capture).await;
    }
    (capture, token)
}

async fn submitted(app: &TestApp, openid: &str, student: &Student) -> String {
    let (capture, token) = opened(app, openid, student, true).await;
    let photo = app.standard_photo_of(&capture, &token).await;
    app.submit(&token, &capture, &photo).await;
    capture
}

async fn decide(app: &TestApp, capture: &str, decision: &str, body: serde_json::Value) {
    let reviewer = app.staff("reviewer").await;
    let (status, answer) = app
        .post(
            &format!("/api/v1/review/captures/{capture}/{decision}"),
            &reviewer,
            body,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
}

/// The counts of the batch, made straight from the log and the roster, without the view.
async fn counted_from_the_log(decoder: &Decoder, batch_id: &str, school_id: &str) -> Counts {
    let db = decoder.db();
    let captures: Vec<(String,)> = on_db!(db, pool => sqlx::query_as(
        "SELECT DISTINCT aggregate_id FROM events").fetch_all(pool).await)
    .unwrap();
    let mut counts = Counts::default();
    let mut started = BTreeSet::new();
    let mut waits = Vec::new();
    for (capture_id,) in captures {
        let mut capture = Capture::default();
        let mut doc = CaptureDoc::default();
        for logged in photo_ledger_store::log::capture_history(decoder, &capture_id)
            .await
            .unwrap()
        {
            doc.apply(&logged);
            capture.apply(logged.event);
        }
        let Some(q) = &capture.qualification else {
            continue;
        };
        if q.batch.as_ref().map(|b| b.batch_id.as_str()) != Some(batch_id) {
            continue;
        }
        started.insert(q.student.student_number.clone().unwrap());
        counts.verified += 1;
        counts.paid += i64::from(capture.fee_paid());
        counts.photographed += i64::from(!capture.standards.is_empty());
        match capture.status().unwrap() {
            CaptureStatus::InReview => counts.in_review += 1,
            CaptureStatus::Rejected => counts.rejected += 1,
            CaptureStatus::Approved => counts.approved += 1,
            CaptureStatus::Delivered => {
                counts.approved += 1;
                counts.delivered += 1;
            }
            _ => {}
        }
        if let Some(wait) = doc.submissions.iter().rev().find_map(|s| match &s.outcome {
            Some(
                SubmissionOutcome::Approved { at, .. } | SubmissionOutcome::Rejected { at, .. },
            ) => Some((*at - s.submitted_at).num_seconds()),
            _ => None,
        }) {
            waits.push(wait);
        }
    }
    let roster: Vec<(String,)> = on_db!(db, pool => sqlx::query_as(
        "SELECT student_number FROM roster_students WHERE school_id = $1 AND education_type = $2")
        .bind(school_id)
        .bind(FULL_TIME)
        .fetch_all(pool)
        .await)
    .unwrap();
    counts.roster = roster.len() as i64;
    counts.not_started = roster
        .iter()
        .filter(|(number,)| !started.contains(number))
        .count() as i64;
    waits.sort();
    counts.median_review_wait_secs = waits.get(waits.len().saturating_sub(1) / 2).copied();
    counts
}

async fn progress_counts_what_the_log_says_before_and_after_a_replay(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_photos).await;
    let admin = app.staff("admin").await;
    // Two more on the roster, who will not start today.
    let imported = app
        .client
        .post(app.url("/api/v1/admin/rosters"))
        .query(&[("school", SCHOOL), ("file_name", "late.csv")])
        .bearer_auth(&admin)
        .body(format!(
            "学号,姓名,证件类型,证件号码,学历类别\n2022010010,赵六,护照,P1234567,{FULL_TIME}\n\
             2022010011,钱七,护照,P7654321,{FULL_TIME}\n"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(imported.status(), 200);
    // A day: delivered, rejected, in review, paid without a photo, verified without paying.
    let delivered = submitted(&app, "openid-wu", &WU).await;
    decide(&app, &delivered, "approve", json!({})).await;
    let (status, body) = app
        .post(
            &format!("/api/v1/admin/captures/{delivered}/delivered"),
            &admin,
            json!({"stage": "completed"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let rejected = submitted(&app, "openid-ouyang", &OUYANG).await;
    decide(
        &app,
        &rejected,
        "reject",
        json!({"reasons": ["blurred"], "note": ""}),
    )
    .await;
    submitted(&app, "openid-chen", &CHEN).await;
    opened(&app, "openid-li", &LI, true).await;
    opened(&app, "openid-wang", &WANG, false).await;

    let batch = app.batch.feature_code.as_str().to_string();
    let expected =
        counted_from_the_log(app.ledger.decoder(), &app.batch.batch_id, &app.school_id).await;
    assert_eq!(
        (
            expected.verified,
            expected.paid,
            expected.photographed,
            expected.in_review,
            expected.rejected,
            expected.approved,
            expected.delivered
        ),
        (5, 4, 3, 1, 1, 1, 1),
        "the day as scripted: {expected:?}"
    );
    assert!(
        expected.not_started == 2 && expected.median_review_wait_secs.is_some(),
        "{expected:?}"
    );
    let (status, answer) = app
        .get(&format!("/api/v1/admin/progress?batch={batch}"), &admin)
        .await;
    assert_eq!(status, 200, "{answer}");
    let counts: Counts = serde_json::from_value(answer["counts"].clone()).unwrap();
    assert_eq!(counts, expected);
    assert_eq!(answer["cohort"]["batch"]["feature_code"], batch.as_str());
    let (_, school) = app
        .get(&format!("/api/v1/admin/progress?school={SCHOOL}"), &admin)
        .await;
    assert_eq!(school["counts"]["verified"], 5, "{school}");

    // The students behind a count, and as CSV (as an Excel workbook below, from the console).
    let listed = |stage: &'static str| {
        let app = &app;
        let admin = admin.clone();
        let batch = batch.clone();
        async move {
            let (status, body) = app
                .get(
                    &format!("/api/v1/admin/progress/students?batch={batch}&stage={stage}"),
                    &admin,
                )
                .await;
            assert_eq!(status, 200, "{body}");
            body["students"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["student_number"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(listed("rejected").await, [OUYANG.number]);
    assert_eq!(listed("not_paid").await, [WANG.number]);
    assert_eq!(listed("not_photographed").await, [LI.number, WANG.number]);
    assert_eq!(listed("not_started").await, ["2022010010", "2022010011"]);
    let csv = app
        .client
        .get(app.url(&format!(
            "/api/v1/admin/progress/students?batch={batch}&stage=rejected&format=csv"
        )))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await.unwrap();
    assert!(
        csv.lines().nth(1).unwrap().starts_with(&format!(
            "{},{},{FULL_TIME},审核未通过,",
            OUYANG.number, OUYANG.name
        )),
        "{csv}"
    );
    let reviewer = app.staff("reviewer").await;
    let refused = app
        .get(&format!("/api/v1/admin/progress?batch={batch}"), &reviewer)
        .await;
    assert_error(&refused, 403, "auth.forbidden");
    let unknown = app
        .get("/api/v1/admin/progress?school=没有这所学校", &admin)
        .await;
    assert_error(&unknown, 404, "eligibility.unknown_school");

    // The console shows the same counts.
    let browser = browser();
    let cookie = sign_in(&app, "admin").await;
    let page = browser
        .get(app.url(&format!("/console/progress?batch={batch}")))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    for (stage, count) in [("verified", 5), ("rejected", 1), ("not_paid", 1)] {
        let row = format!(r#"<tr data-stage="{stage}"><td>"#);
        let at = html.find(&row).unwrap_or_else(|| panic!("{row} in {html}"));
        assert!(
            html[at..].contains(&format!(r#"<td class="count">{count}</td>"#)),
            "{stage}: {html}"
        );
    }
    let list = browser
        .get(app.url(&format!(
            "/console/progress/students?batch={batch}&stage=rejected"
        )))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(list.contains(OUYANG.name), "{list}");
    // The same students as an Excel workbook, from the console.
    let workbook = browser
        .get(app.url(&format!(
            "/console/progress/students?batch={batch}&stage=not_photographed&format=xlsx"
        )))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        workbook.headers()["content-type"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    let bytes = workbook.bytes().await.unwrap().to_vec();
    let mut workbook: calamine::Xlsx<_> =
        calamine::Reader::new(std::io::Cursor::new(bytes)).unwrap();
    let sheet = calamine::Reader::worksheet_range(&mut workbook, "学生").unwrap();
    let numbers: Vec<String> = sheet.rows().skip(1).map(|row| row[0].to_string()).collect();
    assert_eq!(numbers, [LI.number, WANG.number]);

    // Rebuilt from the log, the view counts the same.
    let mut replay = app.photo_ledger();
    replay.args(["replay", "--projection", "collection_progress"]);
    let (batch_id, school_id) = (app.batch.batch_id.clone(), app.school_id.clone());
    let (db, _store) = app.stop().await;
    on_db!(&db, pool => sqlx::query("DELETE FROM collection_progress").execute(pool).await.map(|_| ()))
        .unwrap();
    let rebuilt = replay.output().unwrap();
    assert!(rebuilt.status.success(), "{rebuilt:?}");
    let after = collection_progress::counts(
        &db,
        Scope::Batch {
            batch_id: &batch_id,
            school_id: &school_id,
            education_type: FULL_TIME,
        },
    )
    .await
    .unwrap();
    assert_eq!(after, expected);
}
