//! The one JSON error shape every route answers with: `{code, message, details?, request_id}`,
//! and the one place that decides HTTP statuses.
//!
//! A code in an answer is either one of the HTTP layer's own, listed in [`ApiCode`], or a
//! refusal's stable code from the error enum it belongs to (`CaptureError`, `EligibilityError`,
//! `PhotoError`, `AddressError`, `LedgerError`, …), which the `From` impls below map to a status:
//! refusals to 4xx, outages to 503, anything else to 500 with its whole cause chain logged and
//! never returned. actix's own extractor failures (malformed JSON, wrong content type, body too
//! large, bad path or query) are turned into the same shape by [`json_config`], [`path_config`]
//! and [`query_config`]. Nothing outside this file picks a status for an error.

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::header::HeaderValue;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse, ResponseError};
use photo_ledger_domain::CaptureError;
use photo_ledger_photo::error::PhotoError;
use photo_ledger_projections::ProjectionError;
use serde::Serialize;

use crate::accounts::addresses::{AddressError, AddressStoreError};
use crate::accounts::staff::StaffError;
use crate::accounts::wechat_login::WechatError;
use crate::audit::point_in_time::PointInTimeError;
use crate::captures::CaptureAccessError;
use crate::consent::ConsentError;
use crate::delivery::DeliveryError;
use crate::eligibility::EligibilityError;
use crate::erasure::ErasureError;
use crate::ledger::LedgerError;
use crate::payments::wechat_pay::client::PayError;
use crate::payments::wechat_pay::NotifyError;
use crate::payments::PaymentError;
use crate::photos::PhotoServiceError;
use crate::printing::PrintingError;
use crate::telemetry::ErrorChain;

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

