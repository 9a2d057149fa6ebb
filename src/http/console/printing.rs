//! Print staff's pages: the orders to print (filtered by batch, layout and payment date) picked
//! into a run, the run's PDF of sheets and packing list, its address labels and marking it
//! printed; shipping by hand (carrier and tracking number per order) or by a carrier's CSV; and
//! finding shipped orders.
//!
//! A run is the orders picked on the to-print page, carried by the run page's forms: nothing is
//! stored for it, so printing it again or marking it twice changes nothing.

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use maud::{html, Markup};
use photo_ledger_domain::tracking_no::TrackingNo;
use photo_ledger_domain::values::{OrderId, PrintLayout};
use photo_ledger_projections::courier_orders::{self, CourierOrder, CourierStatus, ToPrintFilter};
use serde::Deserialize;

use super::page::{layout, respond, see_other, PageError};
use super::session::Session;
use crate::china_time;
use crate::eligibility::batches;
use crate::http::download::attachment;
use crate::http::error::{ApiCode, ApiError};
use crate::http::extract::{multipart_fields, CommandContext, Couriers, FormField};
use crate::http::state::AppState;
use crate::payments::orders::out_trade_no;
use crate::printing::{self, layout_name, FileShipped, Shipped, CARRIERS, MAX_RUN_ORDERS};

/// Most orders a list shows.
const LISTED: i64 = 500;
/// Largest carrier CSV taken.
const CSV_LIMIT: usize = 1024 * 1024;

fn when(at: &DateTime<Utc>) -> String {
    china_time::format(at, "%m-%d %H:%M")
}

fn order_number(order: &CourierOrder) -> String {
    out_trade_no(order.order_id)
}

fn page(
    title: &str,
    session: &Session<Couriers>,
    status: StatusCode,
    body: Markup,
) -> HttpResponse {
    respond(
        status,
        layout(title, Some((&session.caller, &session.csrf)), body),
    )
}

#[derive(Deserialize)]
pub struct ToPrintQuery {
    /// The batch, by id.
    batch: Option<String>,
    /// `one` or `two`.
    layout: Option<String>,
    /// Paid on or after this day (China time), `YYYY-MM-DD`.
    paid_since: Option<String>,
}

impl ToPrintQuery {
    fn filter(&self) -> Result<ToPrintFilter, PageError> {
        fn given(v: &Option<String>) -> Option<&str> {
            v.as_deref().map(str::trim).filter(|v| !v.is_empty())
        }
        let layout = match given(&self.layout) {
            None => None,
            Some("one") => Some(PrintLayout::One),
            Some("two") => Some(PrintLayout::Two),
            Some(_) => {
                return Err(
                    ApiError::with_message(ApiCode::InvalidQuery, "版式只能为 one 或 two").into(),
                )
            }
        };
        let paid_since = match given(&self.paid_since) {
            None => None,
            Some(day) => {
                let day = NaiveDate::parse_from_str(day, "%Y-%m-%d")
                    .ok()
                    .filter(|day| (2000..=2100).contains(&day.year()))
                    .ok_or_else(|| {
                        ApiError::with_message(
                            ApiCode::InvalidQuery,
                            "支付日期须为 2000 至 2100 年间的 YYYY-MM-DD",
                        )
                    })?;
                Some(china_time::midnight(day))
            }
        };
        Ok(ToPrintFilter {
            batch_id: given(&self.batch).map(str::to_string),
            layout,
            paid_since,
        })
    }
}

