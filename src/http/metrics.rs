//! `GET /metrics`: the Prometheus text format, with the projections' lag measured when scraped.

use actix_web::{web, HttpResponse};

use super::error::ApiError;
use super::state::AppState;

pub async fn scrape(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let lag = match state.ledger.projector().lag().await {
        Ok(lag) => Some(lag),
        Err(error) => {
            tracing::warn!(
                error = %crate::telemetry::ErrorChain(&error),
                "cannot measure projection lag"
            );
            None
        }
    };
    let (content_type, text) = state
        .metrics
        .render(lag)
        .map_err(|e| ApiError::internal(&e))?;
    Ok(HttpResponse::Ok().content_type(content_type).body(text))
}
