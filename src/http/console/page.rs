//! The console's pages: one layout, the stylesheet and the one script compiled into the binary, a
//! strict Content-Security-Policy (nothing inline, nothing from elsewhere), and refusals answered
//! as pages.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use maud::{html, Markup, DOCTYPE};

use crate::http::error::{ApiCode, ApiError};
use crate::http::extract::Caller;
use photo_ledger_domain::metadata::Role;

pub const STYLESHEET: &str = include_str!("console.css");
/// The review screen's keys; every action also works without it.
pub const SCRIPT: &str = include_str!("console.js");

/// Only this origin's images, stylesheet, script, requests and form targets; nothing inline.
const POLICY: &str = "default-src 'none'; img-src 'self'; style-src 'self'; script-src 'self'; \
                      connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A page of the console: `who` is the signed-in staff member and their session's
/// anti-forgery token, for the sign-out form.
pub fn layout(title: &str, who: Option<(&Caller, &str)>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · photo-ledger 工作台" }
                link rel="stylesheet" href="/console/console.css";
                script src="/console/console.js" defer {}
            }
            body {
                header {
                    a.brand href=(who.map_or("/console/review", |(caller, _)| home(caller.role))) { "photo-ledger 工作台" }
                    @if let Some((caller, csrf)) = who {
                        nav {
                            @if matches!(caller.role, Role::Reviewer | Role::Admin) {
                                a href="/console/review" { "审核" } " " a href="/console/queue" { "队列" }
                            }
                            @if matches!(caller.role, Role::Courier | Role::Admin) {
                                " " a href="/console/print" { "打印" }
                                " " a href="/console/ship" { "发货" }
                                " " a href="/console/shipped" { "已发货" }
                            }
                            @if caller.role == Role::Admin {
                                " " a href="/console/schools" { "学校" }
                                " " a href="/console/progress" { "进度" }
                                " " a href="/console/deliveries" { "交付" }
                                " " a href="/console/admin" { "管理" }
                            }
                        }
                        span.who { (caller.subject) " · " (caller.role.as_str()) }
                        form.inline method="post" action="/console/sign-out" {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" { "退出" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// Where a staff member starts: print staff at the orders to print, everyone else at review.
pub fn home(role: Role) -> &'static str {
    match role {
        Role::Courier => "/console/print",
        _ => "/console/review",
    }
}

/// A page as the answer, with the console's headers.
pub fn respond(status: StatusCode, page: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("content-security-policy", POLICY))
        .insert_header(("x-content-type-options", "nosniff"))
        .insert_header(("cache-control", "no-store"))
        .body(page.into_string())
}

/// A redirect after a form, so a reload never posts it again.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("location", location))
        .insert_header(("cache-control", "no-store"))
        .finish()
}

/// Why a console page cannot be shown: no session (sign in first), or what the API would refuse,
/// shown as a page with its code and status (the one mapping in `http::error`).
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// No session, or an expired or forged one.
    #[error("not signed in")]
    SignIn,
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl From<ApiCode> for PageError {
    fn from(code: ApiCode) -> Self {
        PageError::Api(code.into())
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::SignIn => StatusCode::SEE_OTHER,
            PageError::Api(e) => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        let PageError::Api(refusal) = self else {
            return see_other("/console/sign-in");
        };
        let page = layout(
            "无法完成",
            None,
            html! {
                h1 { "无法完成" }
                p.refusal { (refusal.message()) }
                p.code { "代码：" code { (refusal.code()) } }
                p { a href="/console/review" { "返回审核" } }
            },
        );
        respond(self.status_code(), page)
    }
}

macro_rules! page_errors_from {
    ($($error:ty),*) => {$(
        impl From<$error> for PageError {
            fn from(e: $error) -> Self {
                PageError::Api(e.into())
            }
        }
    )*};
}

page_errors_from!(
    sqlx::Error,
    crate::eligibility::EligibilityError,
    crate::captures::CaptureAccessError,
    crate::photos::PhotoServiceError,
    photo_ledger_projections::ProjectionError,
    crate::accounts::staff::StaffError,
    crate::delivery::DeliveryError,
    crate::printing::PrintingError
);