macro_rules! api_codes {
    ($($(#[$doc:meta])* $name:ident = $code:literal, $status:ident, $message:literal;)*) => {
        /// The codes the HTTP layer answers with itself, each with its status and its message
        /// when the case gives no more specific one.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ApiCode {
            $($(#[$doc])* $name,)*
        }

        impl ApiCode {
            /// Every code, for the documentation test.
            pub const ALL: &'static [ApiCode] = &[$(ApiCode::$name,)*];

            /// The code, its status and its message.
            fn parts(self) -> (&'static str, StatusCode, &'static str) {
                match self {
                    $(ApiCode::$name => ($code, StatusCode::$status, $message),)*
                }
            }
        }
    };
}

impl ApiCode {
    pub fn as_str(self) -> &'static str {
        self.parts().0
    }

    fn status(self) -> StatusCode {
        self.parts().1
    }

    fn message(self) -> &'static str {
        self.parts().2
    }
}

api_codes! {
    /// A body that cannot be read, or a multipart form that is not one.
    BadRequest = "http.bad_request", BAD_REQUEST, "请求内容无法读取";
    /// A query parameter that does not parse or is out of range.
    InvalidQuery = "http.invalid_query", BAD_REQUEST, "查询参数有误";
    MalformedJson = "http.malformed_json", BAD_REQUEST, "请求内容不是有效的 JSON";
    UnsupportedMediaType = "http.unsupported_media_type", UNSUPPORTED_MEDIA_TYPE,
        "请求内容须为 JSON（Content-Type: application/json）";
    PayloadTooLarge = "http.payload_too_large", PAYLOAD_TOO_LARGE, "请求内容过大";
    /// A request head over the HTTP/1 parser's buffer, answered before any route sees it.
    RequestHeadTooLarge = "http.request_head_too_large", REQUEST_HEADER_FIELDS_TOO_LARGE,
        "请求头过大";
    /// A request line or header the HTTP/1 parser cannot read (a raw 0xFF in the path, say).
    MalformedRequest = "http.malformed_request", BAD_REQUEST, "请求格式无法解析";
    /// No such route (or a malformed id in its path).
    NotFound = "http.not_found", NOT_FOUND, "没有这个接口";
    MethodNotAllowed = "http.method_not_allowed", METHOD_NOT_ALLOWED, "该接口不支持这种请求方法";
    /// Input that parsed but does not make sense (a missing field, an unknown value).
    InvalidRequest = "request.invalid", UNPROCESSABLE_ENTITY, "请求内容的字段有误";
    MissingToken = "auth.missing_token", UNAUTHORIZED, "请先登录";
    InvalidToken = "auth.invalid_token", UNAUTHORIZED, "登录信息无效，请重新登录";
    TokenExpired = "auth.token_expired", UNAUTHORIZED, "登录已过期，请重新登录";
    /// A console form without its session's anti-forgery token.
    FormExpired = "console.form_expired", FORBIDDEN,
        "表单已失效（可能来自另一个页面或已退出登录）：请返回刷新后重试";
    Forbidden = "auth.forbidden", FORBIDDEN, "没有权限进行此操作";
    BadCredentials = "auth.bad_credentials", UNAUTHORIZED, "用户名或密码错误";
    /// Too many wrong passwords for the account or from the address; `details.locked_until`.
    SignInLocked = "auth.sign_in_locked", TOO_MANY_REQUESTS,
        "密码错误次数过多，已暂时锁定，请稍后再试或联系管理员解锁";
    WechatCodeInvalid = "auth.wechat_code_invalid", UNAUTHORIZED, "微信登录已失效，请重新进入小程序";
    WechatNotConfigured = "auth.wechat_not_configured", SERVICE_UNAVAILABLE, "微信登录暂不可用";
    WechatUnavailable = "auth.wechat_unavailable", BAD_GATEWAY, "微信服务暂时不可用，请稍后重试";
    IdempotencyInvalidKey = "idempotency.invalid_key", BAD_REQUEST,
        "Idempotency-Key 须为 1 到 255 个可见 ASCII 字符";
    IdempotencyInProgress = "idempotency.in_progress", CONFLICT, "相同的请求正在处理中，请稍后重试";
    IdempotencyKeyReused = "idempotency.key_reused", UNPROCESSABLE_ENTITY,
        "Idempotency-Key 已用于另一个请求";
    CaptureNotFound = "capture.not_found", NOT_FOUND, "没有找到该采集记录";
    OrderNotFound = "order.not_found", NOT_FOUND, "没有找到该订单";
    /// A refund notification or question about a refund we never asked for.
    RefundNotFound = "refund.not_found", NOT_FOUND, "没有找到该退款";
    PhotoNotFound = "photo.not_found", NOT_FOUND, "没有找到这张照片";
    /// Standardisation is not configured on this instance.
    PhotoUnavailable = "photo.unavailable", SERVICE_UNAVAILABLE, "系统暂时无法处理照片，请稍后再试。";
    PrepayRefused = "payment.prepay_refused", BAD_GATEWAY, "微信支付暂时不可用，请稍后重试";
    PrepayUnavailable = "payment.prepay_unavailable", BAD_GATEWAY, "微信支付暂时不可用，请稍后重试";
    /// WeChat Pay did not answer about a refund; the refund worker asks again later.
    RefundUnavailable = "payment.refund_unavailable", BAD_GATEWAY, "微信支付暂时不可用，退款将稍后自动重试";
    /// `serve --dev`'s own payment was not accepted.
    SandboxRefused = "payment.sandbox_refused", BAD_GATEWAY, "模拟支付未被接受";
    StoreUnavailable = "store.unavailable", SERVICE_UNAVAILABLE, "服务暂时不可用，请稍后重试";
    Internal = "internal", INTERNAL_SERVER_ERROR, "服务出错了，请稍后重试";
}

#[derive(Debug, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Option<serde_json::Value>,
}

impl From<ApiCode> for ApiError {
    fn from(code: ApiCode) -> Self {
        Self::refusal(code.status(), code.as_str(), code.message())
    }
}

impl ApiError {
    /// One of the HTTP layer's own codes with a message for this case.
    pub fn with_message(code: ApiCode, message: impl Into<String>) -> Self {
        Self::refusal(code.status(), code.as_str(), message)
    }