/// `GET /console/print`: the orders to print, to pick a run from.
pub async fn to_print(
    state: web::Data<AppState>,
    session: Session<Couriers>,
    query: web::Query<ToPrintQuery>,
) -> Result<HttpResponse, PageError> {
    let filter = query.filter()?;
    let db = state.ledger.db();
    let orders = courier_orders::to_print(db, &filter, LISTED).await?;
    let with_orders = courier_orders::batches_to_print(db).await?;
    let batches: Vec<_> = batches::list(db)
        .await?
        .into_iter()
        .filter(|b| with_orders.contains(&b.batch_id))
        .collect();
    let chosen = |v: &Option<String>, option: &str| v.as_deref() == Some(option);
    let body = html! {
        h1 { "待打印" }
        form.filters method="get" action="/console/print" {
            label { "批次 "
                select name="batch" {
                    option value="" { "全部" }
                    @for b in &batches {
                        option value=(b.batch_id) selected[chosen(&query.batch, &b.batch_id)] {
                            (b.school_name) " · " (b.education_type) " · " (b.feature_code)
                        }
                    }
                }
            }
            " "
            label { "版式 "
                select name="layout" {
                    option value="" { "全部" }
                    option value="one" selected[chosen(&query.layout, "one")] { "版式一" }
                    option value="two" selected[chosen(&query.layout, "two")] { "版式二" }
                }
            }
            " "
            label { "支付日期不早于 "
                input type="date" name="paid_since" value=(query.paid_since.as_deref().unwrap_or(""));
            }
            " "
            button type="submit" { "筛选" }
        }
        section.card {
            @if orders.is_empty() {
                p { "没有待打印的订单。" }
            } @else {
                form method="post" action="/console/print/run" {
                    input type="hidden" name="csrf" value=(session.csrf);
                    p.muted { "勾选要一起打印的订单（一次最多 " (MAX_RUN_ORDERS) " 个），生成打印批次。照片未审核通过的订单不能打印。" }
                    table.orders {
                        tr { th {} th { "订单号" } th { "学校" } th { "学生" } th { "版式" } th { "张数" } th { "支付时间" } }
                        @for order in &orders {
                            tr data-order=(order.order_id) {
                                td {
                                    input type="checkbox" name="order" value=(order.order_id)
                                        disabled[order.approved_photo_id.is_none()];
                                }
                                td { code { (order_number(order)) } }
                                td { (order.school) }
                                td { (order.name_masked) }
                                td { (layout_name(order.layout)) }
                                td.count { (order.sheets) }
                                td {
                                    (when(&order.paid_at))
                                    @if order.approved_photo_id.is_none() { " " span.muted { "（待审核）" } }
                                }
                            }
                        }
                    }
                    button type="submit" { "生成打印批次" }
                }
            }
        }
    };
    Ok(page("待打印", &session, StatusCode::OK, body))
}

/// A form naming a run: the session's token and the orders, in the order given.
struct RunForm {
    csrf: String,
    orders: Vec<OrderId>,
}

impl RunForm {
    fn parse(body: &[u8]) -> Result<Self, PageError> {
        let mut form = RunForm {
            csrf: String::new(),
            orders: Vec::new(),
        };
        for (name, value) in form_urlencoded::parse(body) {
            match name.as_ref() {
                "csrf" => form.csrf = value.into_owned(),
                "order" => form.orders.push(
                    value
                        .parse()
                        .map_err(|_| ApiError::invalid(format!("“{value}”不是订单编号")))?,
                ),
                _ => {}
            }
        }
        Ok(form)
    }

    /// The hidden fields that carry the run to the next form.
    fn fields(&self, csrf: &str) -> Markup {
        html! {
            input type="hidden" name="csrf" value=(csrf);
            @for order in &self.orders {
                input type="hidden" name="order" value=(order);
            }
        }
    }
}

/// The run's orders, after the form's token is checked.
async fn run_of(
    state: &AppState,
    session: &Session<Couriers>,
    body: &[u8],
) -> Result<(RunForm, Vec<CourierOrder>), PageError> {
    let form = RunForm::parse(body)?;
    session.check(state, &form.csrf)?;
    let orders = state.printing.run(&form.orders).await?;
    Ok((form, orders))
}

