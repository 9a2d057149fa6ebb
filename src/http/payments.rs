//! `POST /payments/wechat/notify`: WeChat Pay's payment notifications. Verified as
//! [`crate::wechat_pay`] describes, then recorded as the capture's payment, idempotently (a
//! repeated notification is the same ledger command). Answered as WeChat expects: 204 with no
//! body on success, `{"code": "FAIL", "message": "失败"}` with a 4xx/5xx otherwise, so WeChat
//! retries later. `serve --dev` adds [`dev_pay`], which pays through the same path with
//! sandbox keys.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use photo_ledger_domain::commands::ConfirmPayment;
use photo_ledger_domain::metadata::{Actor, EventMetadata};
use photo_ledger_domain::values::{Fen, OrderId};
use photo_ledger_domain::{CaptureCommand, CaptureError};

use super::commands;
use super::error::{read_body, ApiError, ErrorBody};
use super::extract::{Auth, Students};
use crate::ledger::LedgerError;
use crate::payment_orders;
use crate::startup::AppState;
use crate::wechat_pay::sandbox::{self, SandboxPayment};
use crate::wechat_pay::{Notification, NotifyError, NotifyHeaders, Transaction};

fn fail(status: StatusCode) -> HttpResponse {
    HttpResponse::build(status).json(serde_json::json!({"code": "FAIL", "message": "失败"}))
}

fn header(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

#[utoipa::path(post, path = "/api/v1/payments/wechat/notify", tag = "payments",
    request_body(content = Object, description = "WeChat Pay's notification, signed in the Wechatpay-* headers"),
    responses((status = 204, description = "Recorded (or recorded before)"),
        (status = "4XX", description = "`{code: FAIL, message}`: refused, WeChat retries"),
        (status = "5XX", description = "`{code: FAIL, message}`: not recorded now, WeChat retries")))]
pub async fn wechat_notify(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let body = match read_body(payload, state.api.http.json_limit_bytes).await {
        Ok(body) => body,
        Err(e) => return fail(e.status),
    };
    let headers = NotifyHeaders {
        signature: header(&req, "wechatpay-signature"),
        timestamp: header(&req, "wechatpay-timestamp"),
        nonce: header(&req, "wechatpay-nonce"),
        serial: header(&req, "wechatpay-serial"),
        signature_type: header(&req, "wechatpay-signature-type"),
    };
    match record(&state, &headers, &body).await {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(status) => fail(status),
    }
}

/// Verifies a notification and records its payment; the error is the status WeChat is
/// answered with.
async fn record(state: &AppState, headers: &NotifyHeaders, body: &[u8]) -> Result<(), StatusCode> {
    let transaction = match state.pay_notify.verify(headers, body, Utc::now()) {
        Ok(Notification::Paid(transaction)) => transaction,
        Ok(Notification::Other(event)) => {
            tracing::info!(
                event,
                "payment notification acknowledged, nothing to record"
            );
            return Ok(());
        }
        Err(error) => {
            tracing::warn!(%error, "payment notification refused");
            return Err(match error {
                NotifyError::NotConfigured => StatusCode::SERVICE_UNAVAILABLE,
                NotifyError::Malformed(_) | NotifyError::Undecryptable | NotifyError::NotOurs => {
                    StatusCode::BAD_REQUEST
                }
                _ => StatusCode::UNAUTHORIZED,
            });
        }
    };
    record_paid(state, &transaction).await
}

