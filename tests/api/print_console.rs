//! Print staff's console: five paid print orders picked into a run in Chromium, its PDF read back
//! (a page per sheet, each labelled with its order; the packing list; the labels), the run
//! marked printed, three orders shipped by a carrier's CSV and two by hand, and the students'
//! status showing the tracking numbers. Over plain HTTP on both stores: the filters, what is
//! refused (an empty run, a carrier file with bad lines, another tracking number), that marking
//! and shipping again record nothing, finding shipped orders, and who may open which pages.

use anyhow::{ensure, Context};
use fantoccini::{Client, Locator};
use serde_json::{json, Value};

use crate::api_support::console::{csrf_of, get, post, sign_in, upload, Page};
use crate::api_support::in_chromium::{chromium, close, until_at};
use crate::api_support::*;
use crate::support::Backend;

const CATEGORY: &str = "自学考试";
const TRACKING: [&str; 5] = [
    "SF1000000001",
    "SF1000000002",
    "SF1000000003",
    "YT2000000004",
    "YT2000000005",
];

on_both_stores!(print_staff_filter_mark_ship_and_find_orders_and_nothing_happens_twice);

/// A paid print order of an approved capture.
struct PrintOrder {
    capture: String,
    student: String,
    order_id: String,
    /// As printed: the order id's 32 hex digits.
    number: String,
    sheets: u64,
    recipient: String,
}

/// `n` students of a new school (free, paper prints offered), each approved and with a paid
/// reprint order: 版式一 with one sheet for even `k`, 版式二 with two for odd.
async fn approved_print_orders(app: &TestApp, school: &str, n: usize) -> Vec<PrintOrder> {
    let roster: String = (0..n)
        .map(|k| format!("20268100{k:02},冲印{k},护照,E8100{k:04},{CATEGORY}\n"))
        .collect();
    let batch = json!({"price_fen": 0, "backgrounds": ["blue"], "paper_prints_fen": SHEET_FEN});
    app.school_with_batch(school, CATEGORY, batch, &roster)
        .await;
    let mut orders = Vec::new();
    for k in 0..n {
        let (student, capture) = app
            .submitted_by_student_number(
                &format!("openid-print-{k}"),
                school,
                &format!("20268100{k:02}"),
            )
            .await;
        app.approve(&capture).await;
        let recipient = format!("收件人{k}");
        let (status, address) = app
            .post(
                "/api/v1/me/addresses",
                &student,
                json!({"recipient": recipient, "phone": format!("1380000000{k}"), "address": format!("江苏省无锡市蠡湖大道{k}号")}),
            )
            .await;
        assert_eq!(status, 201, "{address}");
        let (layout, sheets) = if k % 2 == 0 { ("one", 1) } else { ("two", 2) };
        let (status, order) = app
            .order(
                &student,
                &capture,
                json!({"purpose": "reprint", "layout": layout, "sheets": sheets, "address_id": address["address_id"]}),
            )
            .await;
        assert_eq!(status, 201, "{order}");
        let order_id = order["order_id"].as_str().unwrap().to_string();
        app.pay(&order_id, order["amount_fen"].as_u64().unwrap())
            .await;
        orders.push(PrintOrder {
            capture,
            student,
            number: order_id.replace('-', ""),
            order_id,
            sheets,
            recipient,
        });
    }
    orders
}

