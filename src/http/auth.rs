//! Signing in: students through WeChat (`wx.login` code → openid), staff with a username and
//! password, and in development any openid at all.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{Duration, Utc};
use serde::Deserialize;

use super::error::{ApiError, ErrorBody};
use super::token::{IssuedToken, Role};
use crate::accounts::staff;
use crate::http::state::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WechatLogin {
    /// The code `wx.login` gave the mini-program.
    code: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DevLogin {
    openid: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffLogin {
    username: String,
    password: String,
}

fn student_token(state: &AppState, openid: &str) -> HttpResponse {
    let ttl = Duration::seconds(state.api.auth.student_token_ttl_secs as i64);
    HttpResponse::Ok().json(state.tokens.issue(openid, Role::Student, ttl, Utc::now()))
}

/// Longest code or openid accepted; WeChat's are 28 to 64 characters.
const MAX_WECHAT_ID: usize = 128;

fn require_text(value: &str, what: &str) -> Result<(), ApiError> {
    if value.trim().is_empty() || value.len() > MAX_WECHAT_ID {
        return Err(ApiError::invalid(format!("{what}无效")));
    }
    Ok(())
}

/// `POST /auth/wechat {code}` → `{token, expires_at, role}`.
#[utoipa::path(post, path = "/api/v1/auth/wechat", tag = "auth", request_body = WechatLogin,
    responses((status = 200, body = IssuedToken), (status = "4XX", body = ErrorBody), (status = 502, body = ErrorBody)))]
pub async fn wechat(
    state: web::Data<AppState>,
    body: web::Json<WechatLogin>,
) -> Result<HttpResponse, ApiError> {
    require_text(&body.code, "登录凭证")?;
    let openid = state.wechat.openid_for(&body.code).await?;
    Ok(student_token(&state, &openid))
}

/// `POST /auth/dev {openid}`: registered only with `serve --dev`.
#[utoipa::path(post, path = "/api/v1/auth/dev", tag = "auth", request_body = DevLogin,
    responses((status = 200, body = IssuedToken), (status = "4XX", body = ErrorBody)))]
pub async fn dev(
    state: web::Data<AppState>,
    body: web::Json<DevLogin>,
) -> Result<HttpResponse, ApiError> {
    require_text(&body.openid, "openid")?;
    Ok(student_token(&state, body.openid.trim()))
}

/// `POST /auth/staff {username, password}` → `{token, expires_at, role}`.
#[utoipa::path(post, path = "/api/v1/auth/staff", tag = "auth", request_body = StaffLogin,
    responses((status = 200, body = IssuedToken), (status = "4XX", body = ErrorBody)))]
pub async fn staff(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Json<StaffLogin>,
) -> Result<HttpResponse, ApiError> {
    let StaffLogin { username, password } = body.into_inner();
    let issued = sign_in_staff(&state, &request, username, password).await?;
    Ok(HttpResponse::Ok().json(issued))
}

/// Checks a staff member's username and password, within the sign-in limits, and issues their
/// token: for the API and the console alike.
pub async fn sign_in_staff(
    state: &AppState,
    request: &HttpRequest,
    username: String,
    password: String,
) -> Result<IssuedToken, ApiError> {
    let auth = &state.api.auth;
    let address = if auth.trust_forwarded_for {
        request
            .connection_info()
            .realip_remote_addr()
            .map(str::to_string)
    } else {
        request.peer_addr().map(|peer| peer.ip().to_string())
    };
    let sign_in = staff::SignIn {
        username,
        password,
        address: address.unwrap_or_else(|| "unknown".into()),
        at: Utc::now(),
    };
    let account = staff::authenticate(state.ledger.db(), &auth.staff_sign_in, sign_in).await?;
    let ttl = Duration::seconds(state.api.auth.staff_token_ttl_secs as i64);
    let issued = state
        .tokens
        .issue(&account.username, account.role, ttl, Utc::now());
    tracing::info!(role = account.role.as_str(), "staff signed in");
    Ok(issued)
}