    /// A refusal's stable code at the status this file gives it.
    fn refusal(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
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

    /// What the person is told.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The answer's stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// Input that parsed but does not make sense (a missing field, an unknown value).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::with_message(ApiCode::InvalidRequest, message)
    }

    /// A failure of ours: logged with its whole cause chain, answered without it.
    pub fn internal(cause: &(dyn std::error::Error + 'static)) -> Self {
        tracing::error!(error = %ErrorChain(cause), "internal error");
        ApiCode::Internal.into()
    }

    /// A failure of ours that is not an error value (a missing piece of wiring).
    pub fn bug(what: &str) -> Self {
        tracing::error!(what, "internal error");
        ApiCode::Internal.into()
    }

    /// A dependency that is down: logged with its cause chain, answered 503 with `code`.
    fn unavailable(
        code: &'static str,
        message: String,
        cause: &(dyn std::error::Error + 'static),
    ) -> Self {
        tracing::warn!(error = %ErrorChain(cause), code, "service unavailable");
        Self::refusal(StatusCode::SERVICE_UNAVAILABLE, code, message)
    }

    fn store_unavailable(cause: &(dyn std::error::Error + 'static)) -> Self {
        let code = ApiCode::StoreUnavailable;
        Self::unavailable(code.as_str(), code.message().into(), cause)
    }

    /// `serve --dev`'s own payment was not accepted: the notification's answer is in details.
    pub fn sandbox_refused(notify_status: StatusCode) -> Self {
        Self::from(ApiCode::SandboxRefused)
            .with_details(serde_json::json!({ "notify_status": notify_status.as_u16() }))
    }

    fn logged(self, cause: &(dyn std::error::Error + 'static)) -> Self {
        tracing::warn!(error = %ErrorChain(cause), code = self.code, "upstream failure");
        self
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(self.body())
    }
}

impl ApiError {
    /// The answer's body, carrying the id of the request being served.
    fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code,
            message: self.message.clone(),
            details: self.details.clone(),
            request_id: request_id::current(),
        }
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
            | UnknownPayment(_)
            | RefundNoteRequired
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
        Self::refusal(status, e.code(), e.message())
    }
}

impl From<EligibilityError> for ApiError {
    fn from(e: EligibilityError) -> Self {
        use EligibilityError::*;
        let status = match &e {
            Ledger(_) | Store(_) | NotIssuingCodes => {
                return Self::unavailable(e.code(), e.message(), &e)
            }
            SigningKey(_) => return Self::internal(&e),
            Locked { .. } => StatusCode::TOO_MANY_REQUESTS,
            ClaimedByAnother | BatchClosed { .. } | BatchInUse(_) | NoOpenBatch { .. } => {
                StatusCode::CONFLICT
            }
            UnknownSchool(_) | UnknownBatch(_) => StatusCode::NOT_FOUND,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        let error = Self::refusal(status, e.code(), e.message());
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
        Self::store_unavailable(&e)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::store_unavailable(&e)
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
                Self::refusal(status, refusal.code(), refusal.message())
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
            | StaffError::NotAStaffRole(_) => ApiCode::BadCredentials.into(),
            StaffError::Locked { until } => ApiError::from(ApiCode::SignInLocked)
                .with_details(serde_json::json!({ "locked_until": until })),
            StaffError::Store(e) => e.into(),
            StaffError::Hashing(_) => Self::internal(&e),
        }
    }
}

impl From<CaptureAccessError> for ApiError {
    fn from(e: CaptureAccessError) -> Self {
        match e {
            CaptureAccessError::NotFound => ApiCode::CaptureNotFound.into(),
            CaptureAccessError::Ledger(e) => e.into(),
            CaptureAccessError::View(e) => e.into(),
        }
    }
}

impl From<PaymentError> for ApiError {
    fn from(e: PaymentError) -> Self {
        match e {
            PaymentError::CaptureNotFound => ApiCode::CaptureNotFound.into(),
            PaymentError::UnknownOrder => ApiCode::OrderNotFound.into(),
            PaymentError::UnknownRefund => ApiCode::RefundNotFound.into(),
            PaymentError::Prepay(e) => e.into(),
            PaymentError::Refund(e) => Self::from(ApiCode::RefundUnavailable).logged(&e),
            PaymentError::PaymentRefused(refusal) => LedgerError::Refused(refusal).into(),
            PaymentError::Ledger(e) => e.into(),
            PaymentError::View(e) => e.into(),
            PaymentError::Store(e) => e.into(),
            // Notifications are answered in WeChat Pay's own shape (`notification_refused`),
            // never through here.
            PaymentError::Notification(refusal) => Self::internal(&refusal),
        }
    }
}

/// The status a WeChat Pay notification is answered with when it is not recorded: 4xx for one
/// that never will be, 5xx for one that may be later (WeChat Pay retries either for a while).
pub fn notification_status(e: &PaymentError) -> StatusCode {
    match e {
        PaymentError::Notification(NotifyError::NotConfigured) => StatusCode::SERVICE_UNAVAILABLE,
        PaymentError::Notification(
            NotifyError::Malformed(_) | NotifyError::Undecryptable | NotifyError::NotOurs,
        ) => StatusCode::BAD_REQUEST,
        PaymentError::Notification(_) => StatusCode::UNAUTHORIZED,
        PaymentError::UnknownOrder
        | PaymentError::UnknownRefund
        | PaymentError::CaptureNotFound => StatusCode::NOT_FOUND,
        PaymentError::PaymentRefused(CaptureError::UnknownOrder(_)) => StatusCode::NOT_FOUND,
        PaymentError::PaymentRefused(_) => StatusCode::CONFLICT,
        PaymentError::Prepay(_)
        | PaymentError::Refund(_)
        | PaymentError::Ledger(_)
        | PaymentError::View(_)
        | PaymentError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// A WeChat Pay notification's answer when it is not recorded: `{"code": "FAIL", …}` at
/// [`notification_status`], so WeChat Pay retries later.
pub fn notification_refused(e: &PaymentError) -> HttpResponse {
    notification_failed(notification_status(e))
}

/// `{"code": "FAIL", …}` at `status`, as WeChat Pay expects a refused notification answered.
pub fn notification_failed(status: StatusCode) -> HttpResponse {
    HttpResponse::build(status).json(serde_json::json!({"code": "FAIL", "message": "失败"}))
}

impl From<PhotoServiceError> for ApiError {
    fn from(e: PhotoServiceError) -> Self {
        match e {
            PhotoServiceError::Unavailable => ApiCode::PhotoUnavailable.into(),
            PhotoServiceError::PhotoNotFound => ApiCode::PhotoNotFound.into(),
            PhotoServiceError::Photo(e) => match e {
                PhotoError::RuntimeMissing { .. }
                | PhotoError::Model { .. }
                | PhotoError::Inference { .. }
                | PhotoError::Encode(_) => Self::unavailable(e.code(), e.message().into(), &e),
                _ => Self::refusal(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.message()),
            },
            PhotoServiceError::Capture(e) => e.into(),
            PhotoServiceError::Store(_) | PhotoServiceError::Preview(_) => Self::internal(&e),
        }
    }
}

impl From<PayError> for ApiError {
    fn from(e: PayError) -> Self {
        let code = match e {
            PayError::Refused(_) => ApiCode::PrepayRefused,
            PayError::Unavailable(_) => ApiCode::PrepayUnavailable,
        };
        Self::from(code).logged(&e)
    }
}

impl From<WechatError> for ApiError {
    fn from(e: WechatError) -> Self {
        match e {
            WechatError::CodeRejected { .. } => ApiCode::WechatCodeInvalid.into(),
            WechatError::NotConfigured => ApiCode::WechatNotConfigured.into(),
            WechatError::Unavailable(_) => Self::from(ApiCode::WechatUnavailable).logged(&e),
        }
    }
}

/// The body of the answers actix-http's HTTP/1 dispatcher gives before any route sees the
/// request (431 for a head over its buffer, 400 for one it cannot parse, 500 when the service
/// cannot be called), so they carry the same shape as every other error. Registered once per
/// process with `actix_http::h1::set_unreadable_request_body`, a hook of the vendored copy
/// (`vendor/README.md`). There is no request, so the id is new; it is logged with the status.
pub fn unreadable_request_body(status: StatusCode) -> (HeaderValue, web::Bytes) {
    let code = match status {
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => ApiCode::RequestHeadTooLarge,
        StatusCode::BAD_REQUEST => ApiCode::MalformedRequest,
        _ => ApiCode::Internal,
    };
    let body = ApiError::from(code).body();
    tracing::warn!(
        request_id = %body.request_id,
        status = status.as_u16(),
        code = body.code,
        "refused a request the HTTP parser could not read"
    );
    let json = serde_json::to_vec(&body).expect("an error body always serialises");
    (HeaderValue::from_static("application/json"), json.into())
}

/// JSON bodies: 415 for another content type, 413 over the limit, 400 for malformed JSON.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|err, _req| json_error(err).into())
}

fn json_error(err: JsonPayloadError) -> ApiError {
    match err {
        JsonPayloadError::ContentType => ApiCode::UnsupportedMediaType.into(),
        JsonPayloadError::Overflow { limit }
        | JsonPayloadError::OverflowKnownLength { limit, .. } => too_large(limit),
        JsonPayloadError::Deserialize(e) if e.is_data() => ApiError::from(ApiCode::InvalidRequest)
            .with_details(serde_json::json!({ "reason": e.to_string() })),
        JsonPayloadError::Deserialize(e) => ApiError::from(ApiCode::MalformedJson)
            .with_details(serde_json::json!({ "reason": e.to_string() })),
        other => ApiError::from(ApiCode::BadRequest)
            .with_details(serde_json::json!({ "reason": other.to_string() })),
    }
}

/// A body over `limit` bytes.
pub fn too_large(limit: usize) -> ApiError {
    ApiError::from(ApiCode::PayloadTooLarge)
        .with_details(serde_json::json!({ "limit_bytes": limit }))
}

/// A raw body that could not be read: over the limit, or cut short.
pub fn payload_error(err: actix_web::Error) -> ApiError {
    if err.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiCode::PayloadTooLarge.into()
    } else {
        ApiCode::BadRequest.into()
    }
}

/// Reads a raw body, refusing it (413) as soon as it grows past `limit`.
pub async fn read_body(mut payload: web::Payload, limit: usize) -> Result<web::Bytes, ApiError> {
    use futures::StreamExt;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| payload_error(e.into()))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Path and query extractors: a malformed id is a route that does not exist; a malformed query
/// is a 400.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err: PathError, _req| {
        ApiError::with_message(ApiCode::NotFound, "没有找到该记录")
            .with_details(serde_json::json!({ "reason": err.to_string() }))
            .into()
    })
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err: QueryPayloadError, _req| {
        ApiError::from(ApiCode::InvalidQuery)
            .with_details(serde_json::json!({ "reason": err.to_string() }))
            .into()
    })
}

pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiCode::NotFound.into())
}

/// 405 in the one error shape, with `Allow` naming the methods the path does answer.
pub async fn method_not_allowed(req: actix_web::HttpRequest) -> HttpResponse {
    let allow = super::openapi::allowed_methods(req.match_pattern().as_deref().unwrap_or_default());
    let mut response = ApiError::from(ApiCode::MethodNotAllowed).error_response();
    if let Ok(allow) = actix_web::http::header::HeaderValue::from_str(&allow) {
        response
            .headers_mut()
            .insert(actix_web::http::header::ALLOW, allow);
    }
    response
}

impl From<DeliveryError> for ApiError {
    fn from(e: DeliveryError) -> Self {
        let status = match e {
            DeliveryError::Eligibility(e) => return e.into(),
            DeliveryError::Ledger(e) => return e.into(),
            DeliveryError::View(e) => return e.into(),
            DeliveryError::Store(e) => return e.into(),
            DeliveryError::PhotoUnreadable { .. } => {
                return Self::unavailable(e.code(), e.message(), &e)
            }
            DeliveryError::PhotoAltered { .. }
            | DeliveryError::Zip(_)
            | DeliveryError::Write(_) => return Self::internal(&e),
            DeliveryError::NothingToDeliver | DeliveryError::PackageChanged(_) => {
                StatusCode::CONFLICT
            }
            DeliveryError::UnknownPackage(_) => StatusCode::NOT_FOUND,
        };
        Self::refusal(status, e.code(), e.message())
    }
}

