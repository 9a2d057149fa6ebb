//! Same-photo (同版) detection end to end: a photo handed in again by another student, or by the
//! same student for another education record, is found when submitted and shown to the reviewer
//! with the other capture's photo; nothing is decided for the reviewer.

use crate::api_support::*;
use crate::support::Backend;
use image::imageops::FilterType;
use serde_json::{json, Value};

on_both_stores!(a_photo_handed_in_again_is_shown_to_the_reviewer_beside_the_first,);

/// The astronaut as handed in again: the left and bottom 4 % cut off (her head is near the top),
/// scaled to 90 %, 8 levels brighter, re-encoded as JPEG at quality 70.
fn astronaut_again() -> Vec<u8> {
    let original = image::load_from_memory(&astronaut()).unwrap().to_rgb8();
    let (w, h) = original.dimensions();
    let cropped =
        image::imageops::crop_imm(&original, w / 25, 0, w - w / 25, h - h / 25).to_image();
    let (cw, ch) = cropped.dimensions();
    let scaled = image::imageops::resize(&cropped, cw * 9 / 10, ch * 9 / 10, FilterType::Lanczos3);
    let brighter = image::imageops::colorops::brighten(&scaled, 8);
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 70)
        .encode_image(&brighter)
        .unwrap();
    jpeg
}

/// The queue item of `capture`.
async fn in_queue(app: &TestApp, reviewer: &str, capture: &str) -> Value {
    let (status, queue) = app.get("/api/v1/review/queue", reviewer).await;
    assert_eq!(status, 200, "{queue}");
    queue["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["capture_id"] == capture)
        .cloned()
        .unwrap_or_else(|| panic!("{capture} not in the queue: {queue}"))
}

async fn a_photo_handed_in_again_is_shown_to_the_reviewer_beside_the_first(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_photos).await;
    let reviewer = app.staff("reviewer").await;

    // 吴晓兰 hands in her photo first: nothing to find.
    let wu = app.student("openid-wu").await;
    let first = paid_capture(&app, &wu).await;
    let first_photo = app.standard_photo_of(&first, &wu).await;
    app.submit(&wu, &first, &first_photo).await;
    let item = in_queue(&app, &reviewer, &first).await;
    assert!(item.get("same_photos").is_none(), "{item}");

    // 欧阳娜娜 hands in the same photo, re-cut and re-encoded: another person's photo.
    let ouyang = app.student("openid-ouyang").await;
    let second = app.open_capture(&ouyang, &OUYANG).await;
    pay_fee(&app, &ouyang, &second).await;
    let (status, again) = app
        .upload(&second, &ouyang, astronaut_again(), "album")
        .await;
    assert_eq!(status, 201, "{again}");
    let second_photo = again["standard_photo_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no standard photo: {again}"))
        .to_string();
    app.submit(&ouyang, &second, &second_photo).await;
    let item = in_queue(&app, &reviewer, &second).await;
    let found = item["same_photos"].as_array().unwrap();
    assert_eq!(found.len(), 1, "{item}");
    assert_eq!(found[0]["capture_id"], first.as_str());
    assert_eq!(found[0]["photo_id"], first_photo.as_str());
    assert_eq!(found[0]["same_person"], false);
    assert_eq!(found[0]["school"], SCHOOL);
    assert_eq!(found[0]["education_type"], FULL_TIME);
    assert!(found[0]["distance"].as_u64().unwrap() <= 8, "{item}");
    // The reviewer sees the other capture's photo beside this one; nothing was decided.
    let other = app
        .client
        .get(app.url(&format!("/api/v1/photos/{first_photo}")))
        .bearer_auth(&reviewer)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
    let (_, status_view) = app
        .get(&format!("/api/v1/captures/{second}"), &ouyang)
        .await;
    assert_eq!(status_view["status"], "in_review", "{status_view}");

    // 吴晓兰 again, for her 自学考试 record at another school: the 同版 rule, and the other student.
    app.free_exam_school().await;
    let wu_exam = app.student("openid-wu-exam").await;
    let (status, opened) = app
        .post(
            "/api/v1/captures",
            &wu_exam,
            json!({"school": EXAM_SCHOOL, "student_number": EXAM_STUDENT}),
        )
        .await;
    assert_eq!(status, 201, "{opened}");
    let third = opened["capture_id"].as_str().unwrap().to_string();
    let third_photo = app.standard_photo_of(&third, &wu_exam).await;
    app.submit(&wu_exam, &third, &third_photo).await;
    let item = in_queue(&app, &reviewer, &third).await;
    let found: Vec<(&str, bool)> = item["same_photos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["capture_id"].as_str().unwrap(), f["same_person"] == true))
        .collect();
    assert_eq!(found.len(), 2, "{item}");
    assert!(found.contains(&(first.as_str(), true)), "{item}");
    assert!(found.contains(&(second.as_str(), false)), "{item}");
    // What was found is recorded with the submission, in the ledger.
    let events = app.events_of(&third).await;
    let submitted = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_type"] == "Submitted")
        .unwrap_or_else(|| panic!("no Submitted event: {events}"));
    assert_eq!(
        submitted["payload"]["Submitted"]["same_photos"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "{submitted}"
    );
}