/// What the student's status says of an order.
async fn order_in_status(app: &TestApp, order: &PrintOrder) -> Value {
    let (_, status) = app
        .get(
            &format!("/api/v1/captures/{}", order.capture),
            &order.student,
        )
        .await;
    status["orders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["order_id"] == order.order_id.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("no order {} in {status}", order.order_id))
}

async fn events_of_type(app: &TestApp, capture: &str, event_type: &str) -> usize {
    count_events(&app.events_of(capture).await, event_type)
}

#[tokio::test]
async fn print_staff_print_five_orders_and_ship_them_in_chromium() {
    let app = TestApp::spawn_with(Backend::Sqlite, with_photos).await;
    let Some((_driver, browser)) = chromium().await else {
        return;
    };
    let orders = approved_print_orders(&app, "冲印浏览器学院", 5).await;
    let outcome = print_and_ship(&app, &browser, &orders).await;
    close(browser, outcome, "print-and-ship").await;

    for (order, tracking) in orders.iter().zip(TRACKING) {
        let shown = order_in_status(&app, order).await;
        assert_eq!(shown["state"], "shipped", "{shown}");
        assert_eq!(shown["tracking_no"], tracking, "{shown}");
        assert_eq!(
            events_of_type(&app, &order.capture, "OrderPrinted").await,
            1
        );
    }
}

/// The PDF a form of the page answers, fetched by the page itself (its session, its token).
async fn pdf_of_form(browser: &Client, action: &str) -> anyhow::Result<lopdf::Document> {
    let script = r#"
        const [action, done] = arguments;
        const form = document.querySelector(`form[action='${action}']`);
        fetch(action, {method: 'POST', body: new URLSearchParams(new FormData(form))})
            .then(r => {
                if (!r.ok || r.headers.get('content-type') !== 'application/pdf') {
                    throw new Error(`answered ${r.status} ${r.headers.get('content-type')}`);
                }
                return r.arrayBuffer();
            })
            .then(buffer => {
                const bytes = new Uint8Array(buffer);
                let binary = '';
                for (let i = 0; i < bytes.length; i += 0x8000) {
                    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
                }
                done(btoa(binary));
            })
            .catch(e => done('failed: ' + e.message));
    "#;
    let answer = browser.execute_async(script, vec![json!(action)]).await?;
    let text = answer.as_str().context("a string")?;
    ensure!(!text.starts_with("failed"), "{action}: {text}");
    let bytes = data_encoding::BASE64.decode(text.as_bytes())?;
    Ok(lopdf::Document::load_mem(&bytes)?)
}

async fn main_text(browser: &Client) -> anyhow::Result<String> {
    Ok(browser.find(Locator::Css("main")).await?.text().await?)
}

async fn print_and_ship(
    app: &TestApp,
    browser: &Client,
    orders: &[PrintOrder],
) -> anyhow::Result<()> {
    browser.goto(&app.url("/console/sign-in")).await?;
    browser
        .find(Locator::Css("input[name=username]"))
        .await?
        .send_keys("courier")
        .await?;
    let password = browser.find(Locator::Css("input[name=password]")).await?;
    password.send_keys(STAFF_PASSWORD).await?;
    password.send_keys("\u{E007}").await?; // Enter
    until_at(browser, "/console/print").await?;

    for order in orders {
        browser
            .find(Locator::Css(&format!(
                "input[name=order][value='{}']",
                order.order_id
            )))
            .await?
            .click()
            .await?;
    }
    browser
        .find(Locator::Css("form[action='/console/print/run'] button"))
        .await?
        .click()
        .await?;
    until_at(browser, "/console/print/run").await?;
    // The run lists the orders as the to-print list did, oldest payment first; the PDFs follow it.
    let mut listed = Vec::new();
    for row in browser.find_all(Locator::Css("tr[data-order]")).await? {
        let id = row.attr("data-order").await?.context("an order id")?;
        listed.push(
            orders
                .iter()
                .find(|o| o.order_id == id)
                .context("one of ours")?,
        );
    }
    ensure!(
        listed.len() == orders.len(),
        "the run lists {} orders",
        listed.len()
    );
    let run = listed;

    // One page per sheet, in the run's order, each labelled with its order; then the packing
    // list.
    let sheets = pdf_of_form(browser, "/console/print/run/sheets").await?;
    let total: u64 = run.iter().map(|o| o.sheets).sum();
    ensure!(
        sheets.get_pages().len() as u64 == total + 1,
        "{} pages for {total} sheets and a packing list",
        sheets.get_pages().len()
    );
    let mut page = 1;
    for order in &run {
        for sheet in 1..=order.sheets {
            let text = sheets.extract_text(&[page])?;
            let label = format!("订单 {} · 第 {sheet}/{} 张", order.number, order.sheets);
            ensure!(
                text.contains(&label),
                "page {page} reads {text:?}, not {label}"
            );
            page += 1;
        }
    }
    let packing = sheets.extract_text(&[page])?;
    ensure!(packing.contains("装箱单"), "{packing}");
    for order in &run {
        ensure!(
            packing.contains(&order.number) && packing.contains(&order.recipient),
            "the packing list lacks {}: {packing}",
            order.number
        );
    }
    let labels = pdf_of_form(browser, "/console/print/run/labels").await?;
    ensure!(labels.get_pages().len() == run.len());
    for (n, order) in run.iter().enumerate() {
        let text = labels.extract_text(&[n as u32 + 1])?;
        ensure!(
            text.contains(&order.recipient) && text.contains(&order.number),
            "label {n}: {text}"
        );
    }

    browser
        .find(Locator::Css(
            "form[action='/console/print/run/printed'] button",
        ))
        .await?
        .click()
        .await?;
    until_at(browser, "/console/ship?printed=5").await?;

    // Three by the carrier's file.
    let csv: String = orders[..3]
        .iter()
        .zip(TRACKING)
        .map(|(o, t)| format!("{},{t}\n", o.number))
        .collect();
    let file = tempfile::Builder::new().suffix(".csv").tempfile()?;
    std::fs::write(file.path(), format!("订单号,运单号\n{csv}"))?;
    browser
        .find(Locator::Css("input[type=file][name=file]"))
        .await?
        .send_keys(&file.path().display().to_string())
        .await?;
    browser
        .find(Locator::Css("form[action='/console/ship/file'] button"))
        .await?
        .click()
        .await?;
    until_at(browser, "/console/ship/file").await?;
    let shipped = main_text(browser).await?;
    ensure!(shipped.contains("发货 3 单"), "{shipped}");

    // Two by hand: the number typed (or scanned) and Enter.
    for (order, tracking) in orders[3..].iter().zip(&TRACKING[3..]) {
        browser.goto(&app.url("/console/ship")).await?;
        let row = browser
            .find(Locator::Css(&format!(
                "tr[data-order='{}']",
                order.order_id
            )))
            .await?;
        let input = row.find(Locator::Css("input[name=tracking_no]")).await?;
        input.send_keys(tracking).await?;
        input.send_keys("\u{E007}").await?;
        until_at(browser, &format!("/console/ship?shipped={}", order.number)).await?;
    }
    let waiting = main_text(browser).await?;
    ensure!(waiting.contains("没有待发货的订单"), "{waiting}");

    browser
        .goto(&app.url(&format!("/console/shipped?q={}", TRACKING[4])))
        .await?;
    let found = main_text(browser).await?;
    ensure!(
        found.contains(&orders[4].number) && !found.contains(&orders[3].number),
        "{found}"
    );
    Ok(())
}

/// A carrier's file, uploaded on the ship page.
async fn upload_waybills(app: &TestApp, cookie: &str, csrf: &str, csv: String) -> Page {
    let fields = [("csrf", csrf), ("carrier", "顺丰速运")];
    upload(
        app,
        "/console/ship/file",
        cookie,
        &fields,
        "waybills.csv",
        csv.into_bytes(),
    )
    .await
}

async fn to_ship(app: &TestApp) -> usize {
    let (_, list) = app
        .get(
            "/api/v1/courier/orders?status=to_ship",
            &app.staff("courier").await,
        )
        .await;
    list["orders"].as_array().unwrap().len()
}

async fn print_staff_filter_mark_ship_and_find_orders_and_nothing_happens_twice(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_photos).await;
    let orders = approved_print_orders(&app, "冲印学院", 2).await;
    let courier = sign_in(&app, "courier").await;

    // Filtered by layout: order 0 is 版式一, order 1 版式二.
    let page = get(&app, "/console/print?layout=two", &courier).await;
    assert_eq!(page.status, 200);
    let html = page.body.clone();
    assert!(html.contains(&orders[1].order_id) && !html.contains(&orders[0].order_id));
    let csrf = csrf_of(&html);
    let all = get(&app, "/console/print", &courier).await.body.clone();
    assert!(orders.iter().all(|o| all.contains(&o.order_id)));
    let since_tomorrow = (chrono::Utc::now() + chrono::Duration::days(2)).format("%Y-%m-%d");
    let none = get(
        &app,
        &format!("/console/print?paid_since={since_tomorrow}"),
        &courier,
    )
    .await;
    assert!(none.body.clone().contains("没有待打印的订单"));
    assert_eq!(
        get(&app, "/console/print?layout=three", &courier)
            .await
            .status,
        400
    );

    // Refused: no orders, no token, an order that is none.
    let empty = post(&app, "/console/print/run", &courier, &[("csrf", &csrf)]).await;
    assert_eq!(empty.status, 422);
    assert!(empty.body.clone().contains("print.empty_run"));
    let run: Vec<(&str, &str)> = std::iter::once(("csrf", csrf.as_str()))
        .chain(orders.iter().map(|o| ("order", o.order_id.as_str())))
        .collect();
    let forged = post(&app, "/console/print/run", &courier, &run[1..]).await;
    assert_eq!(forged.status, 403);
    let unknown = uuid::Uuid::new_v4().to_string();
    let stranger = post(
        &app,
        "/console/print/run",
        &courier,
        &[("csrf", &csrf), ("order", &unknown)],
    )
    .await;
    assert_eq!(stranger.status, 404);
    assert!(stranger.body.clone().contains("print.unknown_order"));

    // The run's labels, then the run marked printed twice: one OrderPrinted each.
    let labels = post(&app, "/console/print/run/labels", &courier, &run).await;
    assert_eq!(labels.content_type, "application/pdf");
    let labels = lopdf::Document::load_mem(&labels.bytes).unwrap();
    assert_eq!(labels.get_pages().len(), 2);
    assert!(labels
        .extract_text(&[2])
        .unwrap()
        .contains(&orders[1].recipient));
    for _ in 0..2 {
        let printed = post(&app, "/console/print/run/printed", &courier, &run).await;
        assert_eq!(printed.status, 303);
        assert_eq!(printed.location, "/console/ship?printed=2");
    }
    for order in &orders {
        assert_eq!(
            events_of_type(&app, &order.capture, "OrderPrinted").await,
            1
        );
    }
    let label = get(
        &app,
        &format!("/console/ship/{}/label", orders[0].order_id),
        &courier,
    )
    .await;
    assert_eq!(label.content_type, "application/pdf");
    let label = lopdf::Document::load_mem(&label.bytes).unwrap();
    assert!(label
        .extract_text(&[1])
        .unwrap()
        .contains(&orders[0].number));

    // A carrier's file with a bad line ships nothing and says which line.
    let bad = format!(
        "订单号,运单号\n{},SF1000000001\n{},\n{},SF1000000009\n",
        orders[0].number,
        orders[1].number,
        uuid::Uuid::new_v4().simple()
    );
    let refused = upload_waybills(&app, &courier, &csrf, bad).await;
    assert_eq!(refused.status, 422);
    let text = refused.body.clone();
    assert!(
        text.contains("<td class=\"count\">3</td>") && text.contains("没有运单号"),
        "{text}"
    );
    assert_eq!(to_ship(&app).await, 2);
    // A file whose lines read but name an order that is none ships nothing either.
    let unknown = upload_waybills(
        &app,
        &courier,
        &csrf,
        format!(
            "订单号,运单号\n{},SF1000000001\n{},SF1000000009\n",
            orders[0].number,
            uuid::Uuid::new_v4().simple()
        ),
    )
    .await;
    assert_eq!(unknown.status, 422);
    assert!(
        unknown.body.contains("<td class=\"count\">3</td>")
            && unknown.body.contains("没有已支付的冲印订单"),
        "{}",
        unknown.body
    );
    assert_eq!(to_ship(&app).await, 2);

    // Shipped by the file; the same file again records nothing; another number is refused.
    let good: String = orders
        .iter()
        .zip(TRACKING)
        .map(|(o, t)| format!("{},{t}\n", o.number))
        .collect();
    let shipped = upload_waybills(
        &app,
        &courier,
        &csrf,
        format!(
            "运单号,订单号\n{}",
            good.lines()
                .map(|l| {
                    let (n, t) = l.split_once(',').unwrap();
                    format!("{t},{n}\n")
                })
                .collect::<String>()
        ),
    )
    .await;
    assert_eq!(shipped.status, 200, "{}", shipped.body.clone());
    assert!(shipped.body.clone().contains("发货 2 单"));
    assert_eq!(to_ship(&app).await, 0);
    let again = upload_waybills(&app, &courier, &csrf, format!("订单号,运单号\n{good}")).await;
    assert_eq!(again.status, 200);
    assert!(
        again.body.clone().contains("发货 0 单")
            && again.body.clone().contains("此前已用该运单号发货")
    );
    let other = upload_waybills(
        &app,
        &courier,
        &csrf,
        format!("订单号,运单号\n{},ZT999\n", orders[0].number),
    )
    .await;
    assert_eq!(
        other.status, 422,
        "a line shipped under another number stops the file"
    );
    assert!(other.body.clone().contains(TRACKING[0]));
    for (order, tracking) in orders.iter().zip(TRACKING) {
        assert_eq!(
            events_of_type(&app, &order.capture, "OrderShipped").await,
            1
        );
        assert_eq!(order_in_status(&app, order).await["tracking_no"], tracking);
    }
    // By hand, the same number again is fine; another is refused.
    let path = format!("/console/ship/{}", orders[1].order_id);
    let same = post(
        &app,
        &path,
        &courier,
        &[
            ("csrf", &csrf),
            ("carrier", "顺丰速运"),
            ("tracking_no", TRACKING[1]),
        ],
    )
    .await;
    assert_eq!(same.status, 303);
    let otherwise = post(
        &app,
        &path,
        &courier,
        &[
            ("csrf", &csrf),
            ("carrier", "顺丰速运"),
            ("tracking_no", "ZT1"),
        ],
    )
    .await;
    assert_eq!(otherwise.status, 409);
    assert!(otherwise.body.clone().contains("print.shipped_otherwise"));

    // Found by order number, tracking number or the student's name; shown masked.
    for term in [orders[0].number.as_str(), TRACKING[0], "冲印0"] {
        let page = get(
            &app,
            &format!("/console/shipped?q={}", urlencode(term)),
            &courier,
        )
        .await
        .body
        .clone();
        // What was found, not the search box that repeats the term.
        let found = page.split_once("<table").map_or("", |(_, table)| table);
        assert!(found.contains(&orders[0].order_id), "{term}: {page}");
        assert!(!found.contains(&orders[1].order_id), "{term}");
        assert!(!found.contains("冲印0"), "the name is masked: {found}");
    }
    assert!(get(&app, "/console/shipped?q=nothing", &courier)
        .await
        .body
        .clone()
        .contains("没有找到"));

    // Print staff open no school pages; reviewers no print pages and no package.
    for path in [
        "/console/progress",
        "/console/deliveries",
        "/console/admin",
        "/console/review",
    ] {
        assert_eq!(get(&app, path, &courier).await.status, 403, "{path}");
    }
    let reviewer = sign_in(&app, "reviewer").await;
    for path in ["/console/print", "/console/ship", "/console/shipped"] {
        assert_eq!(get(&app, path, &reviewer).await.status, 403, "{path}");
    }
    let reviewer_csrf = csrf_of(&get(&app, "/console/review", &reviewer).await.body.clone());
    let package = post(
        &app,
        &format!("/console/deliveries/{}/download", uuid::Uuid::new_v4()),
        &reviewer,
        &[("csrf", &reviewer_csrf)],
    )
    .await;
    assert_eq!(package.status, 403);
}

fn urlencode(term: &str) -> String {
    form_urlencoded::byte_serialize(term.as_bytes()).collect()
}
