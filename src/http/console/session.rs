//! Who is using the console: a staff member's session, carried by a cookie, and the
//! anti-forgery token every form posts back.
//!
//! The cookie holds a staff token like the API's bearer tokens (same signature, role and
//! expiry), `HttpOnly` (no script reads it), `SameSite=Strict` (no other site's page sends it),
//! `Path=/console`, and `Secure` when the request came over TLS. Every state-changing form also
//! carries a token derived from the session's with the token secret ([`TokenKeys::csrf_for`]),
//! checked before anything is done, so a forged form fails even where `SameSite` is not honoured.

use std::future::{ready, Ready};
use std::marker::PhantomData;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use chrono::Utc;

use super::page::PageError;
use crate::http::error::ApiCode;
use crate::http::extract::{Caller, RoleSet};
use crate::http::state::AppState;
use crate::http::token::IssuedToken;

pub const COOKIE: &str = "photo_ledger_console";
const PATH: &str = "/console";

/// A signed-in staff member whose role is in `R`.
pub struct Session<R: RoleSet> {
    pub caller: Caller,
    /// The anti-forgery token this session's forms carry.
    pub csrf: String,
    token: String,
    roles: PhantomData<R>,
}

impl<R: RoleSet> Session<R> {
    /// Refuses a form whose anti-forgery token is not this session's.
    pub fn check(&self, state: &AppState, offered: &str) -> Result<(), PageError> {
        if state.tokens.csrf_matches(&self.token, offered) {
            Ok(())
        } else {
            Err(ApiCode::FormExpired.into())
        }
    }
}

impl<R: RoleSet> FromRequest for Session<R> {
    type Error = PageError;
    type Future = Ready<Result<Self, PageError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(session_of(req))
    }
}

fn session_of<R: RoleSet>(req: &HttpRequest) -> Result<Session<R>, PageError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or(PageError::SignIn)?;
    let token = req
        .cookie(COOKIE)
        .ok_or(PageError::SignIn)?
        .value()
        .to_string();
    let claims = state
        .tokens
        .verify(&token, Utc::now())
        .map_err(|_| PageError::SignIn)?;
    if !R::ROLES.contains(&claims.role) {
        return Err(ApiCode::Forbidden.into());
    }
    Ok(Session {
        caller: Caller {
            subject: claims.sub,
            role: claims.role,
        },
        csrf: state.tokens.csrf_for(&token),
        token,
        roles: PhantomData,
    })
}

/// The cookie that starts a session with `issued`.
pub fn start(req: &HttpRequest, issued: &IssuedToken) -> Cookie<'static> {
    let mut cookie = cookie(req, issued.token.clone());
    let max_age = (issued.expires_at - Utc::now()).num_seconds().max(0);
    cookie.set_max_age(actix_web::cookie::time::Duration::seconds(max_age));
    cookie
}

/// The cookie that ends the session.
pub fn end(req: &HttpRequest) -> Cookie<'static> {
    let mut cookie = cookie(req, String::new());
    cookie.make_removal();
    cookie
}

/// The session cookie holding `value`, with the attributes every one carries.
fn cookie(req: &HttpRequest, value: String) -> Cookie<'static> {
    Cookie::build(COOKIE, value)
        .path(PATH)
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(req.connection_info().scheme() == "https")
        .finish()
}