impl From<ConsentError> for ApiError {
    fn from(e: ConsentError) -> Self {
        let status = match e {
            ConsentError::Store(_) => return Self::store_unavailable(&e),
            ConsentError::Required
            | ConsentError::Outdated { .. }
            | ConsentError::FaceImagesRequired => StatusCode::UNPROCESSABLE_ENTITY,
        };
        let refusal = Self::refusal(status, e.code(), e.message());
        match e {
            ConsentError::Outdated { .. } => refusal.with_details(serde_json::json!({
                "current_version": crate::consent::privacy().version,
            })),
            _ => refusal,
        }
    }
}

impl From<ErasureError> for ApiError {
    fn from(e: ErasureError) -> Self {
        match e {
            ErasureError::UnknownCapture(_) => ApiCode::CaptureNotFound.into(),
            ErasureError::Ledger(e) => e.into(),
            ErasureError::Store(_) | ErasureError::Projection(_) | ErasureError::Photos(_) => {
                Self::unavailable(e.code(), "删除未能完成，请稍后重试".into(), &e)
            }
        }
    }
}

impl From<PointInTimeError> for ApiError {
    fn from(e: PointInTimeError) -> Self {
        match e {
            PointInTimeError::UnknownView(ref name) => Self::refusal(
                StatusCode::NOT_FOUND,
                e.code(),
                format!("没有名为 {name:?} 的视图"),
            ),
            PointInTimeError::Store(_) | PointInTimeError::Projection(_) => {
                Self::store_unavailable(&e)
            }
        }
    }
}

