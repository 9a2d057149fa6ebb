//! `POST /payments/wechat/notify`: WeChat Pay's payment notifications. Verified as
//! [`crate::wechat_pay`] describes, then recorded as the capture's payment, idempotently (a
//! repeated notification is the same ledger command). Answered as WeChat expects: 204 with no
//! body on success, `{"code": "FAIL", "message": "失败"}` with a 4xx/5xx otherwise, so WeChat
//! retries later.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use photo_ledger_domain::commands::ConfirmPayment;
use photo_ledger_domain::metadata::{Actor, EventMetadata};
use photo_ledger_domain::values::{Fen, OrderId};
use photo_ledger_domain::{CaptureCommand, CaptureError};

use super::commands;
use super::error::read_body;
use crate::ledger::LedgerError;
use crate::payment_orders;
use crate::startup::AppState;
use crate::wechat_pay::{Notification, NotifyError, NotifyHeaders};

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
    let transaction = match state.pay_notify.verify(&headers, &body, Utc::now()) {
        Ok(Notification::Paid(transaction)) => transaction,
        Ok(Notification::Other(event)) => {
            tracing::info!(
                event,
                "payment notification acknowledged, nothing to record"
            );
            return HttpResponse::NoContent().finish();
        }
        Err(error) => {
            tracing::warn!(%error, "payment notification refused");
            return fail(match error {
                NotifyError::NotConfigured => StatusCode::SERVICE_UNAVAILABLE,
                NotifyError::Malformed(_) | NotifyError::Undecryptable | NotifyError::NotOurs => {
                    StatusCode::BAD_REQUEST
                }
                _ => StatusCode::UNAUTHORIZED,
            });
        }
    };
    let Ok(order_id) = transaction.out_trade_no.parse::<OrderId>() else {
        tracing::warn!(out_trade_no = %transaction.out_trade_no, "payment for an order id we never issue");
        return fail(StatusCode::NOT_FOUND);
    };
    let capture_id = match payment_orders::capture_of(state.ledger.db(), order_id).await {
        Ok(Some(capture_id)) => capture_id,
        Ok(None) => {
            tracing::warn!(%order_id, "payment for an unknown order");
            return fail(StatusCode::NOT_FOUND);
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot look up a paid order");
            return fail(StatusCode::SERVICE_UNAVAILABLE);
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
        // One transaction, one command: repeated notifications record nothing more.
        command_id: format!("wechat-pay:{}", transaction.transaction_id),
        recorded_at: now,
    };
    match commands::run_as(&state, metadata, capture_id, command).await {
        Ok(_) => HttpResponse::NoContent().finish(),
        Err(LedgerError::Refused(refusal)) => {
            // A wrong amount, or a second payment for a paid order: money to look at by hand.
            tracing::error!(%order_id, code = refusal.code(), "payment notification refused by the capture");
            fail(match refusal {
                CaptureError::AmountMismatch { .. } => StatusCode::BAD_REQUEST,
                CaptureError::UnknownOrder(_) => StatusCode::NOT_FOUND,
                _ => StatusCode::CONFLICT,
            })
        }
        Err(e) => {
            tracing::warn!(error = %e, "payment not recorded now");
            fail(StatusCode::SERVICE_UNAVAILABLE)
        }
    }
}
