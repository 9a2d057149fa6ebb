//! HTTP routes. Handlers are thin: parse, check the caller, call the ledger, the eligibility
//! rules or a projection, map the result. The API lives under `/api/v1`, one file per route
//! group; [`error`] holds the one error shape, [`extract`] the typed caller, [`idempotency`]
//! the stored first responses.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod captures;
pub mod consent;
pub mod console;
pub mod control_chars;
pub mod erasure;

pub mod courier;
pub mod deliveries;
pub mod download;
pub mod error;
pub mod extract;
pub mod health;
pub mod home;
pub mod idempotency;
pub mod locks;
pub mod me;
pub mod metrics;
pub mod openapi;
pub mod payments;
pub mod photos;
pub mod progress;
pub mod refunds;
pub mod request_id;
pub mod review;
pub mod state;
pub mod token;

use actix_web::middleware::from_fn;
use actix_web::{web, Resource};

/// What the routes need from the settings.
#[derive(Clone, Copy, Debug)]
pub struct RouteOptions {
    /// Adds the development routes (`POST /auth/dev`).
    pub dev: bool,
    pub json_limit: usize,
    pub verify_limit: usize,
    pub roster_limit: usize,
    pub upload_limit: usize,
}

/// A path whose other methods answer 405 in the one error shape.
fn resource(path: &str) -> Resource {
    web::resource(path).default_service(web::to(error::method_not_allowed))
}

pub fn routes(options: RouteOptions) -> impl Fn(&mut web::ServiceConfig) + Clone {
    move |cfg| {
        let mut auth_scope = web::scope("/auth")
            .service(resource("/wechat").route(web::post().to(auth::wechat)))
            .service(resource("/staff").route(web::post().to(auth::staff)));
        if options.dev {
            auth_scope = auth_scope.service(resource("/dev").route(web::post().to(auth::dev)));
        }
        cfg.app_data(error::json_config(options.json_limit))
            .app_data(error::path_config())
            .app_data(error::query_config())
            // The largest body any route takes, read whole by the idempotency middleware.
            .app_data(web::PayloadConfig::new(
                options
                    .verify_limit
                    .max(options.roster_limit)
                    .max(options.upload_limit),
            ))
            .service(resource("/").route(web::get().to(home::home)))
            .configure(console::routes)
            .service(resource("/healthz").route(web::get().to(health::healthz)))
            .service(resource("/readyz").route(web::get().to(health::readyz)))
            .service(resource("/metrics").route(web::get().to(metrics::scrape)))
            .service({
                let mut api = web::scope("/api/v1")
                    .wrap(from_fn(idempotency::middleware))
                    // Outermost: nothing with a control character reaches a key or a handler.
                    .wrap(from_fn(control_chars::middleware))
                    .service(auth_scope)
                    .service(
                        resource("/captures")
                            .app_data(error::json_config(options.verify_limit))
                            .route(web::post().to(captures::create))
                            .route(web::get().to(captures::list)),
                    )
                    .configure(api_v1);
                if options.dev {
                    api = api.service(
                        resource("/dev/orders/{order_id}/pay")
                            .route(web::post().to(payments::dev_pay)),
                    );
                }
                api
            })
            .default_service(web::to(error::not_found));
    }
}

/// Every `/api/v1` route but sign-in and `POST /captures`, which need the options.
fn api_v1(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/openapi.json").route(web::get().to(openapi::document)))
        .service(resource("/captures/{capture_id}").route(web::get().to(captures::get)))
        .service(resource("/captures/{capture_id}/submit").route(web::post().to(captures::submit)))
        .service(
            resource("/captures/{capture_id}/withdraw").route(web::post().to(captures::withdraw)),
        )
        .service(
            resource("/captures/{capture_id}/orders").route(web::post().to(captures::place_order)),
        )
        .service(resource("/captures/{capture_id}/photos").route(web::post().to(photos::upload)))
        .service(
            resource("/captures/{capture_id}/photos/{photo_id}/background")
                .route(web::post().to(photos::change_background)),
        )
        .service(
            resource("/captures/{capture_id}/orders/{order_id}/payment")
                .route(web::post().to(captures::payment)),
        )
        .service(resource("/photos/{photo_id}").route(web::get().to(photos::get)))
        .service(resource("/me/history").route(web::get().to(me::history)))
        .service(resource("/me/consent").route(web::post().to(consent::give)))
        .service(resource("/policies/privacy").route(web::get().to(consent::privacy)))
        .service(resource("/payments/wechat/notify").route(web::post().to(payments::wechat_notify)))
        .service(
            resource("/me/addresses")
                .route(web::get().to(me::addresses))
                .route(web::post().to(me::add_address)),
        )
        .service(resource("/me/addresses/{address_id}").route(web::delete().to(me::delete_address)))
        .service(resource("/review/queue").route(web::get().to(review::queue)))
        .service(resource("/review/reasons").route(web::get().to(review::reasons)))
        .service(
            resource("/review/captures/{capture_id}/claim").route(web::post().to(review::claim)),
        )
        .service(
            resource("/review/captures/{capture_id}/release")
                .route(web::post().to(review::release)),
        )
        .service(
            resource("/review/captures/{capture_id}/approve")
                .route(web::post().to(review::approve)),
        )
        .service(
            resource("/review/captures/{capture_id}/reject").route(web::post().to(review::reject)),
        )
        .service(resource("/courier/orders").route(web::get().to(courier::list)))
        .service(resource("/courier/orders/{order_id}/sheet").route(web::get().to(courier::sheet)))
        .service(
            resource("/courier/orders/{order_id}/printed").route(web::post().to(courier::printed)),
        )
        .service(
            resource("/courier/orders/{order_id}/shipped").route(web::post().to(courier::shipped)),
        )
        .service(
            resource("/admin/captures/{capture_id}/events").route(web::get().to(admin::events)),
        )
        .service(
            resource("/admin/audit/captures/{capture_id}").route(web::get().to(audit::capture)),
        )
        .service(resource("/admin/audit/views/{view}").route(web::get().to(audit::view)))
        .service(
            resource("/admin/captures/{capture_id}/erasure").route(web::post().to(erasure::erase)),
        )
        .service(
            resource("/admin/captures/{capture_id}/delivered")
                .route(web::post().to(admin::delivered)),
        )
        .service(
            resource("/admin/verification-failures")
                .route(web::get().to(admin::verification_failures)),
        )
        .service(
            resource("/admin/schools")
                .route(web::get().to(admin::schools))
                .route(web::post().to(admin::add_school)),
        )
        .service(
            resource("/admin/batches")
                .route(web::get().to(admin::batches))
                .route(web::post().to(admin::add_batch)),
        )
        .service(resource("/admin/rosters").route(web::post().to(admin::import_roster)))
        .service(
            resource("/admin/captures/{capture_id}/refunds").route(web::post().to(refunds::refund)),
        )
        .service(resource("/admin/refunds").route(web::get().to(refunds::list)))
        .service(resource("/admin/locks").route(web::get().to(locks::list)))
        .service(resource("/admin/locks/lift").route(web::post().to(locks::lift)))
        .service(
            resource("/admin/deliveries")
                .route(web::get().to(deliveries::list))
                .route(web::post().to(deliveries::prepare)),
        )
        .service(
            resource("/admin/deliveries/{package_id}/download")
                .route(web::post().to(deliveries::download)),
        )
        .service(
            resource("/admin/deliveries/{package_id}/completed")
                .route(web::post().to(deliveries::completed)),
        )
        .service(resource("/admin/progress").route(web::get().to(progress::counts)))
        .service(resource("/admin/progress/students").route(web::get().to(progress::students)));
}
