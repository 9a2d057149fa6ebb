//! The OpenAPI 3.1 description of `/api/v1`, generated from the handlers' annotations and
//! served at `/api/v1/openapi.json`.

use std::sync::LazyLock;

use actix_web::HttpResponse;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{admin, auth, captures, courier, me, payments, photos, refunds, review};

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
        payments::wechat_notify,
        payments::dev_pay,
        me::addresses,
        me::add_address,
        me::delete_address,
        review::queue,
        review::reasons,
        review::claim,
        review::approve,
        review::reject,
        courier::list,
        courier::sheet,
        courier::printed,
        courier::shipped,
        admin::events,
        admin::delivered,
        admin::verification_failures,
        admin::schools,
        admin::batches,
        admin::add_school,
        admin::add_batch,
        admin::import_roster,
        refunds::refund,
        refunds::list,
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

static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_json()
        .expect("the OpenAPI document serialises")
});

/// `GET /api/v1/openapi.json`.
pub async fn document() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(DOCUMENT.as_str())
}