/// `POST /console/print/run` (`order` repeated): the run, with its PDF, labels and the
/// printed button.
pub async fn run(
    state: web::Data<AppState>,
    session: Session<Couriers>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let (form, orders) = run_of(&state, &session, &body).await?;
    let sheets: u32 = orders.iter().map(|o| o.sheets).sum();
    let body = html! {
        h1 { "打印批次" }
        p { (orders.len()) " 个订单，共 " (sheets) " 张相纸，另附装箱单。" }
        section.card {
            table.orders {
                tr { th { "#" } th { "订单号" } th { "学校" } th { "学生" } th { "版式" } th { "张数" } th { "收件人" } th { "状态" } }
                @for (n, order) in orders.iter().enumerate() {
                    tr data-order=(order.order_id) {
                        td { (n + 1) }
                        td { code { (order_number(order)) } }
                        td { (order.school) }
                        td { (order.name_masked) }
                        td { (layout_name(order.layout)) }
                        td.count { (order.sheets) }
                        td { (order.recipient) }
                        td { @if order.status == CourierStatus::ToShip { "已打印" } @else { "待打印" } }
                    }
                }
            }
        }
        section.card.actions {
            form.inline method="post" action="/console/print/run/sheets" {
                (form.fields(&session.csrf))
                button type="submit" { "下载打印文件（PDF）" }
            }
            " "
            form.inline method="post" action="/console/print/run/labels" {
                (form.fields(&session.csrf))
                button type="submit" { "下载地址标签（PDF）" }
            }
            " "
            form.inline method="post" action="/console/print/run/printed" {
                (form.fields(&session.csrf))
                button.primary type="submit" { "整批标记已打印" }
            }
        }
    };
    Ok(page("打印批次", &session, StatusCode::OK, body))
}

fn pdf(name: &str, body: Vec<u8>) -> HttpResponse {
    attachment("application/pdf", name).body(body)
}

fn stamp() -> String {
    china_time::format(&Utc::now(), "%Y%m%d-%H%M")
}

/// `POST /console/print/run/sheets`: the run's sheets and packing list as one PDF.
pub async fn sheets(
    state: web::Data<AppState>,
    session: Session<Couriers>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let (_, orders) = run_of(&state, &session, &body).await?;
    let document = state
        .printing
        .run_pdf(&state.photos, &session.caller.actor(), &orders)
        .await?;
    Ok(pdf(&format!("print-run-{}.pdf", stamp()), document))
}

/// `POST /console/print/run/labels`: the run's address labels, one page per order.
pub async fn run_labels(
    state: web::Data<AppState>,
    session: Session<Couriers>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let (_, orders) = run_of(&state, &session, &body).await?;
    Ok(pdf(
        &format!("labels-{}.pdf", stamp()),
        printing::labels_pdf(&orders)?,
    ))
}

/// `POST /console/print/run/printed`: every order of the run marked printed, then the orders
/// to ship.
pub async fn printed(
    state: web::Data<AppState>,
    session: Session<Couriers>,
    ctx: CommandContext,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let (_, orders) = run_of(&state, &session, &body).await?;
    state
        .printing
        .mark_printed(&ctx.requester(&session.caller), &orders)
        .await?;
    Ok(see_other(&format!(
        "/console/ship?printed={}",
        orders.len()
    )))
}

#[derive(Deserialize)]
pub struct ShipQuery {
    /// Orders just marked printed.
    printed: Option<usize>,
    /// The order just shipped.
    shipped: Option<String>,
}

