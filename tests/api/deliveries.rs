//! The 学信网 delivery package over real HTTP: what the ZIP holds (read back entry by entry),
//! that its captures are marked delivered once however often and by however many it is
//! downloaded, that later approvals wait for the next package, the console's page and forms,
//! the command line, and who may do any of it.

use std::collections::BTreeMap;
use std::io::Read;

use crate::api_support::console::{browser, csrf_of, sign_in};
use crate::api_support::*;
use crate::support::Backend;
use photo_ledger::delivery::manifest::Entry;
use photo_ledger::delivery::packages;
use photo_ledger_domain::identity::IdType;
use photo_ledger_domain::values::PhotoId;
use reqwest::header::{CONTENT_DISPOSITION, CONTENT_TYPE, COOKIE};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

on_both_stores!(
    a_batch_package_names_each_approved_photo_by_id_number_and_delivers_it_once,
    packages_made_at_once_split_the_captures_and_only_admins_deliver,
);

/// On the roster with a lower-case x, which the package names upper-case.
const WANG: Student = Student {
    number: "2022010005",
    id_number: "44052419990101003x",
    name: "王建国",
};

/// The student's capture, approved by the reviewer; answers the capture id.
async fn approved(app: &TestApp, openid: &str, student: &Student) -> String {
    let capture = submitted(app, openid, student).await;
    app.approve(&capture).await;
    capture
}

async fn submitted(app: &TestApp, openid: &str, student: &Student) -> String {
    let token = app.student(openid).await;
    let capture = app.open_capture(&token, student).await;
    pay_fee(app, &token, &capture).await;
    let photo = app.standard_photo_of(&capture, &token).await;
    app.submit(&token, &capture, &photo).await;
    capture
}

