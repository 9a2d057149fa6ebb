use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::http::state::AppState;

/// Liveness: the process answers.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Readiness: the database answers and the projections are not far behind; says whether the
/// photo models are loaded.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    const MAX_LAG_EVENTS: i64 = 10_000;
    let db = state.ledger.db();
    if let Err(err) = db.ping().await {
        tracing::warn!(error = %crate::telemetry::ErrorChain(&err), "database not reachable");
        return HttpResponse::ServiceUnavailable()
            .json(json!({"status": "unavailable", "database": "unreachable"}));
    }
    match state.ledger.projector().lag().await {
        Ok(lag) if lag <= MAX_LAG_EVENTS => HttpResponse::Ok().json(json!({
            "status": "ready",
            "database": db.backend_name(),
            "projection_lag_events": lag,
            // The models load at start; without ONNX Runtime configured uploads answer 503.
            "photos": if state.photos.can_standardise() { "models_loaded" } else { "not_configured" },
        })),
        Ok(lag) => HttpResponse::ServiceUnavailable()
            .json(json!({"status": "lagging", "projection_lag_events": lag})),
        Err(err) => {
            tracing::warn!(error = %crate::telemetry::ErrorChain(&err), "cannot measure projection lag");
            HttpResponse::ServiceUnavailable().json(json!({"status": "unavailable"}))
        }
    }
}
