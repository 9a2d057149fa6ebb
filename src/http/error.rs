//! The one JSON error shape every route answers with: `{code, message, details?, request_id}`.
//!
//! [`ApiError`] is the only place that knows HTTP statuses: refusals from the ledger, the
//! eligibility rules and sign-in map to 4xx with their stable codes; outages to 503; anything
//! else to 500 with the cause logged and never returned. actix's own extractor failures
//! (malformed JSON, wrong content type, body too large, bad path or query) are turned into the
//! same shape by the handlers in [`extractor_configs`].

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse, ResponseError};
use photo_ledger_domain::CaptureError;
use photo_ledger_projections::ProjectionError;
use serde::Serialize;

use crate::accounts::addresses::{AddressError, AddressStoreError};
use crate::accounts::staff::StaffError;
use crate::accounts::wechat_login::WechatError;
use crate::captures::CaptureAccessError;
use crate::eligibility::EligibilityError;
use crate::ledger::LedgerError;
use crate::payments::wechat_pay::client::PayError;
use crate::payments::wechat_pay::NotifyError;
use crate::payments::PaymentError;
use crate::photos::PhotoServiceError;
use photo_ledger_photo::error::PhotoError;

use super::request_id;

/// Every error answer. `code` is stable for programs; `message` is for people, in Chinese for
/// students.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    #[schema(example = "capture.not_found")]
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
    pub request_id: String,
}

#[derive(Debug, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    /// Input that parsed but does not make sense (a missing field, an unknown value).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "request.invalid", message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// A failure of ours: logged with its cause, answered without it.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "服务出错了，请稍后重试",
        )
    }

    fn unavailable(code: &'static str, message: String, cause: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, code, "service unavailable");
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(ErrorBody {
            code: self.code,
            message: self.message.clone(),
            details: self.details.clone(),
            request_id: request_id::current(),
        })
    }
}

/// Capture refusals that are about the input rather than the capture's state.
fn is_input_refusal(e: &CaptureError) -> bool {
    use CaptureError::*;
    matches!(
        e,
        UnknownPhoto(_)
            | NotStandardPhoto(_)
            | BackgroundNotOffered
            | InvalidClaimTtl
            | RejectReasonRequired
            | UnknownRejectReason(_)
            | PrintDetailsRequired
            | PrintDetailsNotAllowed
            | InvalidSheets { .. }
            | IncompleteAddress
            | UnknownOrder(_)
            | TrackingRequired
    )
}

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> Self {
        let status = match &e {
            LedgerError::Refused(refusal) if is_input_refusal(refusal) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            LedgerError::Refused(_) | LedgerError::Contended(..) => StatusCode::CONFLICT,
            LedgerError::CommandIdReused { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            LedgerError::Store(_) | LedgerError::Projection(_) => {
                return Self::unavailable(e.code(), e.message(), &e)
            }
        };
        Self::new(status, e.code(), e.message())
    }
}

