//! Print staff's routes: paid print orders by stage, their print sheets, marking them printed
//! and shipped.

use actix_web::{web, HttpResponse};
use chrono::Utc;
use photo_ledger_domain::commands::{MarkPrinted, Ship};
use photo_ledger_domain::tracking_no::{self, TrackingNo, TrackingNoError};
use photo_ledger_domain::values::{CaptureId, OrderId};
use photo_ledger_domain::{CaptureCommand, CaptureError};
use photo_ledger_projections::courier_orders::{self, CourierOrder, CourierStatus};
use serde::{Deserialize, Serialize};

use super::error::{ApiCode, ApiError, ErrorBody};
use super::extract::{page_limit, Auth, CommandContext, Couriers};
use crate::http::state::AppState;
use crate::ledger::LedgerError;
use crate::printing::{carrier_name, MAX_CARRIER_CHARS};

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OrdersQuery {
    /// `to_print`, `to_ship` or `shipped`.
    #[param(value_type = String)]
    status: CourierStatus,
    /// 1 to 500; 50 when absent.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct OrderList {
    #[schema(value_type = Vec<Object>)]
    orders: Vec<CourierOrder>,
}

#[utoipa::path(get, path = "/api/v1/courier/orders", tag = "print staff", operation_id = "list_courier_orders", params(OrdersQuery), security(("bearer" = [])),
    responses((status = 200, body = OrderList), (status = "4XX", body = ErrorBody)))]
/// `GET /courier/orders?status=to_print|to_ship|shipped`: oldest payment first.
pub async fn list(
    state: web::Data<AppState>,
    _caller: Auth<Couriers>,
    query: web::Query<OrdersQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(query.limit)?;
    let orders = courier_orders::list(state.ledger.db(), query.status, limit).await?;
    Ok(HttpResponse::Ok().json(OrderList { orders }))
}

fn order_not_found() -> ApiError {
    ApiCode::OrderNotFound.into()
}

/// The paid print order and its capture.
async fn print_order(state: &AppState, order_id: OrderId) -> Result<CaptureId, ApiError> {
    let order = courier_orders::by_order(state.ledger.db(), &order_id.to_string())
        .await?
        .ok_or_else(order_not_found)?;
    order.capture_id.parse().map_err(|e| ApiError::internal(&e))
}

async fn order_command(
    state: &AppState,
    caller: &Auth<Couriers>,
    ctx: &CommandContext,
    order_id: OrderId,
    command: CaptureCommand,
) -> Result<HttpResponse, ApiError> {
    let capture_id = print_order(state, order_id).await?;
    state
        .captures
        .send(&ctx.requester(caller), capture_id, command)
        .await?;
    let order = courier_orders::by_order(state.ledger.db(), &order_id.to_string())
        .await?
        .ok_or_else(order_not_found)?;
    Ok(HttpResponse::Ok().json(order))
}

#[utoipa::path(post, path = "/api/v1/courier/orders/{order_id}/printed", tag = "print staff", params(("order_id" = String, Path, description = "The order (UUID)")), security(("bearer" = [])),
    responses((status = 200, description = "The print order", body = Object), (status = "4XX", body = ErrorBody)))]
/// `POST /courier/orders/{id}/printed`.
pub async fn printed(
    state: web::Data<AppState>,
    caller: Auth<Couriers>,
    ctx: CommandContext,
    path: web::Path<OrderId>,
) -> Result<HttpResponse, ApiError> {
    let order_id = path.into_inner();
    let command = CaptureCommand::MarkPrinted(MarkPrinted {
        order_id,
        at: Utc::now(),
    });
    order_command(&state, &caller, &ctx, order_id, command).await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShippedBody {
    carrier: String,
    tracking_no: String,
}

#[utoipa::path(post, path = "/api/v1/courier/orders/{order_id}/shipped", tag = "print staff", params(("order_id" = String, Path, description = "The order (UUID)")), request_body = ShippedBody, security(("bearer" = [])),
    responses((status = 200, description = "The print order", body = Object), (status = "4XX", body = ErrorBody)))]
