//! `POST /payments/wechat/notify`: WeChat Pay's payment notifications. Verified as
//! [`crate::payments::wechat_pay`] describes, then recorded as the capture's payment, idempotently (a
//! repeated notification is the same ledger command). Answered as WeChat expects: 204 with no
//! body on success, `{"code": "FAIL", "message": "失败"}` with a 4xx/5xx otherwise, so WeChat
//! retries later. `serve --dev` adds [`dev_pay`], which pays through the same path with
//! sandbox keys.

use actix_web::ResponseError;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use photo_ledger_domain::values::OrderId;

use super::error::{
    notification_failed, notification_refused, notification_status, read_body, ApiError, ErrorBody,
};
use super::extract::{Auth, Students};
use super::state::AppState;
use crate::payments::orders;
use crate::payments::wechat_pay::sandbox::{self, SandboxPayment};
use crate::payments::wechat_pay::NotifyHeaders;
use crate::payments::PaymentError;

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
        Err(e) => return notification_failed(e.status_code()),
    };
    let headers = NotifyHeaders {
        signature: header(&req, "wechatpay-signature"),
        timestamp: header(&req, "wechatpay-timestamp"),
        nonce: header(&req, "wechatpay-nonce"),
        serial: header(&req, "wechatpay-serial"),
        signature_type: header(&req, "wechatpay-signature-type"),
    };
    match state.payments.record_notification(&headers, &body).await {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(error) => {
            tracing::warn!(
                error = %crate::telemetry::ErrorChain(&error),
                code = error.code(),
                "payment notification not recorded"
            );
            notification_refused(&error)
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
    let capture_id = state.payments.capture_of(order_id).await?;
    let (order, _) = state
        .payments
        .order_of(capture_id, order_id)
        .await
        .map_err(|_| PaymentError::UnknownOrder)?;
    state
        .captures
        .accessible(&caller.actor(), capture_id)
        .await
        .map_err(|_| PaymentError::UnknownOrder)?;
    let out_trade_no = orders::out_trade_no(order_id);
    let (headers, body) = sandbox::notification(
        state.payments.notify_verifier(),
        &SandboxPayment {
            out_trade_no: &out_trade_no,
            amount_fen: order.amount_fen.fen(),
            transaction_id: &format!("sandbox{out_trade_no}"),
            openid: &caller.subject,
            at: Utc::now(),
        },
    )
    .map_err(|e| ApiError::internal(&e))?;
    state
        .payments
        .record_notification(&headers, &body)
        .await
        .map_err(|error| ApiError::sandbox_refused(notification_status(&error)))?;
    Ok(HttpResponse::Ok().json(state.captures.status(capture_id).await?))
}