/// Downloads the package; answers its file name and bytes.
async fn download(app: &TestApp, token: &str, package: &str) -> (String, Vec<u8>) {
    let response = app
        .client
        .post(app.url(&format!("/api/v1/admin/deliveries/{package}/download")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/zip");
    let disposition = response.headers()[CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .to_string();
    let name = disposition
        .strip_prefix("attachment; filename=\"")
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or_else(|| panic!("{disposition}"))
        .to_string();
    (name, response.bytes().await.unwrap().to_vec())
}

/// Every entry of a ZIP, by name.
fn entries(zip: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).expect("a ZIP");
    (0..archive.len())
        .map(|i| {
            let mut file = archive.by_index(i).unwrap();
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).unwrap();
            (file.name().to_string(), bytes)
        })
        .collect()
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The manifest's rows, each as column name → value.
fn manifest_rows(manifest: &[u8]) -> Vec<BTreeMap<String, String>> {
    let text = std::str::from_utf8(manifest).unwrap();
    let text = text.strip_prefix('\u{feff}').expect("a byte-order mark");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|row| {
            let row = row.unwrap();
            header
                .iter()
                .zip(row.iter())
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// An entry naming only its capture, as [`packages::claim`] reads it.
fn entry_of(capture_id: &str) -> Entry {
    Entry {
        capture_id: capture_id.to_string(),
        id_type: IdType::ResidentId,
        id_number: capture_id.to_string(),
        name: String::new(),
        school: String::new(),
        education_type: String::new(),
        student_number: None,
        standard_photo_id: PhotoId::from_uuid(uuid::Uuid::nil()),
        photo_sha256: String::new(),
        approved_at: chrono::Utc::now(),
        reviewer: String::new(),
    }
}

async fn status_of(app: &TestApp, capture: &str) -> Value {
    let admin = app.staff("admin").await;
    let (status, view) = app
        .get(&format!("/api/v1/captures/{capture}"), &admin)
        .await;
    assert_eq!(status, 200, "{view}");
    view
}

async fn a_batch_package_names_each_approved_photo_by_id_number_and_delivers_it_once(
    backend: Backend,
) {
    let app = TestApp::spawn_with(backend, with_photos).await;
    let mut captures = BTreeMap::new();
    for (openid, student) in [
        ("openid-wu", &WU),
        ("openid-chen", &CHEN),
        ("openid-li", &LI),
        ("openid-wang", &WANG),
    ] {
        captures.insert(student.number, approved(&app, openid, student).await);
    }
    let waiting = submitted(&app, "openid-ouyang", &OUYANG).await;

    let admin = app.staff("admin").await;
    let feature_code = app.batch.feature_code.as_str();
    let (status, package) = app
        .post(
            "/api/v1/admin/deliveries",
            &admin,
            json!({ "batch": feature_code }),
        )
        .await;
    assert_eq!(status, 201, "{package}");
    assert_eq!(package["captures"], 4, "{package}");
    let package_id = package["package_id"].as_str().unwrap().to_string();

    // Two members of staff at once, then one again: the same bytes each time.
    let (first, second) = tokio::join!(
        download(&app, &admin, &package_id),
        download(&app, &admin, &package_id)
    );
    let (file_name, zip) = first;
    assert_eq!(second, (file_name.clone(), zip.clone()));

    let files = entries(&zip);
    let manifest = &files["manifest.csv"];
    assert_eq!(
        file_name,
        format!("chsi-{feature_code}-{}.zip", sha256(manifest)),
        "the file is named by its manifest's SHA-256"
    );
    assert_eq!(package["manifest_sha256"], sha256(manifest));
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "manifest.csv",
            "普通高等教育/320203200408151226.jpg",
            "普通高等教育/44052419990101003X.jpg",
            "普通高等教育/A123456(7).jpg",
            "普通高等教育/E12345678.jpg",
        ]
    );
    let rows = manifest_rows(manifest);
    assert_eq!(rows.len(), 4);
    for (row, student) in rows.iter().zip([&WU, &WANG, &CHEN, &LI]) {
        let capture = &captures[student.number];
        let photo = &files[&row["照片文件"]];
        assert_eq!(row["证件号码"], student.id_number.to_uppercase());
        assert_eq!(row["姓名"], student.name);
        assert_eq!(row["学号"], student.number);
        assert_eq!(row["学校"], SCHOOL);
        assert_eq!(row["学历类别"], FULL_TIME);
        assert_eq!(row["审核人"], "reviewer");
        assert_eq!(&row["采集编号"], capture);
        assert!(row["审核通过时间"].ends_with("+08:00"), "{row:?}");
        assert_eq!(row["照片SHA-256"], sha256(photo), "{row:?}");
        // The very photo the reviewer approved.
        let view = status_of(&app, capture).await;
        let approved_photo = app
            .client
            .get(app.url(&format!(
                "/api/v1/photos/{}",
                view["standard_photo_id"].as_str().unwrap()
            )))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(sha256(&approved_photo), sha256(photo));
        assert_eq!(view["status"], "delivered", "{view}");
        assert_eq!(view["chsi_stage"], "上网中", "{view}");
        assert_eq!(
            count_events(&app.events_of(capture).await, "DeliveredToChsi"),
            1,
            "two downloads at once deliver once"
        );
    }
    assert_eq!(status_of(&app, &waiting).await["status"], "in_review");

    // Approved after the package was made: not in it, still waiting for the next one.
    app.approve(&waiting).await;
    let (_, again) = download(&app, &admin, &package_id).await;
    assert_eq!(again, zip, "a package is the same bytes at every download");
    assert_eq!(status_of(&app, &waiting).await["status"], "approved");
    let (status, next) = app
        .post(
            "/api/v1/admin/deliveries",
            &admin,
            json!({ "batch": feature_code }),
        )
        .await;
    assert_eq!(status, 201, "{next}");
    assert_eq!(next["captures"], 1);
    let (_, next_zip) = download(&app, &admin, next["package_id"].as_str().unwrap()).await;
    assert!(entries(&next_zip).contains_key("普通高等教育/110105200402290020.jpg"));
    let nothing = app
        .post(
            "/api/v1/admin/deliveries",
            &admin,
            json!({ "batch": feature_code }),
        )
        .await;
    assert_error(&nothing, 409, "delivery.nothing_to_deliver");

    // 学信网 shows them: 已完成, once.
    for _ in 0..2 {
        let (status, completed) = app
            .post(
                &format!("/api/v1/admin/deliveries/{package_id}/completed"),
                &admin,
                json!({}),
            )
            .await;
        assert_eq!(status, 200, "{completed}");
        assert!(completed["completed_at"].is_string(), "{completed}");
    }
    let wu = &captures[WU.number];
    assert_eq!(status_of(&app, wu).await["chsi_stage"], "已完成");
    assert_eq!(count_events(&app.events_of(wu).await, "DeliveredToChsi"), 2);

    // Who took names and ID numbers in clear, and when.
    let (_, listed) = app.get("/api/v1/admin/deliveries", &admin).await;
    let listed = listed["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["package_id"] == package_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(listed["downloads"].as_array().unwrap().len(), 3, "{listed}");
    assert_eq!(listed["downloads"][0]["downloaded_by"], "admin");

    // The command line writes the same package, byte for byte.
    let out = tempfile::tempdir().unwrap();
    let written = app
        .photo_ledger()
        .args([
            "deliver",
            "--package",
            &package_id,
            "--by",
            "admin",
            "--out",
        ])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(written.status.success(), "{written:?}");
    assert_eq!(std::fs::read(out.path().join(&file_name)).unwrap(), zip);
}

async fn packages_made_at_once_split_the_captures_and_only_admins_deliver(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_photos).await;
    for (openid, student) in [
        ("openid-wu", &WU),
        ("openid-chen", &CHEN),
        ("openid-li", &LI),
    ] {
        approved(&app, openid, student).await;
    }
    let admin = app.staff("admin").await;
    let feature_code = app.batch.feature_code.as_str();
    let make = || {
        app.post(
            "/api/v1/admin/deliveries",
            &admin,
            json!({ "batch": feature_code }),
        )
    };
    let (a, b) = tokio::join!(make(), make());
    let mut held = Vec::new();
    for (status, package) in [a, b] {
        match status.as_u16() {
            201 => {
                let (_, zip) =
                    download(&app, &admin, package["package_id"].as_str().unwrap()).await;
                held.extend(
                    entries(&zip)
                        .into_keys()
                        .filter(|name| name != "manifest.csv"),
                );
            }
            _ => assert_error(&(status, package), 409, "delivery.nothing_to_deliver"),
        }
    }
    held.sort();
    assert_eq!(
        held,
        [
            "普通高等教育/320203200408151226.jpg",
            "普通高等教育/A123456(7).jpg",
            "普通高等教育/E12345678.jpg",
        ],
        "each capture in exactly one package"
    );

    let (_, listed) = app.get("/api/v1/admin/deliveries", &admin).await;
    let package = listed["packages"][0]["package_id"]
        .as_str()
        .unwrap()
        .to_string();

    // However the two requests interleaved, the database keeps each capture in one package:
    // claiming a package's captures for another finds every one taken.
    let db = app.ledger.db();
    let (_, held_ids) = packages::load(db, &package).await.unwrap().unwrap();
    let again = packages::claim(
        db,
        packages::NewPackage {
            package_id: "another-package",
            school_id: &app.school_id,
            batch_id: None,
            label: "again",
            created_by: "admin",
            created_at: chrono::Utc::now(),
        },
        held_ids.iter().map(|id| entry_of(id)).collect(),
    )
    .await
    .unwrap();
    assert_eq!(again, None, "a capture is in one package at most");
    assert!(
        packages::load(db, "another-package")
            .await
            .unwrap()
            .is_none(),
        "nothing half-made"
    );
    let reviewer = app.staff("reviewer").await;
    let courier = app.staff("courier").await;
    for token in [&reviewer, &courier] {
        let refused = app
            .post(
                "/api/v1/admin/deliveries",
                token,
                json!({ "school": SCHOOL }),
            )
            .await;
        assert_error(&refused, 403, "auth.forbidden");
        let refused = app
            .post(
                &format!("/api/v1/admin/deliveries/{package}/download"),
                token,
                json!({}),
            )
            .await;
        assert_error(&refused, 403, "auth.forbidden");
    }
    let unknown = app
        .post(
            "/api/v1/admin/deliveries/no-such-package/download",
            &admin,
            json!({}),
        )
        .await;
    assert_error(&unknown, 404, "delivery.unknown_package");
    let neither = app
        .post("/api/v1/admin/deliveries", &admin, json!({}))
        .await;
    assert_error(&neither, 422, "eligibility.invalid_input");

    // The console: the page lists the package and its downloads; the form downloads the ZIP;
    // a reviewer's session is refused.
    let browser = browser();
    let cookie = sign_in(&app, "admin").await;
    let page = browser
        .get(app.url("/console/deliveries"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(&format!(r#"data-package="{package}""#)),
        "{html}"
    );
    assert!(
        html.contains("上网中") && !html.contains("未下载"),
        "the downloads: {html}"
    );
    let csrf = csrf_of(&html);
    let zip = browser
        .post(app.url(&format!("/console/deliveries/{package}/download")))
        .header(COOKIE, &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(zip.status(), 200);
    assert!(entries(&zip.bytes().await.unwrap()).contains_key("manifest.csv"));
    let forged = browser
        .post(app.url(&format!("/console/deliveries/{package}/download")))
        .header(COOKIE, &cookie)
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let reviewer_session = sign_in(&app, "reviewer").await;
    let refused = browser
        .get(app.url("/console/deliveries"))
        .header(COOKIE, &reviewer_session)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
}
