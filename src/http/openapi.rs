//! The OpenAPI 3.1 description of `/api/v1`, generated from the handlers' annotations and
//! served at `/api/v1/openapi.json`.

use std::sync::LazyLock;

use actix_web::HttpResponse;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    admin, audit, auth, captures, consent, courier, deliveries, erasure, locks, me, payments,
    photos, progress, refunds, review,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "photo-ledger",
        description = "The back office of the graduation and exam photo mini-programs. Every error \
            answers `{code, message, details?, request_id}`; every authenticated POST honours an \
            `Idempotency-Key` header.",
    ),
    paths(
        auth::wechat,
        auth::dev,
        auth::staff,
        captures::create,
        captures::list,
        captures::get,
        captures::submit,
        captures::withdraw,
        captures::place_order,
        captures::payment,
        photos::upload,
        photos::change_background,
        photos::get,
        me::history,
        consent::privacy,
        consent::give,
        payments::wechat_notify,
        payments::dev_pay,
        me::addresses,
        me::add_address,
        me::delete_address,
        review::queue,
        review::reasons,
        review::claim,
        review::release,
        review::approve,
        review::reject,
        courier::list,
        courier::sheet,
        courier::printed,
        courier::shipped,
        admin::events,
        audit::capture,
        audit::view,
        erasure::erase,
        admin::delivered,
        admin::verification_failures,
        locks::list,
        locks::lift,
        admin::schools,
        admin::batches,
        admin::add_school,
        admin::add_batch,
        admin::import_roster,
        refunds::refund,
        refunds::list,
        deliveries::prepare,
        deliveries::list,
        deliveries::download,
        deliveries::completed,
        progress::counts,
        progress::students,
    ),
    modifiers(&BearerTokens),
    tags(
        (name = "auth", description = "Signing in: WeChat for students, passwords for staff"),
        (name = "students", description = "The mini-program's routes; a student sees only their own"),
        (name = "reviewers", description = "Reviewing photos (reviewers and admins)"),
        (name = "print staff", description = "Printing and shipping paid prints (couriers and admins)"),
        (name = "admins", description = "Audit trail, delivery to 学信网, refunds, reference data"),
        (name = "payments", description = "WeChat Pay's notifications"),
    )
)]
struct ApiDoc;

struct BearerTokens;

impl Modify for BearerTokens {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
    }
}

/// The methods each documented path answers, by its pattern (`/api/v1/captures/{capture_id}`):
/// what a 405 names in `Allow`.
static METHODS: LazyLock<std::collections::HashMap<String, String>> = LazyLock::new(|| {
    let document: serde_json::Value =
        serde_json::from_str(&DOCUMENT).expect("the OpenAPI document is JSON");
    let paths = document["paths"].as_object().cloned().unwrap_or_default();
    paths
        .into_iter()
        .map(|(path, item)| {
            let methods: Vec<String> = item
                .as_object()
                .into_iter()
                .flat_map(|operations| operations.keys())
                .filter(|m| matches!(m.as_str(), "get" | "post" | "put" | "patch" | "delete"))
                .map(|m| m.to_uppercase())
                .collect();
            (path, methods.join(", "))
        })
        .collect()
});

/// The methods the route `pattern` answers, as `Allow` names them; `GET` for the routes outside
/// the document (health and metrics).
pub fn allowed_methods(pattern: &str) -> String {
    METHODS
        .get(pattern)
        .cloned()
        .unwrap_or_else(|| "GET".to_string())
}

/// The document served: the handlers' annotations, and on every operation the outage and fault
/// answers any route can give (503 when the store or a dependency such as WeChat is unavailable
/// or not configured, 500 for a fault of ours), in the one error shape.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    let mut document: serde_json::Value = serde_json::from_str(
        &ApiDoc::openapi()
            .to_json()
            .expect("the OpenAPI document serialises"),
    )
    .expect("the OpenAPI document is JSON");
    let server_errors = serde_json::json!({
        "description": "503 when the store or a dependency (WeChat, WeChat Pay, photo processing) is unavailable or not configured; 500 for a fault of ours",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    });
    if let Some(paths) = document["paths"].as_object_mut() {
        for operation in paths.values_mut().filter_map(|p| p.as_object_mut()) {
            for (_, operation) in operation.iter_mut() {
                if let Some(responses) = operation["responses"].as_object_mut() {
                    responses
                        .entry("5XX")
                        .or_insert_with(|| server_errors.clone());
                }
            }
        }
    }
    document.to_string()
});

/// `GET /api/v1/openapi.json`.
pub async fn document() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(DOCUMENT.as_str())
}