impl From<EligibilityError> for ApiError {
    fn from(e: EligibilityError) -> Self {
        use EligibilityError::*;
        let status = match &e {
            Ledger(_) | Store(_) => return Self::unavailable(e.code(), e.message(), &e),
            SigningKey(_) => return Self::internal(&e),
            Locked { .. } => StatusCode::TOO_MANY_REQUESTS,
            ClaimedByAnother | BatchClosed { .. } | NoOpenBatch { .. } => StatusCode::CONFLICT,
            UnknownSchool(_) | UnknownBatch(_) => StatusCode::NOT_FOUND,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        let error = Self::new(status, e.code(), e.message());
        match e {
            EducationTypeRequired(types) => {
                error.with_details(serde_json::json!({ "education_types": types }))
            }
            _ => error,
        }
    }
}

impl From<ProjectionError> for ApiError {
    fn from(e: ProjectionError) -> Self {
        Self::unavailable("store.unavailable", "服务暂时不可用，请稍后重试".into(), e)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::unavailable("store.unavailable", "服务暂时不可用，请稍后重试".into(), e)
    }
}

impl From<AddressStoreError> for ApiError {
    fn from(e: AddressStoreError) -> Self {
        match e {
            AddressStoreError::Refused(refusal) => {
                let status = match refusal {
                    AddressError::NotFound => StatusCode::NOT_FOUND,
                    AddressError::Full => StatusCode::CONFLICT,
                    _ => StatusCode::UNPROCESSABLE_ENTITY,
                };
                Self::new(status, refusal.code(), refusal.message())
            }
            AddressStoreError::Store(e) => e.into(),
        }
    }
}

impl From<StaffError> for ApiError {
    fn from(e: StaffError) -> Self {
        match e {
            StaffError::BadCredentials
            | StaffError::InvalidUsername
            | StaffError::WeakPassword
            | StaffError::NotAStaffRole(_) => Self::new(
                StatusCode::UNAUTHORIZED,
                "auth.bad_credentials",
                "用户名或密码错误",
            ),
            StaffError::Store(e) => e.into(),
            StaffError::Hashing(_) => Self::internal(e),
        }
    }
}

impl From<CaptureAccessError> for ApiError {
    fn from(e: CaptureAccessError) -> Self {
        match e {
            CaptureAccessError::NotFound => {
                ApiError::not_found("capture.not_found", "没有找到该采集记录")
            }
            CaptureAccessError::Ledger(e) => e.into(),
            CaptureAccessError::View(e) => e.into(),
        }
    }
}

impl From<PaymentError> for ApiError {
    fn from(e: PaymentError) -> Self {
        match e {
            PaymentError::CaptureNotFound => CaptureAccessError::NotFound.into(),
            PaymentError::UnknownOrder => ApiError::not_found("order.not_found", "没有找到该订单"),
            PaymentError::Prepay(e) => e.into(),
            PaymentError::PaymentRefused(refusal) => LedgerError::Refused(refusal).into(),
            PaymentError::Ledger(e) => e.into(),
            PaymentError::View(e) => e.into(),
            PaymentError::Store(e) => e.into(),
            PaymentError::Notification(_) => {
                Self::new(StatusCode::BAD_REQUEST, e.code(), "支付通知未通过验证")
            }
        }
    }
}

/// The status a WeChat Pay notification is answered with when it is not recorded: 4xx for one
/// that will never be (WeChat stops retrying after a while), 5xx for one that may be later.
pub fn notification_status(e: &PaymentError) -> StatusCode {
    match e {
        PaymentError::Notification(NotifyError::NotConfigured) => StatusCode::SERVICE_UNAVAILABLE,
        PaymentError::Notification(
            NotifyError::Malformed(_) | NotifyError::Undecryptable | NotifyError::NotOurs,
        ) => StatusCode::BAD_REQUEST,
        PaymentError::Notification(_) => StatusCode::UNAUTHORIZED,
        PaymentError::UnknownOrder | PaymentError::CaptureNotFound => StatusCode::NOT_FOUND,
        PaymentError::PaymentRefused(CaptureError::AmountMismatch { .. }) => {
            StatusCode::BAD_REQUEST
        }
        PaymentError::PaymentRefused(CaptureError::UnknownOrder(_)) => StatusCode::NOT_FOUND,
        PaymentError::PaymentRefused(_) => StatusCode::CONFLICT,
        PaymentError::Prepay(_)
        | PaymentError::Ledger(_)
        | PaymentError::View(_)
        | PaymentError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

impl From<PhotoServiceError> for ApiError {
    fn from(e: PhotoServiceError) -> Self {
        match e {
            PhotoServiceError::Unavailable => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "photo.unavailable",
                "系统暂时无法处理照片，请稍后再试。",
            ),
            PhotoServiceError::PhotoNotFound => {
                ApiError::not_found("photo.not_found", "没有找到这张照片")
            }
            PhotoServiceError::Photo(e) => match e {
                PhotoError::RuntimeMissing { .. }
                | PhotoError::Model { .. }
                | PhotoError::Inference { .. }
                | PhotoError::Encode(_) => {
                    tracing::error!(
                        error = &e as &dyn std::error::Error,
                        "standardisation failed"
                    );
                    Self::new(StatusCode::SERVICE_UNAVAILABLE, e.code(), e.message())
                }
                _ => Self::new(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.message()),
            },
            PhotoServiceError::Capture(e) => e.into(),
            PhotoServiceError::Store(_) | PhotoServiceError::Preview(_) => Self::internal(&e),
        }
    }
}

impl From<PayError> for ApiError {
    fn from(e: PayError) -> Self {
        let code = match e {
            PayError::Refused(_) => "payment.prepay_refused",
            PayError::Unavailable(_) => "payment.prepay_unavailable",
        };
        Self::new(
            StatusCode::BAD_GATEWAY,
            code,
            "微信支付暂时不可用，请稍后重试",
        )
        .logged(&e)
    }
}

impl From<WechatError> for ApiError {
    fn from(e: WechatError) -> Self {
        match e {
            WechatError::CodeRejected { .. } => Self::new(
                StatusCode::UNAUTHORIZED,
                "auth.wechat_code_invalid",
                "微信登录已失效，请重新进入小程序",
            ),
            WechatError::NotConfigured => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "auth.wechat_not_configured",
                "微信登录暂不可用",
            ),
            WechatError::Unavailable(_) => Self::new(
                StatusCode::BAD_GATEWAY,
                "auth.wechat_unavailable",
                "微信服务暂时不可用，请稍后重试",
            )
            .logged(&e),
        }
    }
}

impl ApiError {
    /// `serve --dev`'s own payment was not accepted: the notification's answer is in details.
    pub fn sandbox_refused(notify_status: StatusCode) -> Self {
        Self::new(
            StatusCode::BAD_GATEWAY,
            "payment.sandbox_refused",
            "模拟支付未被接受",
        )
        .with_details(serde_json::json!({ "notify_status": notify_status.as_u16() }))
    }

