//! Signing in to the console and out of it. A wrong password and an unknown username get the
//! same answer; repeated failures lock the account and the address exactly as the API's staff
//! sign-in does (the same code checks them).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::html;
use serde::Deserialize;

use super::page::{home, layout, respond, see_other, PageError};
use super::session::{self, Session};
use crate::http::auth::sign_in_staff;
use crate::http::error::ApiError;
use crate::http::extract::Staff;
use crate::http::state::AppState;

#[derive(Deserialize)]
pub struct SignInForm {
    username: String,
    password: String,
}

#[derive(Deserialize)]
pub struct CsrfForm {
    /// Missing is the same as wrong: the form was not made by this session.
    #[serde(default)]
    csrf: String,
}

fn sign_in_page(status: StatusCode, refusal: Option<&str>) -> HttpResponse {
    respond(
        status,
        layout(
            "登录",
            None,
            html! {
                h1 { "工作人员登录" }
                @if let Some(refusal) = refusal {
                    p.refusal role="alert" { (refusal) }
                }
                form.card method="post" action="/console/sign-in" {
                    label { "用户名" input type="text" name="username" autocomplete="username" required autofocus; }
                    label { "密码" input type="password" name="password" autocomplete="current-password" required; }
                    button.primary type="submit" { "登录" }
                }
            },
        ),
    )
}

/// `GET /console/sign-in`
pub async fn form() -> HttpResponse {
    sign_in_page(StatusCode::OK, None)
}

/// `POST /console/sign-in`: on success the session cookie, and the page the role starts at.
pub async fn sign_in(
    state: web::Data<AppState>,
    request: HttpRequest,
    form: web::Form<SignInForm>,
) -> Result<HttpResponse, PageError> {
    let SignInForm { username, password } = form.into_inner();
    match sign_in_staff(&state, &request, username, password).await {
        Ok(issued) => {
            let mut answer = see_other(home(issued.role));
            answer
                .add_cookie(&session::start(&request, &issued))
                .map_err(|e| ApiError::bug(&format!("session cookie: {e}")))?;
            Ok(answer)
        }
        Err(refused) => Ok(refusal(refused)),
    }
}

/// A refused sign-in as the form again, with the API's message: an unknown user and a wrong
/// password are the same `auth.bad_credentials`.
fn refusal(refused: ApiError) -> HttpResponse {
    let status = actix_web::ResponseError::status_code(&refused);
    if status.is_server_error() {
        return actix_web::ResponseError::error_response(&PageError::Api(refused));
    }
    sign_in_page(status, Some(refused.message()))
}

/// `POST /console/sign-out`
pub async fn sign_out(
    state: web::Data<AppState>,
    request: HttpRequest,
    session: Session<Staff>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    session.check(&state, &form.csrf)?;
    let mut answer = see_other("/console/sign-in");
    answer
        .add_cookie(&session::end(&request))
        .map_err(|e| ApiError::bug(&format!("session cookie: {e}")))?;
    Ok(answer)
}
