//! Admins set up schools, batches and rosters over HTTP.

use crate::api_support::*;
use crate::support::Backend;
use serde_json::json;

on_both_stores!(
    admins_set_up_a_school_batch_and_roster_over_http,
    admins_read_a_capture_and_the_review_queue_as_they_were,
);

async fn admins_read_a_capture_and_the_review_queue_as_they_were(backend: Backend) {
    use crate::support::{catch_up_all, full_flow, run};
    use photo_ledger_domain::values::CaptureId;
    use photo_ledger_domain::CaptureCommand;

    let app = TestApp::spawn(backend).await;
    let admin = app.staff("admin").await;
    let capture = CaptureId::new();
    let steps = full_flow(capture, 1);
    let submit = steps
        .iter()
        .position(|(_, c)| matches!(c, CaptureCommand::Submit(_)))
        .unwrap();
    for (role, command) in steps[..=submit].iter().cloned() {
        run(&app.ledger, &capture.to_string(), role, command)
            .await
            .unwrap();
    }
    catch_up_all(&app.ledger).await;
    let (status, live) = app
        .get(&format!("/api/v1/captures/{capture}"), &admin)
        .await;
    assert_eq!(status, 200, "{live}");
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let moment = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    // Claimed and rejected since.
    for (role, command) in steps[submit + 1..submit + 3].iter().cloned() {
        run(&app.ledger, &capture.to_string(), role, command)
            .await
            .unwrap();
    }

    let (status, then) = app
        .get(
            &format!("/api/v1/admin/audit/captures/{capture}?at={moment}"),
            &admin,
        )
        .await;
    assert_eq!(status, 200, "{then}");
    assert_eq!(then["sequence"], json!(submit + 1), "{then}");
    assert_eq!(then["status"]["status"], live["status"], "{then}");
    assert_eq!(then["status"]["status_label"], live["status_label"]);
    let queue_at = |at: String| {
        let app = &app;
        let admin = &admin;
        async move {
            let (status, view) = app
                .get(
                    &format!("/api/v1/admin/audit/views/review_queue?at={at}"),
                    admin,
                )
                .await;
            assert_eq!(status, 200, "{view}");
            view["tables"]["review_queue"]
                .as_array()
                .unwrap()
                .iter()
                .map(|row| row["capture_id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(queue_at(moment.clone()).await, vec![capture.to_string()]);
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    assert!(queue_at(now).await.is_empty(), "rejected since");

    let unknown = app
        .get(
            &format!("/api/v1/admin/audit/views/queue?at={moment}"),
            &admin,
        )
        .await;
    assert_error(&unknown, 404, "audit.unknown_view");
    let before = app
        .get(
            &format!("/api/v1/admin/audit/captures/{capture}?at=2000-01-01T00:00:00Z"),
            &admin,
        )
        .await;
    assert_error(&before, 404, "capture.not_found");
    for query in ["", "?at=yesterday", "?at=2026-12-01"] {
        let bad = app
            .get(
                &format!("/api/v1/admin/audit/views/review_queue{query}"),
                &admin,
            )
            .await;
        assert_error(&bad, 400, "http.invalid_query");
    }
}

async fn admins_set_up_a_school_batch_and_roster_over_http(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.api.http.roster_limit_bytes = 4096).await;
    let admin = app.staff("admin").await;
    let school = "太湖学院";
    let (status, added) = app
        .post(
            "/api/v1/admin/schools",
            &admin,
            json!({"name": school, "categories": ["开放教育"]}),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    let (status, widened) = app
        .post(
            "/api/v1/admin/schools",
            &admin,
            json!({"name": school, "categories": ["网络教育"]}),
        )
        .await;
    assert_eq!(status, 200, "{widened}");
    assert_eq!(widened["categories"], json!(["开放教育", "网络教育"]));

    let (status, batch) = app
        .post(
            "/api/v1/admin/batches",
            &admin,
            json!({"school": school, "education_type": "开放教育", "price_fen": 0, "deadline": "2099-06-30"}),
        )
        .await;
    assert_eq!(status, 201, "{batch}");
    assert_eq!(batch["feature_code"].as_str().unwrap().len(), 6);
    let unknown = app
        .post(
            "/api/v1/admin/batches",
            &admin,
            json!({"school": "无此学校", "education_type": "开放教育", "price_fen": 0}),
        )
        .await;
    assert_error(&unknown, 404, "eligibility.unknown_school");
    // A price no collection charges (an order of 20 sheets at it would pass any amount WeChat
    // Pay takes) is refused, for the collection and for a sheet alike.
    for (price, sheet) in [(1_000_001, 0), (0, 1_000_001), (i64::MAX, i64::MAX)] {
        let refused = app
            .post(
                "/api/v1/admin/batches",
                &admin,
                json!({"school": school, "education_type": "开放教育", "price_fen": price,
                       "paper_prints_fen": sheet}),
            )
            .await;
        assert_error(&refused, 422, "eligibility.invalid_input");
    }

    let roster = "学号,姓名,证件类型,证件号码,学历类别\n\
        2023000001,李明,居民身份证,320203200408151226,开放教育\n\
        2023000002,王芳,居民身份证,123,开放教育\n";
    let upload = |file_name: &str, body: Vec<u8>| {
        app.client
            .post(app.url("/api/v1/admin/rosters"))
            .query(&[("school", school), ("file_name", file_name)])
            .bearer_auth(&admin)
            .body(body)
            .send()
    };
    let (status, report) = read(
        upload("roster.csv", roster.as_bytes().to_vec())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["inserted"], 1, "{report}");
    assert_eq!(report["problems"][0]["line"], 3, "{report}");
    let unreadable = read(upload("roster.pdf", b"%PDF-1.4".to_vec()).await.unwrap()).await;
    assert_error(&unreadable, 422, "eligibility.roster_unreadable");
    let too_big = read(upload("roster.csv", vec![b'x'; 5000]).await.unwrap()).await;
    assert_error(&too_big, 413, "http.payload_too_large");

    // A student on the new roster verifies by student number; the collection is free.
    let student = app.student("openid-li").await;
    let (status, opened) = app
        .post(
            "/api/v1/captures",
            &student,
            json!({"school": school, "student_number": "2023000001"}),
        )
        .await;
    assert_eq!(status, 201, "{opened}");
    assert_eq!(opened["feature_code"], batch["feature_code"]);
    assert_eq!(opened["status"], "awaiting_photo");
    let (_, schools) = app.get("/api/v1/admin/schools", &admin).await;
    assert_eq!(schools["schools"].as_array().unwrap().len(), 2);
    let (_, batches) = app.get("/api/v1/admin/batches", &admin).await;
    assert_eq!(batches["batches"].as_array().unwrap().len(), 2);
    // No background at all would let a student pick any colour: refused. One named twice is one.
    let none = app
        .post(
            "/api/v1/admin/batches",
            &admin,
            json!({"school": school, "education_type": "开放教育", "price_fen": 0, "backgrounds": []}),
        )
        .await;
    assert_error(&none, 422, "eligibility.invalid_input");
    let (status, twice) = app
        .post(
            "/api/v1/admin/batches",
            &admin,
            json!({"school": school, "education_type": "开放教育", "price_fen": 0,
                   "backgrounds": ["blue", "white", "blue"]}),
        )
        .await;
    assert_eq!(status, 201, "{twice}");
    assert_eq!(
        twice["policy"]["backgrounds"],
        json!(["blue", "white"]),
        "{twice}"
    );
}