    fn logged(self, cause: &impl std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, code = self.code, "upstream failure");
        self
    }
}

/// JSON bodies: 415 for another content type, 413 over the limit, 400 for malformed JSON.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|err, _req| json_error(err).into())
}

fn json_error(err: JsonPayloadError) -> ApiError {
    match err {
        JsonPayloadError::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "http.unsupported_media_type",
            "请求内容须为 JSON（Content-Type: application/json）",
        ),
        JsonPayloadError::Overflow { limit }
        | JsonPayloadError::OverflowKnownLength { limit, .. } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "http.payload_too_large",
            "请求内容过大",
        )
        .with_details(serde_json::json!({ "limit_bytes": limit })),
        JsonPayloadError::Deserialize(e) if e.is_data() => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "request.invalid",
            "请求内容的字段有误",
        )
        .with_details(serde_json::json!({ "reason": e.to_string() })),
        JsonPayloadError::Deserialize(e) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "http.malformed_json",
            "请求内容不是有效的 JSON",
        )
        .with_details(serde_json::json!({ "reason": e.to_string() })),
        other => ApiError::new(
            StatusCode::BAD_REQUEST,
            "http.bad_request",
            "请求内容无法读取",
        )
        .with_details(serde_json::json!({ "reason": other.to_string() })),
    }
}

/// A raw body that could not be read: over the limit, or cut short.
pub fn payload_error(err: actix_web::Error) -> ApiError {
    if err.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "http.payload_too_large",
            "请求内容过大",
        )
    } else {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "http.bad_request",
            "请求内容无法读取",
        )
    }
}

/// Reads a raw body, refusing it (413) as soon as it grows past `limit`.
pub async fn read_body(mut payload: web::Payload, limit: usize) -> Result<web::Bytes, ApiError> {
    use futures::StreamExt;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| payload_error(e.into()))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "http.payload_too_large",
                "请求内容过大",
            )
            .with_details(serde_json::json!({ "limit_bytes": limit })));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Path and query extractors: a malformed id is a route that does not exist; a malformed query
/// is a 400.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err: PathError, _req| {
        ApiError::not_found("http.not_found", "没有找到该记录")
            .with_details(serde_json::json!({ "reason": err.to_string() }))
            .into()
    })
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err: QueryPayloadError, _req| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "http.invalid_query",
            "查询参数有误",
        )
        .with_details(serde_json::json!({ "reason": err.to_string() }))
        .into()
    })
}

pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found("http.not_found", "没有这个接口"))
}

pub async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "http.method_not_allowed",
        "该接口不支持这种请求方法",
    ))
}
