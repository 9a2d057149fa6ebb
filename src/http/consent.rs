//! The privacy policy students read, and their consent to it (`crate::consent`).

use actix_web::{web, HttpResponse};
use chrono::Utc;
use photo_ledger_domain::consent::ConsentChannel;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ErrorBody};
use super::extract::{Auth, Students};
use crate::consent::{self, Given};
use crate::http::state::AppState;

#[derive(Serialize, utoipa::ToSchema)]
struct PolicyText {
    policy: &'static str,
    version: &'static str,
    /// SHA-256 of `text`, hex: sent back with the consent.
    sha256: String,
    /// Markdown.
    text: &'static str,
}

#[utoipa::path(get, path = "/api/v1/policies/privacy", tag = "students",
    responses((status = 200, body = PolicyText)))]
/// `GET /policies/privacy`: the current privacy policy, for the first screen.
pub async fn privacy() -> HttpResponse {
    let policy = consent::privacy();
    HttpResponse::Ok().json(PolicyText {
        policy: policy.name,
        version: policy.version,
        sha256: policy.sha256(),
        text: policy.text,
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentBody {
    /// The version read (`GET /policies/privacy`).
    version: String,
    /// The SHA-256 of the text read.
    sha256: String,
    /// The separate tick for processing face images; must be true.
    face_images: bool,
}

#[utoipa::path(post, path = "/api/v1/me/consent", tag = "students", request_body = ConsentBody, security(("bearer" = [])),
    responses((status = 200, description = "`{consent: {policy, version, sha256, face_images, given_at, channel}}`: the consent on record (the first given)", body = Object), (status = "4XX", body = ErrorBody), (status = 503, body = ErrorBody)))]
/// `POST /me/consent`: the student consents to the current privacy policy, before verifying.
pub async fn give(
    state: web::Data<AppState>,
    caller: Auth<Students>,
    body: web::Json<ConsentBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let consent = consent::give(
        state.ledger.db(),
        &caller.subject,
        Given {
            version: body.version,
            sha256: body.sha256,
            face_images: body.face_images,
            channel: ConsentChannel::MiniProgram,
            at: Utc::now(),
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "consent": consent })))
}