/// `GET /console/ship`: the printed orders, each with its label and a form for its tracking
/// number, and the carrier CSV upload.
pub async fn to_ship(
    state: web::Data<AppState>,
    session: Session<Couriers>,
    query: web::Query<ShipQuery>,
) -> Result<HttpResponse, PageError> {
    let orders = courier_orders::list(state.ledger.db(), CourierStatus::ToShip, LISTED).await?;
    let body = html! {
        h1 { "待发货" }
        @if let Some(n) = query.printed {
            p.card role="status" { "已将 " (n) " 个订单标记为已打印。" }
        }
        @if let Some(order) = &query.shipped {
            p.card role="status" { "订单 " code { (order) } " 已发货。" }
        }
        section.card {
            h2 { "上传快递公司的运单文件" }
            p.muted { "CSV，第一行为表头，含“订单号”“运单号”两列（可另有“快递公司”列）。任一行有误（无法读取、不是已支付的冲印订单、已用其他运单号发货）则整个文件不发货，并列出每个有误的行。" }
            form method="post" action="/console/ship/file" enctype="multipart/form-data" {
                input type="hidden" name="csrf" value=(session.csrf);
                label { "快递公司 " (carrier_select("carrier")) }
                " "
                input type="file" name="file" accept=".csv,text/csv" required;
                " "
                button type="submit" { "上传并发货" }
            }
        }
        section.card {
            h2 { "逐单发货" }
            @if orders.is_empty() {
                p { "没有待发货的订单。" }
            } @else {
                table.orders {
                    tr { th { "订单号" } th { "学生" } th { "收件人" } th { "地址" } th { "打印时间" } th { "标签" } th { "运单" } }
                    @for order in &orders {
                        tr data-order=(order.order_id) {
                            td { code { (order_number(order)) } }
                            td { (order.school) " " (order.name_masked) }
                            td { (order.recipient) br; (order.phone) }
                            td { (order.address) }
                            td { @if let Some(at) = &order.printed_at { (when(at)) } }
                            td { a href={ "/console/ship/" (order.order_id) "/label" } { "地址标签" } }
                            td {
                                form.inline.ship method="post" action={ "/console/ship/" (order.order_id) } {
                                    input type="hidden" name="csrf" value=(session.csrf);
                                    (carrier_select("carrier"))
                                    " "
                                    input type="text" name="tracking_no" placeholder="扫描或输入运单号" required autocomplete="off";
                                    " "
                                    button type="submit" { "发货" }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page("待发货", &session, StatusCode::OK, body))
}

fn carrier_select(name: &str) -> Markup {
    html! {
        select name=(name) {
            @for carrier in CARRIERS {
                option value=(carrier) { (carrier) }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct ShipForm {
    #[serde(default)]
    csrf: String,
    carrier: String,
    tracking_no: String,
}

/// `POST /console/ship/{order_id}` (`carrier`, `tracking_no`): ships one order.
pub async fn ship(
    state: web::Data<AppState>,
    session: Session<Couriers>,
    ctx: CommandContext,
    path: web::Path<OrderId>,
    form: web::Form<ShipForm>,
) -> Result<HttpResponse, PageError> {
    session.check(&state, &form.csrf)?;
    let tracking_no = TrackingNo::parse(&form.tracking_no)
        .map_err(|e| ApiError::invalid(format!("运单号无效：{e}")))?;
    let order_id = path.into_inner();
    state
        .printing
        .ship(
            &ctx.requester(&session.caller),
            order_id,
            &form.carrier,
            tracking_no,
        )
        .await?;
    Ok(see_other(&format!(
        "/console/ship?shipped={}",
        out_trade_no(order_id)
    )))
}

/// `GET /console/ship/{order_id}/label`: one order's address label.
pub async fn label(
    state: web::Data<AppState>,
    _session: Session<Couriers>,
    path: web::Path<OrderId>,
) -> Result<HttpResponse, PageError> {
    let order = state.printing.order(path.into_inner()).await?;
    let name = format!("label-{}.pdf", order_number(&order));
    Ok(pdf(&name, printing::labels_pdf(&[order])?))
}

/// `POST /console/ship/file` (multipart: `csrf`, `carrier`, `file`): ships every order of a
/// carrier's CSV, or shows every bad line.
pub async fn ship_file(
    state: web::Data<AppState>,
    session: Session<Couriers>,
    ctx: CommandContext,
    form: Multipart,
) -> Result<HttpResponse, PageError> {
    let fields = multipart_fields(
        form,
        &[("csrf", 256), ("carrier", 256), ("file", CSV_LIMIT)],
        "运单文件太大",
    )
    .await?;
    let text = |name: &str| fields.get(name).map(FormField::text).unwrap_or_default();
    session.check(&state, &text("csrf"))?;
    let file = fields
        .get("file")
        .ok_or_else(|| ApiError::invalid("请选择运单文件（字段 file）"))?;
    let shipped = state
        .printing
        .ship_file(
            &ctx.requester(&session.caller),
            &text("carrier"),
            &file.bytes,
        )
        .await?;
    let (status, body) = match shipped {
        FileShipped::Refused(bad) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            html! {
                h1 { "运单文件有误，未发货" }
                section.card {
                    table.bad-lines {
                        tr { th { "行" } th { "问题" } }
                        @for line in &bad {
                            tr { td.count { (line.line) } td { (line.reason) } }
                        }
                    }
                }
                p { a href="/console/ship" { "返回待发货" } }
            },
        ),
        FileShipped::Shipped(outcomes) => {
            let done = outcomes
                .iter()
                .filter(|(_, o)| matches!(o, Ok(Shipped::Now)))
                .count();
            let status = if outcomes.iter().all(|(_, o)| o.is_ok()) {
                StatusCode::OK
            } else {
                StatusCode::CONFLICT
            };
            (
                status,
                html! {
                    h1 { "运单文件已处理" }
                    p { "发货 " (done) " 单。" }
                    section.card {
                        table.shipped-lines {
                            tr { th { "行" } th { "订单号" } th { "运单号" } th { "结果" } }
                            @for (line, outcome) in &outcomes {
                                tr {
                                    td.count { (line.line) }
                                    td { code { (out_trade_no(line.order_id)) } }
                                    td { (line.tracking_no) }
                                    td {
                                        @match outcome {
                                            Ok(Shipped::Now) => "已发货",
                                            Ok(Shipped::Already) => "此前已用该运单号发货",
                                            Err(e) => span.refusal { (e.message()) },
                                        }
                                    }
                                }
                            }
                        }
                    }
                    p { a href="/console/ship" { "返回待发货" } }
                },
            )
        }
    };
    Ok(page("运单文件", &session, status, body))
}

#[derive(Deserialize)]
pub struct ShippedQuery {
    /// An order number, a tracking number or a student's full name.
    q: Option<String>,
}

/// `GET /console/shipped?q=`: shipped orders found by order number, tracking number or
/// student.
pub async fn shipped(
    state: web::Data<AppState>,
    session: Session<Couriers>,
    query: web::Query<ShippedQuery>,
) -> Result<HttpResponse, PageError> {
    let term = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let found = match term {
        Some(term) => Some(state.printing.shipped_matching(term, LISTED).await?),
        None => None,
    };
    let body = html! {
        h1 { "已发货" }
        form.filters method="get" action="/console/shipped" {
            input type="search" name="q" value=(term.unwrap_or("")) placeholder="订单号、运单号或学生姓名" autofocus;
            " "
            button type="submit" { "查找" }
        }
        @if let Some(found) = &found {
            section.card {
                @if found.is_empty() {
                    p { "没有找到已发货的订单。" }
                } @else {
                    table.orders {
                        tr { th { "订单号" } th { "学生" } th { "收件人" } th { "快递" } th { "运单号" } th { "发货时间" } }
                        @for order in found {
                            tr data-order=(order.order_id) {
                                td { code { (order_number(order)) } }
                                td { (order.school) " " (order.name_masked) }
                                td { (order.recipient) }
                                td { (order.carrier.as_deref().unwrap_or("")) }
                                td { (order.tracking_no.as_deref().unwrap_or("")) }
                                td { @if let Some(at) = &order.shipped_at { (when(at)) } }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page("已发货", &session, StatusCode::OK, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_form_keeps_its_orders_in_order_and_refuses_what_is_not_an_order() {
        let (a, b) = (OrderId::new(), OrderId::new());
        let body = format!("csrf=t0k&order={b}&order={a}&other=x");
        let form = RunForm::parse(body.as_bytes()).unwrap();
        assert_eq!(form.csrf, "t0k");
        assert_eq!(form.orders, vec![b, a]);
        assert!(RunForm::parse(b"csrf=t&order=nope").is_err());
    }

    #[test]
    fn the_payment_day_is_a_day_in_china() {
        let query = ToPrintQuery {
            batch: Some(String::new()),
            layout: Some("two".into()),
            paid_since: Some("2026-06-01".into()),
        };
        let filter = query.filter().unwrap();
        assert_eq!(filter.batch_id, None);
        assert_eq!(filter.layout, Some(PrintLayout::Two));
        assert_eq!(
            filter.paid_since.unwrap().to_rfc3339(),
            "2026-05-31T16:00:00+00:00"
        );
        let bad = ToPrintQuery {
            batch: None,
            layout: Some("three".into()),
            paid_since: None,
        };
        assert!(bad.filter().is_err());
        let far = ToPrintQuery {
            batch: None,
            layout: None,
            paid_since: Some("-262144-01-01".into()),
        };
        assert!(
            far.filter().is_err(),
            "a day chrono reads but no clock holds"
        );
    }
}
