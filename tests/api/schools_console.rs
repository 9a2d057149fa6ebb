//! Admins' schools and batches in the console, over real HTTP on both stores: a school and a
//! batch made by form (amounts in yuan), a bad form refused, the policy edited, a roster uploaded
//! with its bad rows shown by line and its good rows imported, its collection codes as one
//! ZIP whose picture verifies a student; once a student is verified in the
//! batch its policy no longer changes; the batch closed; nobody but admins opens the pages.

use serde_json::Value;

use crate::api_support::console::{csrf_of, get, post, sign_in, upload, Page};
use crate::api_support::*;
use crate::support::Backend;

on_both_stores!(an_admin_sets_up_a_school_its_batch_and_roster_and_closes_the_batch);

const SCHOOL_NAME: &str = "控制台学院";
const CATEGORY: &str = "自学考试";

async fn upload_roster(
    app: &TestApp,
    cookie: &str,
    csrf: &str,
    school_id: &str,
    csv: &str,
) -> Page {
    let path = format!("/console/schools/{school_id}/roster");
    let fields = [("csrf", csrf), ("batch", "")];
    upload(
        app,
        &path,
        cookie,
        &fields,
        "名单.csv",
        csv.as_bytes().to_vec(),
    )
    .await
}

/// The school's batch as the API lists it.
async fn the_batch(app: &TestApp) -> Value {
    let (_, listed) = app
        .get("/api/v1/admin/batches", &app.staff("admin").await)
        .await;
    listed["batches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["school_name"] == SCHOOL_NAME)
        .cloned()
        .unwrap_or_else(|| panic!("no batch of {SCHOOL_NAME} in {listed}"))
}

async fn an_admin_sets_up_a_school_its_batch_and_roster_and_closes_the_batch(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = sign_in(&app, "admin").await;
    let list = get(&app, "/console/schools", &admin).await;
    assert_eq!(list.status, 200);
    let csrf = csrf_of(&list.body);

    let made = post(
        &app,
        "/console/schools",
        &admin,
        &[
            ("csrf", &csrf),
            ("name", SCHOOL_NAME),
            ("categories", "自学考试\n网络教育"),
        ],
    )
    .await;
    assert_eq!(
        (made.status.as_u16(), made.location.as_str()),
        (303, "/console/schools?done=school")
    );
    let batch_form = |price: &'static str, backgrounds: &'static str| {
        vec![
            ("school", SCHOOL_NAME),
            ("education_type", CATEGORY),
            ("price_yuan", price),
            ("pay_before_upload", "on"),
            ("backgrounds", backgrounds),
            ("paper_prints_yuan", "15"),
            ("deadline", "2099-12-31"),
        ]
    };
    let with_csrf = |mut form: Vec<(&'static str, &'static str)>, csrf: &str| {
        let mut all = vec![("csrf".to_string(), csrf.to_string())];
        all.extend(form.drain(..).map(|(k, v)| (k.to_string(), v.to_string())));
        all
    };
    let send = |form: Vec<(String, String)>, path: String| {
        let app = &app;
        let admin = admin.clone();
        async move {
            let pairs: Vec<(&str, &str)> =
                form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            post(app, &path, &admin, &pairs).await
        }
    };
    for (price, backgrounds, why) in [
        ("二十五", "blue", "a price in words"),
        ("25", "pink", "a colour that is none"),
    ] {
        let refused = send(
            with_csrf(batch_form(price, backgrounds), &csrf),
            "/console/batches".into(),
        )
        .await;
        assert_eq!(refused.status, 422, "{why}");
        assert!(refused.body.contains("eligibility.invalid_input"), "{why}");
    }
    for _ in 0..2 {
        let made = send(
            with_csrf(batch_form("25.5", "blue, white"), &csrf),
            "/console/batches".into(),
        )
        .await;
        assert_eq!(made.location, "/console/schools?done=batch");
    }
    let (_, listed) = app
        .get("/api/v1/admin/batches", &app.staff("admin").await)
        .await;
    let ours = listed["batches"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["school_name"] == SCHOOL_NAME)
        .count();
    assert_eq!(ours, 1, "the form sent twice makes one batch");
    let batch = the_batch(&app).await;
    assert_eq!(batch["policy"]["price_fen"], 2550, "{batch}");
    assert_eq!(batch["policy"]["pay_before_upload"], true);
    assert_eq!(
        batch["policy"]["album_allowed"], false,
        "the box was not ticked"
    );
    assert_eq!(
        batch["policy"]["backgrounds"],
        serde_json::json!(["blue", "white"])
    );
    assert_eq!(batch["policy"]["paper_prints"]["price_per_sheet_fen"], 1500);
    assert_eq!(
        batch["closes_at"], "2099-12-31T16:00:00Z",
        "midnight after the last day, China time"
    );
    let batch_id = batch["batch_id"].as_str().unwrap().to_string();
    let feature_code = batch["feature_code"].as_str().unwrap().to_string();
    assert!(get(&app, "/console/schools", &admin)
        .await
        .body
        .contains(&feature_code));

    // Edited before any student is verified in it.
    let edit_path = format!("/console/batches/{batch_id}");
    assert!(get(&app, &edit_path, &admin)
        .await
        .body
        .contains(r#"name="price_yuan""#));
    let mut edit: Vec<(&'static str, &'static str)> = batch_form("0", "blue");
    edit.retain(|(k, _)| *k != "school" && *k != "education_type" && *k != "pay_before_upload");
    let edited = send(with_csrf(edit.clone(), &csrf), edit_path.clone()).await;
    assert_eq!(edited.location, "/console/schools?done=edited");
    let batch = the_batch(&app).await;
    assert_eq!(batch["policy"]["price_fen"], 0);
    assert_eq!(batch["policy"]["pay_before_upload"], false);

    // The roster: bad rows by line, the good ones imported.
    let school_id = batch["school_id"].as_str().unwrap().to_string();
    let roster = "学号,姓名,证件类型,证件号码,学历类别\n\
                  20267001,控制台甲,护照,E9000001,自学考试\n\
                  20267002,,护照,E9000002,自学考试\n\
                  20267003,控制台丙,护照,E9000003,自学考试\n\
                  20267004,控制台丁,护照,E9000004,成人高考\n";
    let report = upload_roster(&app, &admin, &csrf, &school_id, roster).await;
    assert_eq!(report.status, 422, "{}", report.body);
    assert!(report.body.contains("新增 2"), "{}", report.body);
    for line in [3, 5] {
        assert!(
            report
                .body
                .contains(&format!(r#"<td class="count">{line}</td>"#)),
            "line {line}: {}",
            report.body
        );
    }
    assert!(
        !report.body.contains(r#"<td class="count">2</td><td>"#),
        "line 2 is good"
    );
    let imports = get(
        &app,
        &format!("/console/schools/{school_id}/roster"),
        &admin,
    )
    .await;
    assert!(imports.body.contains("名单.csv"), "{}", imports.body);

    // The roster's collection codes: a picture per student and their index, in one ZIP.
    let codes = post(
        &app,
        &format!("/console/schools/{school_id}/codes"),
        &admin,
        &[("csrf", &csrf), ("education_type", CATEGORY)],
    )
    .await;
    assert_eq!(codes.content_type, "application/zip");
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(codes.bytes)).unwrap();
    let mut names: Vec<String> = zip.file_names().map(str::to_string).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "codes.csv",
            "自学考试-20267001.png",
            "自学考试-20267003.png"
        ]
    );
    let mut index = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("codes.csv").unwrap(), &mut index).unwrap();
    assert!(index.starts_with('\u{feff}'), "Excel reads it as UTF-8");
    assert!(
        index.contains("自学考试-20267001.png,自学考试,20267001,控**甲,"),
        "{index}"
    );
    assert!(
        !index.contains("E9000001"),
        "ID numbers are masked: {index}"
    );
    let mut png = Vec::new();
    std::io::Read::read_to_end(&mut zip.by_name("自学考试-20267001.png").unwrap(), &mut png)
        .unwrap();

    // A student verified in the batch by that picture: the batch's policy is now theirs.
    let student = app.student("openid-console-school").await;
    let (status, opened) = app
        .post(
            "/api/v1/captures",
            &student,
            serde_json::json!({"feature_code": feature_code, "collection_code_image": data_encoding::BASE64.encode(&png), "id_last4": "0001"}),
        )
        .await;
    assert_eq!(status, 201, "{opened}");
    assert!(get(&app, &edit_path, &admin)
        .await
        .body
        .contains("已有学生完成验证"));
    let refused = send(with_csrf(edit, &csrf), edit_path.clone()).await;
    assert_eq!(refused.status, 409);
    assert!(refused.body.contains("eligibility.batch_in_use"));

    // Closed: nobody joins any more.
    let closed = post(
        &app,
        &format!("/console/batches/{batch_id}/close"),
        &admin,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(closed.location, "/console/schools?done=closed");
    assert!(the_batch(&app).await["closes_at"].as_str().unwrap() < "2099");
    let late = app.student("openid-console-late").await;
    let refused = app
        .post(
            "/api/v1/captures",
            &late,
            serde_json::json!({"school": SCHOOL_NAME, "student_number": "20267003"}),
        )
        .await;
    assert_eq!(refused.0.as_u16() / 100, 4, "{}", refused.1);

    // Only admins.
    for role in ["reviewer", "courier"] {
        let cookie = sign_in(&app, role).await;
        assert_eq!(
            get(&app, "/console/schools", &cookie).await.status,
            403,
            "{role}"
        );
        assert_eq!(
            get(
                &app,
                &format!("/console/schools/{school_id}/roster"),
                &cookie
            )
            .await
            .status,
            403,
            "{role}"
        );
    }
}