/// Records a payment WeChat Pay confirmed, by notification or in answer to an order query, on
/// its order's capture: one ledger command per transaction, so the second report of one payment
/// records nothing. The error is the status a notification is answered with.
pub async fn record_paid(state: &AppState, transaction: &Transaction) -> Result<(), StatusCode> {
    let Ok(order_id) = transaction.out_trade_no.parse::<OrderId>() else {
        tracing::warn!(out_trade_no = %transaction.out_trade_no, "payment for an order id we never issue");
        return Err(StatusCode::NOT_FOUND);
    };
    let capture_id = match payment_orders::capture_of(state.ledger.db(), order_id).await {
        Ok(Some(capture_id)) => capture_id,
        Ok(None) => {
            tracing::warn!(%order_id, "payment for an unknown order");
            return Err(StatusCode::NOT_FOUND);
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot look up a paid order");
            return Err(StatusCode::SERVICE_UNAVAILABLE);
        }
    };
    let now = Utc::now();
    let command = CaptureCommand::ConfirmPayment(ConfirmPayment {
        order_id,
        amount_fen: Fen(transaction.amount.total),
        provider: "wechat".into(),
        transaction_id: transaction.transaction_id.clone(),
        paid_at: transaction.success_time.unwrap_or(now),
    });
    let metadata = EventMetadata {
        actor: Actor::system("wechat-pay"),
        request_id: super::request_id::current(),
        // One transaction, one command: a repeated notification, or a notification and an
        // order query reporting the same payment, record it once.
        command_id: format!("wechat-pay:{}", transaction.transaction_id),
        recorded_at: now,
    };
    match commands::run_as(state, metadata, capture_id, command).await {
        Ok(_) => Ok(()),
        Err(LedgerError::Refused(refusal)) => {
            // A wrong amount, or a second payment for a paid order: money to look at by hand.
            tracing::error!(%order_id, code = refusal.code(), "payment notification refused by the capture");
            Err(match refusal {
                CaptureError::AmountMismatch { .. } => StatusCode::BAD_REQUEST,
                CaptureError::UnknownOrder(_) => StatusCode::NOT_FOUND,
                _ => StatusCode::CONFLICT,
            })
        }
        Err(e) => {
            tracing::warn!(error = %e, "payment not recorded now");
            Err(StatusCode::SERVICE_UNAVAILABLE)
        }
    }
}

/// `POST /dev/orders/{order_id}/pay` (only with `serve --dev`): the service sends itself a
/// correctly signed notification for the student's order, with the sandbox keys, and answers
/// with the capture's status.
#[utoipa::path(post, path = "/api/v1/dev/orders/{order_id}/pay", tag = "payments",
    params(("order_id" = String, Path, description = "The order (UUID)")), security(("bearer" = [])),
    responses((status = 200, description = "The capture-status view, paid", body = Object),
        (status = "4XX", body = ErrorBody), (status = 502, body = ErrorBody)))]
pub async fn dev_pay(
    state: web::Data<AppState>,
    caller: Auth<Students>,
    path: web::Path<OrderId>,
) -> Result<HttpResponse, ApiError> {
    let order_id = path.into_inner();
    let not_found = || ApiError::not_found("order.not_found", "没有找到该订单");
    let capture_id = payment_orders::capture_of(state.ledger.db(), order_id)
        .await?
        .ok_or_else(not_found)?;
    commands::ensure_access(&state, &caller, capture_id)
        .await
        .map_err(|_| not_found())?;
    let (_, view) = commands::status_of(&state, capture_id).await?;
    let order = view
        .orders
        .iter()
        .find(|o| o.order_id == order_id)
        .ok_or_else(not_found)?;
    let out_trade_no = payment_orders::out_trade_no(order_id);
    let (headers, body) = sandbox::notification(
        &state.pay_notify,
        &SandboxPayment {
            out_trade_no: &out_trade_no,
            amount_fen: order.amount_fen.0,
            transaction_id: &format!("sandbox{out_trade_no}"),
            openid: &caller.subject,
            at: Utc::now(),
        },
    )
    .map_err(ApiError::internal)?;
    record(&state, &headers, &body).await.map_err(|status| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "payment.sandbox_refused",
            "模拟支付未被接受",
        )
        .with_details(serde_json::json!({ "notify_status": status.as_u16() }))
    })?;
    Ok(HttpResponse::Ok().json(commands::status_of(&state, capture_id).await?.1))
}
