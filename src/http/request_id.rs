//! Every request gets an id: the caller's `X-Request-Id` when it is sensible, else a new UUID.
//! It is echoed in the response header, carried by every error body and log line of the
//! request, and recorded with the events the request causes. The same middleware logs each
//! request and counts it in the metrics.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage};
use tracing::Instrument;

use crate::http::state::AppState;

pub const HEADER: &str = "x-request-id";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(pub String);

fn from_header(req: &ServiceRequest) -> Option<String> {
    req.headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=128).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
        })
        .map(str::to_string)
}

/// The id of the request being served (a fresh one outside any request).
pub fn current() -> String {
    crate::telemetry::request_id()
}

/// Assigns the request id, logs the request as one JSON-able line with its route pattern,
/// status and latency (no bodies, no query strings: they may hold personal data).
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let id = RequestId(from_header(&req).unwrap_or_else(|| uuid::Uuid::new_v4().to_string()));
    req.extensions_mut().insert(id.clone());
    let method = req.method().to_string();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let span = tracing::info_span!("request", request_id = %id.0, method = %method);
    let started = Instant::now();
    let header = HeaderValue::from_str(&id.0).expect("request ids are visible ASCII");
    // Handlers and extractors turn their errors into responses inside the scope, so error
    // bodies carry this request's id; the middlewares inside do the same.
    let mut res = crate::telemetry::REQUEST_ID
        .scope(id.0.clone(), next.call(req).instrument(span.clone()))
        .await?
        .map_into_boxed_body();
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".into());
    let seconds = started.elapsed().as_secs_f64();
    let status = res.status().as_u16();
    if let Some(state) = state {
        state
            .metrics
            .observe_request(&route, &method, status, seconds);
    }
    span.in_scope(|| {
        tracing::info!(
            route = %route,
            status,
            latency_ms = seconds * 1000.0,
            "request served"
        )
    });
    res.headers_mut()
        .insert(HeaderName::from_static(HEADER), header);
    Ok(res)
}