impl From<PrintingError> for ApiError {
    fn from(e: PrintingError) -> Self {
        let status = match e {
            PrintingError::Photos(e) => return e.into(),
            PrintingError::Ledger(e) => return e.into(),
            PrintingError::View(e) => return e.into(),
            PrintingError::Label(_) => return Self::internal(&e),
            PrintingError::EmptyRun | PrintingError::RunTooLarge(_) | PrintingError::BadCarrier => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            PrintingError::UnknownOrder(_) => StatusCode::NOT_FOUND,
            PrintingError::Shipped(_) | PrintingError::ShippedOtherwise { .. } => {
                StatusCode::CONFLICT
            }
        };
        Self::refusal(status, e.code(), e.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_distinct_and_documented_in_the_api_reference() {
        let reference = include_str!("../../docs/api.md");
        let mut seen = std::collections::HashSet::new();
        for code in ApiCode::ALL {
            assert!(seen.insert(code.as_str()), "{} twice", code.as_str());
            assert!(
                reference.contains(&format!("`{}`", code.as_str())),
                "docs/api.md does not list {}",
                code.as_str()
            );
        }
    }

    #[test]
    fn a_code_answers_with_its_own_status_and_message() {
        let error = ApiError::from(ApiCode::IdempotencyInProgress);
        assert_eq!(error.status_code(), StatusCode::CONFLICT);
        assert_eq!(error.code(), "idempotency.in_progress");
        let error = ApiError::with_message(ApiCode::InvalidQuery, "limit 须在 1 到 500 之间");
        assert_eq!(error.status_code(), StatusCode::BAD_REQUEST);
        assert_eq!(error.message, "limit 须在 1 到 500 之间");
    }
}
