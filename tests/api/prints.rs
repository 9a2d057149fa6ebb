//! Paper prints: ordered by the student, printed, mailed and shipped by print staff.

use crate::api_support::*;
use crate::support::Backend;
use reqwest::Method;
use serde_json::json;

on_both_stores!(
    paper_prints_are_mailed_and_shipped_by_print_staff,
    the_address_book_cap_holds_under_concurrent_adds,
);

/// 60 addresses posted at once (each under its own key): exactly 20 are kept, the others are
/// refused as the book being full.
async fn the_address_book_cap_holds_under_concurrent_adds(backend: Backend) {
    let app = std::sync::Arc::new(TestApp::spawn(backend).await);
    let student = app.student("openid-a").await;
    let mut posts = tokio::task::JoinSet::new();
    for i in 0..60 {
        let (app, student) = (app.clone(), student.clone());
        posts.spawn(async move {
            let answer = app
                .keyed_post("/api/v1/me/addresses", &student, &format!("address-{i}"))
                .json(&json!({"recipient": "吴晓兰", "phone": "13800000000", "address": format!("江苏省无锡市蠡湖大道{i}号")}))
                .send()
                .await
                .unwrap();
            read(answer).await
        });
    }
    let (mut added, mut full) = (0, 0);
    while let Some(answer) = posts.join_next().await {
        let answer = answer.unwrap();
        match answer.0.as_u16() {
            201 => added += 1,
            _ => {
                assert_error(&answer, 409, "address.book_full");
                full += 1;
            }
        }
    }
    assert_eq!((added, full), (20, 40));
    let (_, book) = app.get("/api/v1/me/addresses", &student).await;
    assert_eq!(book["addresses"].as_array().unwrap().len(), 20);
}

