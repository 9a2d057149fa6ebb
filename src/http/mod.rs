//! HTTP routes. Handlers are thin: parse, call the ledger or a projection, map the result.

pub mod error;
pub mod health;

use actix_web::web;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .default_service(web::to(error::not_found));
}
