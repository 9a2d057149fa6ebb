//! The one JSON error shape every route answers with: `{code, message, details?, request_id}`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct ErrorBody {
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
    pub request_id: String,
}

pub fn request_id(req: &HttpRequest) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

pub fn error_response(
    req: &HttpRequest,
    status: StatusCode,
    code: &'static str,
    message: impl Into<String>,
) -> HttpResponse {
    HttpResponse::build(status).json(ErrorBody {
        code,
        message: message.into(),
        details: None,
        request_id: request_id(req),
    })
}

pub async fn not_found(req: HttpRequest) -> HttpResponse {
    error_response(
        &req,
        StatusCode::NOT_FOUND,
        "http.not_found",
        "没有这个接口",
    )
}
