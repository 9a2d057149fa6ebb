//! Admins' refund routes: refunding a payment by hand, with a reason, and the refunds by state
//! (the failed ones are the ones to look at).

use actix_web::{web, HttpResponse};
use photo_ledger_domain::refunds::RefundState;
use photo_ledger_domain::values::{CaptureId, OrderId};
use photo_ledger_projections::refunds::{self, RefundItem};
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ErrorBody};
use super::extract::{page_limit, Admins, Auth, CommandContext};
use crate::http::state::AppState;
use crate::payments::refunds::RefundByHand;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    /// The order whose payment is given back.
    #[schema(value_type = String)]
    order_id: OrderId,
    /// Why, for the audit trail; required.
    reason: String,
    /// A payment of the order whose automatic refund failed; the order's kept payment when
    /// absent.
    transaction_id: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/admin/captures/{capture_id}/refunds", tag = "admins", operation_id = "refund_payment", params(("capture_id" = String, Path, description = "The capture (UUID)")), request_body = RefundBody, security(("bearer" = [])),
    responses((status = 200, description = "The capture-status view, the refund in `refunds` as `requested`", body = Object), (status = "4XX", body = ErrorBody)))]
/// `POST /admin/captures/{id}/refunds {order_id, reason, transaction_id?}`: gives a payment back
/// in full through WeChat Pay. The refund is recorded with the admin and the reason, then made
/// at once; its outcome shows in the capture's `refunds` and in `GET /admin/refunds`.
pub async fn refund(
    state: web::Data<AppState>,
    caller: Auth<Admins>,
    ctx: CommandContext,
    path: web::Path<CaptureId>,
    body: web::Json<RefundBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let view = state
        .payments
        .refund_by_hand(
            &ctx.requester(&caller),
            path.into_inner(),
            RefundByHand {
                order_id: body.order_id,
                transaction_id: body.transaction_id,
                note: body.reason,
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RefundsQuery {
    /// `requested`, `refunded` or `failed`.
    #[param(value_type = String)]
    state: RefundState,
    /// 1 to 500; 50 when absent.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct RefundList {
    #[schema(value_type = Vec<Object>)]
    refunds: Vec<RefundItem>,
}

#[utoipa::path(get, path = "/api/v1/admin/refunds", tag = "admins", operation_id = "list_refunds", params(RefundsQuery), security(("bearer" = [])),
    responses((status = 200, body = RefundList), (status = "4XX", body = ErrorBody)))]
/// `GET /admin/refunds?state=requested|refunded|failed`: oldest request first, with WeChat
/// Pay's reason for each failed one.
pub async fn list(
    state: web::Data<AppState>,
    _caller: Auth<Admins>,
    query: web::Query<RefundsQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(query.limit)?;
    let refunds = refunds::list(state.ledger.db(), query.state, limit).await?;
    Ok(HttpResponse::Ok().json(RefundList { refunds }))
}