/// `POST /courier/orders/{id}/shipped {carrier, tracking_no}`.
pub async fn shipped(
    state: web::Data<AppState>,
    caller: Auth<Couriers>,
    ctx: CommandContext,
    path: web::Path<OrderId>,
    body: web::Json<ShippedBody>,
) -> Result<HttpResponse, ApiError> {
    let order_id = path.into_inner();
    let ShippedBody {
        carrier,
        tracking_no,
    } = body.into_inner();
    if carrier.chars().count() > MAX_CARRIER_CHARS
        || tracking_no.chars().count() > tracking_no::MAX_CHARS
    {
        return Err(ApiError::invalid("快递公司或运单号过长"));
    }
    let tracking_no = match TrackingNo::parse(&tracking_no) {
        Ok(number) => number,
        Err(TrackingNoError::Empty) => return Err(untracked(&state, order_id).await),
        Err(TrackingNoError::TooLong(_)) => return Err(ApiError::invalid("快递公司或运单号过长")),
        Err(TrackingNoError::Hidden(_)) => {
            return Err(ApiError::invalid("运单号不能含有看不见的字符"))
        }
    };
    // No carrier at all is the capture's to refuse, as it refuses no tracking number.
    let carrier = if carrier.trim().is_empty() {
        String::new()
    } else {
        carrier_name(&carrier)
            .ok_or_else(|| ApiError::invalid("快递公司名称不能含有看不见的字符"))?
    };
    let command = CaptureCommand::Ship(Ship {
        order_id,
        carrier,
        tracking_no,
        at: Utc::now(),
    });
    order_command(&state, &caller, &ctx, order_id, command).await
}

/// The answer to shipping without a tracking number. What the order itself would refuse (not
/// found, not a paid print order, already shipped) answers first, as it did when the capture
/// checked the number; then 422 `capture.tracking_required`.
async fn untracked(state: &AppState, order_id: OrderId) -> ApiError {
    let capture_id = match print_order(state, order_id).await {
        Ok(capture_id) => capture_id,
        Err(e) => return e,
    };
    match state.ledger.load(&capture_id.to_string()).await {
        Ok((capture, _)) => {
            let refusal = capture.may_ship(order_id).err();
            LedgerError::Refused(refusal.unwrap_or(CaptureError::TrackingRequired)).into()
        }
        Err(e) => e.into(),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SheetQuery {
    /// `jpeg` (default) or `pdf`.
    format: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/courier/orders/{order_id}/sheet", tag = "print staff",
    params(("order_id" = String, Path, description = "The order (UUID)"), SheetQuery), security(("bearer" = [])),
    responses((status = 200, description = "The print sheet", content_type = "image/jpeg"), (status = "4XX", body = ErrorBody)))]
/// `GET /courier/orders/{id}/sheet?format=jpeg|pdf`: the print sheet of a paid order, once its
/// photo is approved.
pub async fn sheet(
    state: web::Data<AppState>,
    caller: Auth<Couriers>,
    path: web::Path<OrderId>,
    query: web::Query<SheetQuery>,
) -> Result<HttpResponse, ApiError> {
    let pdf = match query.format.as_deref() {
        None | Some("jpeg") => false,
        Some("pdf") => true,
        Some(_) => {
            return Err(ApiError::with_message(
                ApiCode::InvalidQuery,
                "format 只能为 jpeg 或 pdf",
            ))
        }
    };
    let order = courier_orders::by_order(state.ledger.db(), &path.to_string())
        .await?
        .ok_or_else(order_not_found)?;
    let photo_id = order
        .approved_photo_id
        .ok_or_else(|| LedgerError::Refused(CaptureError::NotApproved))?;
    let body = state
        .photos
        .print_sheet(&caller.actor(), photo_id, order.layout, pdf)
        .await?;
    Ok(HttpResponse::Ok()
        .content_type(if pdf { "application/pdf" } else { "image/jpeg" })
        .body(body))
}
