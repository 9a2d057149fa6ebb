//! Photos: uploaded, standardised and submitted, the capture's photo limit, and an
//! S3-compatible bucket.

use crate::api_support::*;
use crate::support::Backend;
use reqwest::Method;
use serde_json::{json, Value};

on_both_stores!(
    a_photo_is_uploaded_standardised_and_submitted,
    a_capture_full_of_photos_refuses_more_before_standardising,
    photos_are_kept_in_an_s3_compatible_bucket,
);

async fn a_photo_is_uploaded_standardised_and_submitted(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_photos).await;
    let student = app.student("openid-a").await;
    let capture = paid_capture(&app, &student).await;
    let upload =
        |photo: Vec<u8>, source: &'static str| app.upload(&capture, &student, photo, source);
    let (status, uploaded) = upload(astronaut(), "camera").await;
    assert_eq!(status, 201, "{uploaded}");
    assert_eq!(uploaded["verdict"], "accepted", "{uploaded}");
    assert_eq!(uploaded["blocking"], false);
    assert!(uploaded["checks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["code"].is_string() && c["message"].is_string()));
    assert_eq!(
        uploaded["capture"]["status"], "awaiting_submission",
        "{uploaded}"
    );
    let standard = uploaded["standard_photo_id"].as_str().unwrap();
    assert_eq!(uploaded["capture"]["standard_photo_id"], standard);

    let not_a_photo = upload(b"%PDF-1.4 not a photo".to_vec(), "album").await;
    assert_error(&not_a_photo, 422, "photo.not_an_image");
    let bad_source = upload(vec![1, 2, 3], "scanner").await;
    assert_error(&bad_source, 422, "request.invalid");
    let not_multipart = app
        .post(
            &format!("/api/v1/captures/{capture}/photos"),
            &student,
            json!({}),
        )
        .await;
    assert_error(&not_multipart, 400, "http.bad_request");
    // Two photos in one form: neither is taken for the one meant.
    let boundary = "two-photos";
    let mut twice = Vec::new();
    for photo in [b"not a photo".to_vec(), astronaut()] {
        twice.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; \
                 filename=\"photo.png\"\r\nContent-Type: image/png\r\n\r\n"
            )
            .as_bytes(),
        );
        twice.extend_from_slice(&photo);
        twice.extend_from_slice(b"\r\n");
    }
    twice.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let answer = app
        .keyed_post(
            &format!("/api/v1/captures/{capture}/photos"),
            &student,
            "two-photos",
        )
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(twice)
        .send()
        .await
        .unwrap();
    assert_error(&read(answer).await, 422, "request.invalid");

    // The same upload on grey: a new standard photo, which is the one submitted.
    let background = |photo: &str, body: Value| {
        let path = background_path(&capture, photo);
        let student = student.clone();
        let app = &app;
        async move { app.post(&path, &student, body).await }
    };
    let (status, grey) = background(standard, json!({"background": "grey"})).await;
    assert_eq!(status, 201, "{grey}");
    assert_eq!(
        grey["photo_id"], uploaded["photo_id"],
        "the result of the same upload"
    );
    let standard = grey["standard_photo_id"].as_str().unwrap();
    assert_ne!(standard, uploaded["standard_photo_id"].as_str().unwrap());
    assert_eq!(grey["capture"]["background"], "grey", "{grey}");
    assert_error(
        &background(standard, json!({"background": "green"})).await,
        422,
        "request.invalid",
    );
    let unknown = uuid::Uuid::new_v4().to_string();
    assert_error(
        &background(&unknown, json!({"background": "white"})).await,
        404,
        "photo.not_found",
    );

    let (status, submitted) = app
        .post(
            &format!("/api/v1/captures/{capture}/submit"),
            &student,
            json!({"standard_photo_id": standard}),
        )
        .await;
    assert_eq!(status, 200, "{submitted}");
    assert_eq!(submitted["status"], "in_review");
    let (_, history) = app.get("/api/v1/me/history", &student).await;
    assert_eq!(history["photos"].as_array().unwrap().len(), 3, "{history}");
    let (_, ready) = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(ready["photos"], "models_loaded");
    let metrics = app.metrics().await;
    assert!(
        metrics
            .contains(r#"photo_ledger_photo_standardisation_seconds_count{verdict="accepted"} 2"#),
        "{metrics}"
    );
    assert!(metrics.contains(
        r#"photo_ledger_photo_standardisation_seconds_count{verdict="photo.not_an_image"} 1"#
    ));

    // The files: to the owner and staff only, as stored or as a preview.
    let image = |path: String, token: String| {
        let app = &app;
        async move {
            app.client
                .get(app.url(&path))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    let photo = image(format!("/api/v1/photos/{standard}"), student.clone()).await;
    assert_eq!(photo.status(), 200);
    assert_eq!(photo.headers()["content-type"], "image/jpeg");
    let jpeg = photo.bytes().await.unwrap();
    let decoded = image::load_from_memory(&jpeg).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (480, 640));
    let original = uploaded["photo_id"].as_str().unwrap();
    let png = image(format!("/api/v1/photos/{original}"), student.clone()).await;
    assert_eq!(png.headers()["content-type"], "image/png");
    let thumb = image(
        format!("/api/v1/photos/{standard}?size=thumb"),
        student.clone(),
    )
    .await;
    assert_eq!(thumb.status(), 200);
    let preview = image::load_from_memory(&thumb.bytes().await.unwrap()).unwrap();
    assert_eq!((preview.width(), preview.height()), (180, 240));
    let reviewer = app.staff("reviewer").await;
    assert_eq!(
        image(format!("/api/v1/photos/{standard}"), reviewer.clone())
            .await
            .status(),
        200
    );
    let other = app.student("openid-b").await;
    let hidden = read(image(format!("/api/v1/photos/{standard}"), other).await).await;
    assert_error(&hidden, 404, "photo.not_found");
    let bad_size = read(
        image(
            format!("/api/v1/photos/{standard}?size=huge"),
            student.clone(),
        )
        .await,
    )
    .await;
    assert_error(&bad_size, 400, "http.invalid_query");

    // Approved, reprinted on 版式二 and mailed: print staff get the sheet as JPEG and PDF.
    let (status, _) = app
        .post(
            &format!("/api/v1/review/captures/{capture}/approve"),
            &reviewer,
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, address) = app
        .post("/api/v1/me/addresses", &student, json!({"recipient": "吴晓兰", "phone": "13800000000", "address": "江苏省无锡市蠡湖大道1800号"}))
        .await;
    let (status, reprint) = app
        .order(
            &student,
            &capture,
            json!({"purpose": "reprint", "layout": "two", "address_id": address["address_id"]}),
        )
        .await;
    assert_eq!(status, 201, "{reprint}");
    let order_id = reprint["order_id"].as_str().unwrap();
    app.pay(order_id, SHEET_FEN).await;
    let courier = app.staff("courier").await;
    let sheet = image(
        format!("/api/v1/courier/orders/{order_id}/sheet"),
        courier.clone(),
    )
    .await;
    assert_eq!(sheet.status(), 200);
    assert_eq!(sheet.headers()["content-type"], "image/jpeg");
    let sheet = image::load_from_memory(&sheet.bytes().await.unwrap()).unwrap();
    assert_eq!((sheet.width(), sheet.height()), (1200, 1800));
    let pdf = image(
        format!("/api/v1/courier/orders/{order_id}/sheet?format=pdf"),
        courier.clone(),
    )
    .await;
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    assert!(pdf.bytes().await.unwrap().starts_with(b"%PDF"));
    let bad_format = read(
        image(
            format!("/api/v1/courier/orders/{order_id}/sheet?format=tiff"),
            courier,
        )
        .await,
    )
    .await;
    assert_error(&bad_format, 400, "http.invalid_query");
}

async fn a_capture_full_of_photos_refuses_more_before_standardising(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_photos).await;
    let student = app.student("openid-a").await;
    let capture = paid_capture(&app, &student).await;
    let (status, uploaded) = app.upload(&capture, &student, astronaut(), "camera").await;
    assert_eq!(status, 201, "{uploaded}");
    assert_eq!(
        app.standardisations().await,
        1,
        "the first upload was standardised"
    );
    // Two photos so far; each standard_photo records two more.
    for _ in 0..(photo_ledger_domain::aggregate::MAX_PHOTOS - 2) / 2 {
        app.standard_photo(&capture).await;
    }
    let more = app.upload(&capture, &student, astronaut(), "camera").await;
    assert_error(&more, 409, "capture.photo_limit_reached");
    assert_eq!(
        app.standardisations().await,
        1,
        "the refused upload went through the pipeline"
    );
    let path = background_path(&capture, uploaded["photo_id"].as_str().unwrap());
    let regrey = app
        .post(&path, &student, json!({"background": "grey"}))
        .await;
    assert_error(&regrey, 409, "capture.photo_limit_reached");
    assert_eq!(
        app.standardisations().await,
        1,
        "the refused background change went through the pipeline"
    );
}