async fn paper_prints_are_mailed_and_shipped_by_print_staff(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let student = app.student("openid-a").await;
    let capture = app.open_capture(&student, &WU).await;

    let (status, address) = app
        .post("/api/v1/me/addresses", &student, json!({"recipient": "吴晓兰", "phone": "138 0000 0000", "address": "江苏省无锡市蠡湖大道1800号"}))
        .await;
    assert_eq!(status, 201, "{address}");
    assert_eq!(address["phone"], "13800000000");
    let address_id = address["address_id"].as_str().unwrap();
    let (_, spare) = app
        .post(
            "/api/v1/me/addresses",
            &student,
            json!({"recipient": "吴晓兰", "phone": "13800000001", "address": "江苏省无锡市梁溪区"}),
        )
        .await;
    let spare_id = spare["address_id"].as_str().unwrap();
    let (_, book) = app.get("/api/v1/me/addresses", &student).await;
    assert_eq!(book["addresses"].as_array().unwrap().len(), 2);
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/me/addresses/{spare_id}"),
            Some(&student),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let gone = app
        .call(
            Method::DELETE,
            &format!("/api/v1/me/addresses/{spare_id}"),
            Some(&student),
            None,
        )
        .await;
    assert_error(&gone, 404, "address.not_found");

    // Another student's address book is not theirs to use.
    let other = app.student("openid-b").await;
    let (_, book) = app.get("/api/v1/me/addresses", &other).await;
    assert_eq!(book["addresses"], json!([]));

    let no_address = app
        .order(
            &student,
            &capture,
            json!({"purpose": "collection", "layout": "one"}),
        )
        .await;
    assert_error(&no_address, 422, "request.invalid");
    let (status, order) = app
        .order(&student, &capture, json!({"purpose": "collection", "layout": "one", "sheets": 2, "address_id": address_id}))
        .await;
    assert_eq!(status, 201, "{order}");
    // The fee and two sheets.
    assert_eq!(order["amount_fen"], FEE_FEN + 2 * SHEET_FEN);
    let order_id = order["order_id"].as_str().unwrap().to_string();

    let courier = app.staff("courier").await;
    let (_, to_print) = app
        .get("/api/v1/courier/orders?status=to_print", &courier)
        .await;
    assert_eq!(
        to_print["orders"],
        json!([]),
        "unpaid orders are not printed"
    );
    app.pay(&order_id, FEE_FEN + 2 * SHEET_FEN).await;
    let (_, to_print) = app
        .get("/api/v1/courier/orders?status=to_print", &courier)
        .await;
    assert_eq!(
        to_print["orders"][0]["order_id"],
        order_id.as_str(),
        "{to_print}"
    );
    assert_eq!(
        to_print["orders"][0]["address"],
        "江苏省无锡市蠡湖大道1800号"
    );
    assert_eq!(to_print["orders"][0]["sheets"], 2);

    // Nothing is printed before a reviewer approves the photo.
    let early = app
        .post(
            &format!("/api/v1/courier/orders/{order_id}/printed"),
            &courier,
            json!({}),
        )
        .await;
    assert_error(&early, 409, "capture.not_approved");
    let photo = app.standard_photo(&capture).await;
    app.post(
        &format!("/api/v1/captures/{capture}/submit"),
        &student,
        json!({"standard_photo_id": photo}),
    )
    .await;
    let reviewer = app.staff("reviewer").await;
    let (status, _) = app
        .post(
            &format!("/api/v1/review/captures/{capture}/approve"),
            &reviewer,
            json!({}),
        )
        .await;
    assert_eq!(status, 200);

    let (status, printed) = app
        .post(
            &format!("/api/v1/courier/orders/{order_id}/printed"),
            &courier,
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{printed}");
    assert_eq!(printed["status"], "to_ship");
    assert_eq!(printed["approved_photo_id"], photo.as_str());
    let (_, to_print) = app
        .get("/api/v1/courier/orders?status=to_print", &courier)
        .await;
    assert_eq!(to_print["orders"], json!([]));
    let untracked = app
        .post(
            &format!("/api/v1/courier/orders/{order_id}/shipped"),
            &courier,
            json!({"carrier": "顺丰", "tracking_no": " "}),
        )
        .await;
    assert_error(&untracked, 422, "capture.tracking_required");
    let garbled = app
        .post(
            &format!("/api/v1/courier/orders/{order_id}/shipped"),
            &courier,
            json!({"carrier": "顺丰", "tracking_no": "SF12\u{7}34"}),
        )
        .await;
    assert_error(&garbled, 422, "request.invalid");
    // A carrier or number nobody can see (a byte-order mark alone, a zero-width space inside).
    for (carrier, tracking_no) in [("\u{feff}", "X10"), ("顺丰", "X\u{200B}10")] {
        let hidden = app
            .post(
                &format!("/api/v1/courier/orders/{order_id}/shipped"),
                &courier,
                json!({"carrier": carrier, "tracking_no": tracking_no}),
            )
            .await;
        assert_error(&hidden, 422, "request.invalid");
    }
    let (status, shipped) = app
        .post(
            &format!("/api/v1/courier/orders/{order_id}/shipped"),
            &courier,
            json!({"carrier": "顺丰", "tracking_no": "SF1234567890"}),
        )
        .await;
    assert_eq!(status, 200, "{shipped}");
    assert_eq!(shipped["status"], "shipped");
    let (_, done) = app
        .get("/api/v1/courier/orders?status=shipped", &courier)
        .await;
    assert_eq!(done["orders"][0]["order_id"], order_id.as_str());
    let (_, seen) = app
        .get(&format!("/api/v1/captures/{capture}"), &student)
        .await;
    assert_eq!(seen["orders"][0]["tracking_no"], "SF1234567890", "{seen}");
    assert_eq!(seen["orders"][0]["state"], "shipped");

    // A reprint (加洗) of the approved photo, 版式一, one sheet, to the same address.
    let (status, reprint) = app
        .order(
            &student,
            &capture,
            json!({"purpose": "reprint", "layout": "one", "address_id": address_id}),
        )
        .await;
    assert_eq!(status, 201, "{reprint}");
    assert_eq!(reprint["amount_fen"], SHEET_FEN);
    let reprint_id = reprint["order_id"].as_str().unwrap();
    app.pay(reprint_id, SHEET_FEN).await;
    let (_, to_print) = app
        .get("/api/v1/courier/orders?status=to_print", &courier)
        .await;
    let queued = &to_print["orders"][0];
    assert_eq!(queued["order_id"], reprint_id, "{to_print}");
    assert_eq!(queued["purpose"], "reprint");
    assert_eq!(queued["layout"], "one");
    assert_eq!(queued["approved_photo_id"], photo.as_str());
}
