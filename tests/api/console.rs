//! The staff console over real HTTP, as a browser without script uses it: signing in and out,
//! the session cookie's attributes, reviewing by forms (the next capture claimed, approve, reject
//! with reasons, the same-photo warning), and what is refused: forms without the session's
//! anti-forgery token, students, roles the page is not for, no session at all.

use crate::api_support::console::{browser, csrf_of, get, post, sign_in, Page};
use crate::api_support::*;
use crate::support::Backend;
use reqwest::header::{CONTENT_TYPE, COOKIE};
use serde_json::json;

on_both_stores!(
    a_reviewer_signs_in_reviews_two_captures_by_form_and_signs_out,
    the_console_refuses_forged_forms_students_other_roles_and_strangers,
    an_admin_lifts_a_guessing_lock_on_the_admin_page_and_no_one_else_opens_it,
    a_refused_decision_lets_go_of_the_next_capture_it_claimed,
);

/// The `<section>` of the given class.
fn section_of<'a>(html: &'a str, class: &str) -> &'a str {
    let start = html
        .find(&format!(r#"<section class="card {class}">"#))
        .unwrap_or_else(|| panic!("no {class} section in {html}"));
    let end = start + html[start..].find("</section>").unwrap();
    &html[start..end]
}

/// A student's capture in review with the astronaut.
async fn in_review(app: &TestApp, openid: &str, student: &Student) -> (String, String) {
    let token = app.student(openid).await;
    let capture = app.open_capture(&token, student).await;
    pay_fee(app, &token, &capture).await;
    let photo = app.standard_photo_of(&capture, &token).await;
    app.submit(&token, &capture, &photo).await;
    (capture, token)
}

async fn a_reviewer_signs_in_reviews_two_captures_by_form_and_signs_out(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_photos).await;
    let stranger = get(&app, "/console/review", "").await;
    assert_eq!(stranger.status, 303);
    assert_eq!(stranger.location, "/console/sign-in");

    let form = get(&app, "/console/sign-in", "").await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains(r#"action="/console/sign-in""#));
    assert!(!form.body.contains("<script>"), "no inline script");
    assert!(form
        .body
        .contains(r#"<script src="/console/console.js" defer>"#));
    // A wrong password and an unknown user get the same answer.
    let wrong = post(
        &app,
        "/console/sign-in",
        "",
        &[("username", "reviewer"), ("password", "not the password")],
    )
    .await;
    let unknown = post(
        &app,
        "/console/sign-in",
        "",
        &[("username", "nobody"), ("password", "not the password")],
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(
        (unknown.status, unknown.body.as_str()),
        (wrong.status, wrong.body.as_str())
    );
    assert!(wrong.body.contains("用户名或密码错误"), "{}", wrong.body);
    assert!(wrong.set_cookie.is_empty());

    let signed_in = post(
        &app,
        "/console/sign-in",
        "",
        &[("username", "reviewer"), ("password", STAFF_PASSWORD)],
    )
    .await;
    assert_eq!(signed_in.status, 303);
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age="] {
        assert!(
            signed_in.set_cookie.contains(attribute),
            "{}",
            signed_in.set_cookie
        );
    }
    assert!(!signed_in.set_cookie.contains("Secure"), "plain HTTP here");
    let cookie = signed_in.set_cookie.split(';').next().unwrap().to_string();

    let (first, wu) = in_review(&app, "openid-wu", &WU).await;
    let (second, ouyang) = in_review(&app, "openid-ouyang", &OUYANG).await;

    let start = get(&app, "/console/review", &cookie).await;
    assert_eq!(start.status, 200, "{}", start.body);
    assert!(
        start.body.contains("待审核：<strong>2</strong>"),
        "{}",
        start.body
    );
    assert!(
        start.body.contains(&format!(
            r#"<option value="{}">{SCHOOL}</option>"#,
            app.school_id
        )),
        "schools are picked by name: {}",
        start.body
    );
    let csrf = csrf_of(&start.body);

    let next = post(&app, "/console/review/next", &cookie, &[("csrf", &csrf)]).await;
    assert_eq!(next.status, 303, "{}", next.body);
    assert!(
        next.location
            .starts_with(&format!("/console/review/{first}?")),
        "{}",
        next.location
    );
    let screen = get(&app, &next.location, &cookie).await;
    assert_eq!(screen.status, 200, "{}", screen.body);
    let reviewer = app.staff("reviewer").await;
    let (_, queue) = app.get("/api/v1/review/queue", &reviewer).await;
    let item = &queue["items"][0];
    assert_eq!(item["capture_id"], first.as_str());
    assert_eq!(item["claim_holder"], "reviewer", "opening it claimed it");
    let standard = item["standard_photo_id"].as_str().unwrap();
    let (_, batches) = app
        .get("/api/v1/admin/batches", &app.staff("admin").await)
        .await;
    let feature_code = batches["batches"][0]["feature_code"].as_str().unwrap();
    for shown in [
        item["name_masked"].as_str().unwrap(),
        item["id_masked"].as_str().unwrap(),
        &format!("批次 <code>{feature_code}</code>"),
        &format!(r#"src="/console/photos/{standard}""#),
        "photo.face_width",
        "人脸宽度",
        "头顶 50–110",
        "照片模糊",
        "嘴巴张开",
    ] {
        assert!(screen.body.contains(shown), "{shown} not on the screen");
    }
    assert!(
        !screen.body.contains("同版照片警告"),
        "the first of its photo"
    );
    // The queue page: one group of two, on time, the first held by this reviewer.
    let queue_page = get(&app, "/console/queue", &cookie).await;
    assert_eq!(queue_page.status, 200, "{}", queue_page.body);
    for shown in [
        SCHOOL,
        r#"<tr class="on-time">"#,
        "<td>2</td>",
        "reviewer 至",
        &format!("<code>{feature_code}</code>"),
        &format!("/console/review?school={}", app.school_id),
    ] {
        assert!(
            queue_page.body.contains(shown),
            "{shown} not on the queue page"
        );
    }
    let until: chrono::DateTime<chrono::Utc> =
        item["claim_expires_at"].as_str().unwrap().parse().unwrap();
    let beijing = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let held = format!(
        "reviewer 至 {}",
        until.with_timezone(&beijing).format("%H:%M")
    );
    assert!(
        queue_page.body.contains(&held),
        "the claim's end in Beijing time: {held}"
    );
    let photo = browser()
        .get(app.url(&format!("/console/photos/{standard}")))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(photo.status(), 200);
    assert_eq!(photo.headers()[CONTENT_TYPE], "image/jpeg");

    // Approved: the next capture opens, the same photo as the first, and says so.
    let csrf = csrf_of(&screen.body);
    let approved = post(
        &app,
        &format!("/console/review/{first}/approve"),
        &cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(approved.status, 303, "{}", approved.body);
    assert!(approved
        .location
        .starts_with(&format!("/console/review/{second}?")));
    let screen = get(&app, &approved.location, &cookie).await;
    assert!(screen.body.contains("同版照片警告"), "{}", screen.body);
    assert!(screen.body.contains("另一人的照片"));
    // A control character in a form is refused as the API refuses it, before anything is
    // recorded (the rejection below would otherwise find the capture decided).
    for (name, value) in [("note", "请重拍\u{0}"), ("reason", "blurred\u{1b}")] {
        let refused = post(
            &app,
            &format!("/console/review/{second}/reject"),
            &cookie,
            &[
                ("csrf", &csrf_of(&screen.body)),
                ("reason", "too_dark"),
                (name, value),
            ],
        )
        .await;
        assert_eq!(refused.status, 422, "{name}: {}", refused.body);
        assert!(refused.body.contains("request.invalid"), "{}", refused.body);
    }
    let rejected = post(
        &app,
        &format!("/console/review/{second}/reject"),
        &cookie,
        &[
            ("csrf", &csrf_of(&screen.body)),
            ("reason", "blurred"),
            ("reason", "too_dark"),
            // Ticked twice (a double-submitted form): the student is told once.
            ("reason", "blurred"),
            ("note", "请在光线充足处重拍"),
        ],
    )
    .await;
    assert_eq!(rejected.status, 303, "{}", rejected.body);
    assert!(
        rejected.location.starts_with("/console/review?empty=1"),
        "{}",
        rejected.location
    );

    let (_, view) = app.get(&format!("/api/v1/captures/{first}"), &wu).await;
    assert_eq!(view["status"], "approved", "{view}");
    let (_, view) = app
        .get(&format!("/api/v1/captures/{second}"), &ouyang)
        .await;
    assert_eq!(view["status"], "rejected", "{view}");
    assert_eq!(
        view["reject_reasons"].as_array().unwrap().len(),
        2,
        "{view}"
    );
    assert_eq!(view["reject_note"], "请在光线充足处重拍");

    // Re-shot and handed in again: the screen shows the rejected submission and why.
    let retake = app.standard_photo_of(&second, &ouyang).await;
    app.submit(&ouyang, &second, &retake).await;
    let next = post(&app, "/console/review/next", &cookie, &[("csrf", &csrf)]).await;
    assert!(next
        .location
        .starts_with(&format!("/console/review/{second}?")));
    let screen = get(&app, &next.location, &cookie).await;
    let earlier = section_of(&screen.body, "earlier");
    let rejected_photo = view["standard_photo_id"].as_str().unwrap();
    for shown in [
        "此前的提交（1）",
        "不通过",
        "照片模糊",
        "照片过暗",
        "备注：请在光线充足处重拍",
        &format!(r#"src="/console/photos/{rejected_photo}?size=thumb""#),
    ] {
        assert!(earlier.contains(shown), "{shown} not in {earlier}");
    }
    assert!(
        !earlier.contains(&retake),
        "the submission in review is not an earlier one"
    );

    let signed_out = post(&app, "/console/sign-out", &cookie, &[("csrf", &csrf)]).await;
    assert_eq!(signed_out.status, 303);
    assert_eq!(signed_out.location, "/console/sign-in");
    assert!(
        signed_out.set_cookie.contains("Max-Age=0"),
        "{}",
        signed_out.set_cookie
    );
}

async fn the_console_refuses_forged_forms_students_other_roles_and_strangers(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_photos).await;
    let (capture, _) = in_review(&app, "openid-wu", &WU).await;
    let cookie = sign_in(&app, "reviewer").await;
    let csrf = csrf_of(&get(&app, "/console/review", &cookie).await.body);

    // A state-changing form without this session's token does nothing.
    for forged in [vec![], vec![("csrf", "not-the-token")]] {
        let refused = post(&app, "/console/review/next", &cookie, &forged).await;
        assert_eq!(refused.status, 403, "{}", refused.body);
        assert!(
            refused.body.contains("console.form_expired"),
            "{}",
            refused.body
        );
    }
    let other_session = sign_in(&app, "admin").await;
    let other_csrf = csrf_of(&get(&app, "/console/review", &other_session).await.body);
    let refused = post(
        &app,
        &format!("/console/review/{capture}/approve"),
        &cookie,
        &[("csrf", &other_csrf)],
    )
    .await;
    assert_eq!(refused.status, 403, "another session's token");
    let reviewer = app.staff("reviewer").await;
    let (_, queue) = app.get("/api/v1/review/queue", &reviewer).await;
    assert_eq!(
        queue["items"][0]["claim_holder"],
        serde_json::Value::Null,
        "nothing was done"
    );
    let signed_out = post(&app, "/console/sign-out", &cookie, &[("csrf", "forged")]).await;
    assert_eq!(signed_out.status, 403);
    assert!(
        get(&app, "/console/review", &cookie).await.status == 200,
        "still signed in"
    );
    assert_eq!(csrf.len(), 43, "a 256-bit token");
    // A form far past any the console sends is refused before it is held whole, signed in or
    // not.
    let padding = "x".repeat(100 * 1024);
    for (path, cookie) in [("/console/sign-in", ""), ("/console/review/next", &*cookie)] {
        let huge = post(
            &app,
            path,
            cookie,
            &[("csrf", &csrf), ("padding", &padding)],
        )
        .await;
        assert_eq!(huge.status, 413, "{path}: {}", huge.body);
        assert!(
            huge.body.contains("http.payload_too_large"),
            "{}",
            huge.body
        );
    }

    // A student's token never opens the console; print staff do not review.
    let student = app.student("openid-wu").await;
    let refused = get(
        &app,
        "/console/review",
        &format!("photo_ledger_console={student}"),
    )
    .await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("auth.forbidden"));
    let courier = sign_in(&app, "courier").await;
    assert_eq!(get(&app, "/console/review", &courier).await.status, 403);
    assert_eq!(
        get(&app, &format!("/console/review/{capture}"), &courier)
            .await
            .status,
        403
    );
    // A forged or expired cookie is no session.
    let forged = get(&app, "/console/review", "photo_ledger_console=v1.e30.AAAA").await;
    assert_eq!(
        (forged.status.as_u16(), forged.location.as_str()),
        (303, "/console/sign-in")
    );
    // Bad input is a page with a code, never a 500.
    let bad = get(&app, "/console/review/not-a-capture", &cookie).await;
    assert_eq!(bad.status, 404, "{}", bad.body);
    assert!(bad.body.contains("http.not_found"), "{}", bad.body);
    let gone = get(
        &app,
        &format!("/console/review/{}", uuid::Uuid::new_v4()),
        &cookie,
    )
    .await;
    assert_eq!(gone.status, 404);

    // Skipping lets go of the claim at once: another reviewer takes the capture.
    let next = post(&app, "/console/review/next", &cookie, &[("csrf", &csrf)]).await;
    assert!(
        next.location
            .starts_with(&format!("/console/review/{capture}?")),
        "{}",
        next.location
    );
    let (_, queue) = app.get("/api/v1/review/queue", &reviewer).await;
    assert_eq!(queue["items"][0]["claim_holder"], "reviewer");
    let skipped = post(
        &app,
        &format!("/console/review/{capture}/skip"),
        &cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(skipped.status, 303, "{}", skipped.body);
    assert!(
        skipped.location.starts_with("/console/review?empty=1"),
        "{}",
        skipped.location
    );
    let (_, queue) = app.get("/api/v1/review/queue", &reviewer).await;
    assert_eq!(
        queue["items"][0]["claim_holder"],
        serde_json::Value::Null,
        "{queue}"
    );
    let admin = app.staff("admin").await;
    let (status, claimed) = app
        .post(
            &format!("/api/v1/review/captures/{capture}/claim"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{claimed}");
    // Releasing another's claim is refused; one's own is let go once, and again records nothing.
    let (status, _) = app
        .post(
            &format!("/api/v1/review/captures/{capture}/release"),
            &reviewer,
            json!({}),
        )
        .await;
    assert_eq!(status, 409, "the admin holds it now");
    for _ in 0..2 {
        let (status, _) = app
            .post(
                &format!("/api/v1/review/captures/{capture}/release"),
                &admin,
                json!({}),
            )
            .await;
        assert_eq!(status, 200);
    }
    let trail = app.events_of(&capture).await;
    assert_eq!(
        count_events(&trail, "ClaimReleased"),
        2,
        "the reviewer's skip and the admin's first release: {trail}"
    );
}

async fn an_admin_lifts_a_guessing_lock_on_the_admin_page_and_no_one_else_opens_it(
    backend: Backend,
) {
    let app = TestApp::spawn_with(backend, |s| s.api.auth.staff_sign_in.per_account = 3).await;
    let wrong = [("username", "reviewer"), ("password", "not the password")];
    for _ in 0..3 {
        assert_eq!(post(&app, "/console/sign-in", "", &wrong).await.status, 401);
    }
    // A student number not on the roster goes to the failed-verification log.
    let student = app.student("openid-guesser").await;
    let (status, body) = app
        .post(
            "/api/v1/captures",
            &student,
            json!({"school": SCHOOL, "student_number": "19990000"}),
        )
        .await;
    assert!(status.is_client_error(), "{status} {body}");

    let admin = sign_in(&app, "admin").await;
    let page = get(&app, "/console/admin", &admin).await;
    assert_eq!(page.status, 200, "{}", page.body);
    for shown in [
        "staff:reviewer",
        "19990000",
        "学号",
        r#"href="/console/admin""#,
    ] {
        assert!(page.body.contains(shown), "{shown} not on {}", page.body);
    }
    let csrf = csrf_of(&page.body);
    assert_eq!(lift(&app, &admin, "forged", "本人来电").await.status, 403);
    let no_reason = lift(&app, &admin, &csrf, "  ").await;
    assert_eq!(no_reason.status, 422);
    assert!(
        no_reason.body.contains("request.invalid"),
        "{}",
        no_reason.body
    );
    let locked = post(
        &app,
        "/console/sign-in",
        "",
        &[("username", "reviewer"), ("password", STAFF_PASSWORD)],
    )
    .await;
    assert_eq!(locked.status, 429, "still locked: {}", locked.body);

    let lifted = lift(&app, &admin, &csrf, "李老师来电确认是本人").await;
    assert_eq!(
        (lifted.status.as_u16(), lifted.location.as_str()),
        (303, "/console/admin?lifted=1")
    );
    let again = lift(&app, &admin, &csrf, "李老师来电确认是本人").await;
    assert_eq!(
        again.location, "/console/admin?lifted=0",
        "lifting twice is harmless"
    );
    let page = get(&app, "/console/admin", &admin).await;
    assert!(!page.body.contains("staff:reviewer<"), "{}", page.body);
    let lifts: i64 = photo_ledger_store::on_db!(app.ledger.db(), pool => sqlx::query_scalar(
        "SELECT count(*) FROM guess_lock_lifts WHERE lock_key = 'staff:reviewer' AND lifted_by = 'admin'")
        .fetch_one(pool)
        .await)
    .unwrap();
    assert_eq!(lifts, 1, "who lifted it and why is kept");

    // Reviewers and print staff do not open it, nor lift anything; their menu does not offer it.
    for staff in ["reviewer", "courier"] {
        let cookie = sign_in(&app, staff).await;
        let refused = get(&app, "/console/admin", &cookie).await;
        assert_eq!(refused.status, 403, "{staff}");
        assert!(refused.body.contains("auth.forbidden"));
        assert!(!refused.body.contains(r#"href="/console/admin""#));
        let refused = post(
            &app,
            "/console/admin/locks/lift",
            &cookie,
            &[("csrf", &csrf), ("key", "staff:x"), ("reason", "x")],
        )
        .await;
        assert_eq!(refused.status, 403, "{staff}");
    }
    let reviewer = sign_in(&app, "reviewer").await;
    let review = get(&app, "/console/review", &reviewer).await;
    assert!(
        !review.body.contains(r#"href="/console/admin""#),
        "not offered to reviewers"
    );
}

/// The admin page's form lifting the lock on the reviewer's account.
async fn lift(app: &TestApp, cookie: &str, csrf: &str, reason: &str) -> Page {
    post(
        app,
        "/console/admin/locks/lift",
        cookie,
        &[
            ("csrf", csrf),
            ("key", "staff:reviewer"),
            ("reason", reason),
        ],
    )
    .await
}

async fn a_refused_decision_lets_go_of_the_next_capture_it_claimed(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_photos).await;
    let (first, _) = in_review(&app, "openid-wu", &WU).await;
    let (second, _) = in_review(&app, "openid-ouyang", &OUYANG).await;
    let cookie = sign_in(&app, "reviewer").await;
    let csrf = csrf_of(&get(&app, "/console/review", &cookie).await.body);
    let next = post(&app, "/console/review/next", &cookie, &[("csrf", &csrf)]).await;
    assert!(next
        .location
        .starts_with(&format!("/console/review/{first}?")));

    // Meanwhile the claim moves to an admin (the reviewer's, let go through the API).
    let reviewer = app.staff("reviewer").await;
    let admin = app.staff("admin").await;
    for (who, action) in [(&reviewer, "release"), (&admin, "claim")] {
        let (status, body) = app
            .post(
                &format!("/api/v1/review/captures/{first}/{action}"),
                who,
                json!({}),
            )
            .await;
        assert_eq!(status, 200, "{action}: {body}");
    }
    let refused = post(
        &app,
        &format!("/console/review/{first}/approve"),
        &cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(
        refused.body.contains("capture.claimed_by_another"),
        "{}",
        refused.body
    );

    // The next capture, claimed while the decision was tried, is free again.
    let (_, queue) = app.get("/api/v1/review/queue", &reviewer).await;
    let item = queue["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["capture_id"] == second.as_str())
        .unwrap();
    assert_eq!(item["claim_holder"], serde_json::Value::Null, "{queue}");
    let trail = app.events_of(&second).await;
    assert_eq!(count_events(&trail, "ReviewClaimed"), 1, "{trail}");
    assert_eq!(count_events(&trail, "ClaimReleased"), 1, "{trail}");
    assert_eq!(count_events(&app.events_of(&first).await, "Approved"), 0);
}