/// With `photos.s3` set, the upload and its standard photo go to the bucket (moto's S3 server on
/// loopback) under their SHA-256, and are read back from it; nothing is kept locally.
async fn photos_are_kept_in_an_s3_compatible_bucket(backend: Backend) {
    use sha2::Digest;
    let Some(s3) = MotoServer::start("photos").await else {
        return;
    };
    let settings = s3.settings();
    let app = TestApp::spawn_with(backend, |s| {
        with_photos(s);
        s.api.photos.s3 = Some(settings);
    })
    .await;
    let student = app.student("openid-a").await;
    let capture = paid_capture(&app, &student).await;
    let (status, uploaded) = app.upload(&capture, &student, astronaut(), "camera").await;
    assert_eq!(status, 201, "{uploaded}");
    let key = |bytes: &[u8]| {
        let sha256 = hex::encode(sha2::Sha256::digest(bytes));
        format!("sha256/{}/{sha256}", &sha256[..2])
    };
    assert!(
        s3.object(&key(&astronaut())).await == Some(astronaut()),
        "the upload is in the bucket under its SHA-256"
    );

    let standard = uploaded["standard_photo_id"].as_str().unwrap();
    let response = app
        .client
        .get(app.url(&format!("/api/v1/photos/{standard}")))
        .bearer_auth(&student)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let jpeg = response.bytes().await.unwrap().to_vec();
    assert!(
        s3.object(&key(&jpeg)).await == Some(jpeg.clone()),
        "the standard photo is in the bucket under its SHA-256"
    );
    let mut keys = s3.keys().await;
    keys.sort();
    let mut expected = vec![key(&astronaut()), key(&jpeg)];
    expected.sort();
    assert_eq!(keys, expected);
    assert!(!app.data_dir().join("photos").exists());
}
