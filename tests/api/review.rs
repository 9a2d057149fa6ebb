//! Whole collections from opening to the reviewer's decision: rejected then approved and
//! delivered, withdrawn and resubmitted, and a free exam batch on grey.

use crate::api_support::*;
use crate::support::Backend;
use serde_json::{json, Value};

on_both_stores!(
    a_paid_collection_is_rejected_then_approved_and_delivered,
    a_withdrawal_while_in_review_and_a_resubmission,
    the_exam_photo_flow_free_by_student_number_on_grey,
);

/// 毕业照片: the collection code and the last four, the fee paid through WeChat Pay's
/// notification, a real photo rejected with reasons, a new photo approved, delivered to 学信网.
async fn a_paid_collection_is_rejected_then_approved_and_delivered(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_photos).await;
    let student = app.student("openid-a").await;
    let (status, opened) = app
        .post(
            "/api/v1/captures",
            &student,
            json!({"school": SCHOOL, "education_type": FULL_TIME, "collection_code": app.collection_code(&WU), "id_last4": WU.last4()}),
        )
        .await;
    assert_eq!(status, 201, "{opened}");
    let capture = opened["capture_id"].as_str().unwrap().to_string();
    let early = app.upload(&capture, &student, astronaut(), "camera").await;
    assert_error(&early, 409, "capture.payment_required");
    // Refused before any standardisation.
    let metrics = app.metrics().await;
    assert!(
        !metrics.contains("photo_ledger_photo_standardisation_seconds_count"),
        "{metrics}"
    );
    pay_fee(&app, &student, &capture).await;
    let (_, view) = app
        .get(&format!("/api/v1/captures/{capture}"), &student)
        .await;
    assert_eq!(view["status"], "awaiting_photo", "{view}");

    let photo = app.standard_photo_of(&capture, &student).await;
    let (status, submitted) = app
        .post(
            &format!("/api/v1/captures/{capture}/submit"),
            &student,
            json!({"standard_photo_id": photo}),
        )
        .await;
    assert_eq!(status, 200, "{submitted}");
    assert_eq!(submitted["status"], "in_review");

    let reviewer = app.staff("reviewer").await;
    let (_, reasons) = app.get("/api/v1/review/reasons", &reviewer).await;
    assert!(reasons["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["code"] == "blurred" && r["label"] == "照片模糊"));
    let (_, queue) = app
        .get(
            &format!("/api/v1/review/queue?school={}", app.school_id),
            &reviewer,
        )
        .await;
    assert_eq!(queue["items"][0]["capture_id"], capture.as_str(), "{queue}");
    let (_, elsewhere) = app
        .get("/api/v1/review/queue?school=another-school", &reviewer)
        .await;
    assert_eq!(elsewhere["items"], json!([]));

    let (status, claimed) = app
        .post(
            &format!("/api/v1/review/captures/{capture}/claim"),
            &reviewer,
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{claimed}");
    let admin = app.staff("admin").await;
    let held = app
        .post(
            &format!("/api/v1/review/captures/{capture}/approve"),
            &admin,
            json!({}),
        )
        .await;
    assert_error(&held, 409, "capture.claimed_by_another");
    let unknown = app
        .post(
            &format!("/api/v1/review/captures/{capture}/reject"),
            &reviewer,
            json!({"reasons": ["ugly"], "note": ""}),
        )
        .await;
    assert_error(&unknown, 422, "capture.unknown_reject_reason");
    let (status, rejected) = app
        .post(
            &format!("/api/v1/review/captures/{capture}/reject"),
            &reviewer,
            json!({"reasons": ["blurred", "too_dark"], "note": "请在光线充足处重拍"}),
        )
        .await;
    assert_eq!(status, 200, "{rejected}");

    let (_, seen) = app
        .get(&format!("/api/v1/captures/{capture}"), &student)
        .await;
    assert_eq!(seen["status"], "rejected");
    assert_eq!(
        seen["reject_reasons"],
        json!([{"code": "blurred", "label": "照片模糊"}, {"code": "too_dark", "label": "照片过暗"}])
    );
    assert_eq!(seen["reject_note"], "请在光线充足处重拍");
    let (_, queue) = app.get("/api/v1/review/queue", &reviewer).await;
    assert_eq!(queue["items"], json!([]));

    let photo = app.standard_photo_of(&capture, &student).await;
    app.post(
        &format!("/api/v1/captures/{capture}/submit"),
        &student,
        json!({"standard_photo_id": photo}),
    )
    .await;
    let (status, approved) = app
        .post(
            &format!("/api/v1/review/captures/{capture}/approve"),
            &reviewer,
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["status"], "approved");
    let locked = app
        .post(
            &format!("/api/v1/captures/{capture}/withdraw"),
            &student,
            json!({}),
        )
        .await;
    assert_error(&locked, 409, "capture.locked");

    let (status, delivered) = app
        .post(
            &format!("/api/v1/admin/captures/{capture}/delivered"),
            &admin,
            json!({"stage": "completed"}),
        )
        .await;
    assert_eq!(status, 200, "{delivered}");
    assert_eq!(delivered["status"], "delivered");
    assert_eq!(delivered["chsi_stage"], "已完成");

    let (status, audit) = app
        .get(&format!("/api/v1/admin/captures/{capture}/events"), &admin)
        .await;
    assert_eq!(status, 200, "{audit}");
    let types: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(types.first(), Some(&"QualificationVerified"), "{types:?}");
    assert_eq!(types.last(), Some(&"DeliveredToChsi"), "{types:?}");
    assert!(
        types.contains(&"Rejected") && types.contains(&"Approved"),
        "{types:?}"
    );
    let rejected_event = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_type"] == "Rejected")
        .unwrap();
    assert_eq!(
        rejected_event["metadata"]["actor"],
        json!({"kind": "reviewer", "id": "reviewer"})
    );
}

/// 集中采集: the batch's feature code with the collection code, a real photo withdrawn while
/// pending and submitted again.
async fn a_withdrawal_while_in_review_and_a_resubmission(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_photos).await;
    let student = app.student("openid-a").await;
    let (status, opened) = app
        .post(
            "/api/v1/captures",
            &student,
            json!({"feature_code": app.batch.feature_code.as_str(), "collection_code": app.collection_code(&WU), "id_last4": WU.last4()}),
        )
        .await;
    assert_eq!(status, 201, "{opened}");
    let capture = opened["capture_id"].as_str().unwrap().to_string();
    pay_fee(&app, &student, &capture).await;
    let photo = app.standard_photo_of(&capture, &student).await;
    let submit = json!({"standard_photo_id": photo});
    app.post(
        &format!("/api/v1/captures/{capture}/submit"),
        &student,
        submit.clone(),
    )
    .await;
    let twice = app
        .post(
            &format!("/api/v1/captures/{capture}/submit"),
            &student,
            submit.clone(),
        )
        .await;
    assert_error(&twice, 409, "capture.already_in_review");
    let (status, withdrawn) = app
        .post(
            &format!("/api/v1/captures/{capture}/withdraw"),
            &student,
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{withdrawn}");
    assert_eq!(withdrawn["status"], "awaiting_submission");
    let reviewer = app.staff("reviewer").await;
    let (_, queue) = app.get("/api/v1/review/queue", &reviewer).await;
    assert_eq!(queue["items"], json!([]));
    let again = app
        .post(
            &format!("/api/v1/captures/{capture}/withdraw"),
            &student,
            json!({}),
        )
        .await;
    assert_error(&again, 409, "capture.not_in_review");
    let (status, resubmitted) = app
        .post(
            &format!("/api/v1/captures/{capture}/submit"),
            &student,
            submit,
        )
        .await;
    assert_eq!(status, 200, "{resubmitted}");
    assert_eq!(resubmitted["status"], "in_review");
    let (_, queue) = app.get("/api/v1/review/queue?limit=1", &reviewer).await;
    assert_eq!(queue["items"][0]["capture_id"], capture.as_str());
    assert!(queue.get("next").is_none(), "{queue}");
    // The metrics count requests by route pattern (never an id) and commands by outcome code.
    let text = app.metrics().await;
    for line in [
        r#"photo_ledger_ledger_commands_total{command="submit",outcome="ok"} 2"#,
        r#"photo_ledger_ledger_commands_total{command="submit",outcome="capture.already_in_review"} 1"#,
        r#"photo_ledger_ledger_commands_total{command="withdraw",outcome="capture.not_in_review"} 1"#,
        r#"photo_ledger_http_requests_total{method="POST",route="/api/v1/captures/{capture_id}/submit",status="409"} 1"#,
        r#"photo_ledger_verifications_total{outcome="created"} 1"#,
        "photo_ledger_projection_lag_events 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line} missing from\n{text}"
        );
    }
    assert!(text.contains("photo_ledger_http_request_duration_seconds_bucket"));
    assert!(!text.contains(&capture), "ids stay out of metric labels");
}

/// 考试照片: a free batch, the student number, a photo moved from blue to grey, approved, and
/// the student's photo history.
async fn the_exam_photo_flow_free_by_student_number_on_grey(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_photos).await;
    app.free_exam_school().await;
    let student = app.student("openid-exam").await;
    let (status, opened) = app
        .post(
            "/api/v1/captures",
            &student,
            json!({"school": EXAM_SCHOOL, "student_number": EXAM_STUDENT}),
        )
        .await;
    assert_eq!(status, 201, "{opened}");
    assert_eq!(opened["status"], "awaiting_photo", "free: nothing to pay");
    let capture = opened["capture_id"].as_str().unwrap().to_string();
    let (status, blue) = app.upload(&capture, &student, astronaut(), "album").await;
    assert_eq!(status, 201, "{blue}");
    assert_eq!(blue["capture"]["background"], "blue");
    let path = background_path(&capture, blue["photo_id"].as_str().unwrap());
    let refused = app
        .post(&path, &student, json!({"background": "white"}))
        .await;
    assert_error(&refused, 422, "capture.background_not_offered");
    let (status, grey) = app
        .post(&path, &student, json!({"background": "grey"}))
        .await;
    assert_eq!(status, 201, "{grey}");
    assert_eq!(grey["capture"]["background"], "grey");
    let (status, _) = app
        .post(
            &format!("/api/v1/captures/{capture}/submit"),
            &student,
            json!({"standard_photo_id": grey["standard_photo_id"]}),
        )
        .await;
    assert_eq!(status, 200);
    let reviewer = app.staff("reviewer").await;
    let (status, approved) = app
        .post(
            &format!("/api/v1/review/captures/{capture}/approve"),
            &reviewer,
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["status"], "approved");

    let (_, history) = app.get("/api/v1/me/history", &student).await;
    let photos = history["photos"].as_array().unwrap();
    assert_eq!(
        photos.len(),
        3,
        "the upload and two standard photos: {history}"
    );
    let approved: Vec<&Value> = photos.iter().filter(|p| p["approved"] == true).collect();
    assert_eq!(approved.len(), 1);
    assert_eq!(approved[0]["photo_id"], grey["standard_photo_id"]);
    assert_eq!(approved[0]["school"], EXAM_SCHOOL);
}
