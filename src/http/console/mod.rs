//! The staff console in the browser, served by the same binary under `/console/`: server-rendered
//! pages ([`maud`]), one stylesheet and one small script (the review screen's keys) compiled in,
//! nothing from the network; every action also works without the script.
//!
//! - [`session`]: the session cookie and the anti-forgery token of every form.
//! - [`sign_in`]: signing in (the API's staff sign-in and its limits) and out.
//! - [`review`]: the reviewers' screen: the next capture, its photo against the 学信网 windows,
//!   the checks, same-photo warnings; approve, reject, or skip (the claim let go).
//! - [`queue`]: the queue at a glance: per school and batch, the oldest wait against the review
//!   SLA, who holds what.
//! - [`admin`]: admins' page: the guessing locks (lifted early with a reason) and the
//!   failed-verification log.
//! - [`deliveries`]: admins' 学信网 delivery: a package per batch, its ZIP, who downloaded it.
//! - [`schools`]: admins' schools and batches (made, policy edited before the first student,
//!   closed) and roster uploads with every bad row by line.
//! - [`progress`]: admins' collection progress per batch or school, the students behind each
//!   count, and their Excel workbook or CSV.
//! - [`printing`]: print staff's pages: orders to print picked into a run (its PDF of sheets and
//!   packing list, its labels, marked printed at once), shipping by hand or by a carrier's CSV,
//!   shipped orders found again.
//! - [`page`]: the layout, the headers every page carries, refusals as pages.
//!
//! Roles are those of the API: reviewers and admins review, print staff and admins print and
//! ship (`/console/print`, `/console/ship`, `/console/shipped`), only admins open
//! `/console/admin`, `/console/schools`, `/console/deliveries` and `/console/progress`; a
//! student's token never opens a page.

mod admin;
mod deliveries;
mod page;
mod printing;
mod progress;
mod queue;
mod review;
mod schools;
mod session;
mod sign_in;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Next};
use actix_web::web::{self, resource};
use actix_web::{Error, HttpResponse};

use crate::http::control_chars;
use crate::http::error::{ApiCode, ApiError};
use page::PageError;

/// Largest form the console takes (a rejection note is at most 500 characters), and the most of
/// any other body it reads whole (a print run's order ids); its uploads are multipart, read up
/// to their own caps.
const FORM_LIMIT: usize = 16 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/console")
            .wrap(from_fn(refuse_control_chars))
            // What the control-character check and a print run read whole: a form's size, not
            // the largest upload's that the rest of the service allows.
            .app_data(web::PayloadConfig::new(FORM_LIMIT))
            .app_data(
                web::FormConfig::default()
                    .limit(FORM_LIMIT)
                    .error_handler(|error, _| {
                        PageError::Api(ApiError::invalid(format!("表单无法读取：{error}"))).into()
                    }),
            )
            // As the API answers them: an id that is not one names nothing.
            .app_data(
                web::QueryConfig::default()
                    .error_handler(|_, _| PageError::Api(ApiCode::InvalidQuery.into()).into()),
            )
            .app_data(web::PathConfig::default().error_handler(|_, _| {
                PageError::Api(ApiError::with_message(ApiCode::NotFound, "没有找到该记录")).into()
            }))
            .service(resource("").route(web::get().to(to_review)))
            .service(resource("/").route(web::get().to(to_review)))
            .service(resource("/console.css").route(web::get().to(stylesheet)))
            .service(resource("/console.js").route(web::get().to(script)))
            .service(
                resource("/sign-in")
                    .route(web::get().to(sign_in::form))
                    .route(web::post().to(sign_in::sign_in)),
            )
            .service(resource("/sign-out").route(web::post().to(sign_in::sign_out)))
            .service(resource("/queue").route(web::get().to(queue::queue)))
            .service(resource("/review").route(web::get().to(review::start)))
            .service(resource("/review/next").route(web::post().to(review::next)))
            .service(resource("/review/{capture_id}").route(web::get().to(review::screen)))
            .service(
                resource("/review/{capture_id}/approve").route(web::post().to(review::approve)),
            )
            .service(resource("/review/{capture_id}/reject").route(web::post().to(review::reject)))
            .service(resource("/review/{capture_id}/skip").route(web::post().to(review::skip)))
            .service(resource("/review/{capture_id}/claim").route(web::post().to(review::renew)))
            .service(resource("/photos/{photo_id}").route(web::get().to(review::photo)))
            .service(resource("/admin").route(web::get().to(admin::page)))
            .service(resource("/admin/locks/lift").route(web::post().to(admin::lift)))
            .service(
                resource("/deliveries")
                    .route(web::get().to(deliveries::page))
                    .route(web::post().to(deliveries::prepare)),
            )
            .service(
                resource("/deliveries/{package_id}/download")
                    .route(web::post().to(deliveries::download)),
            )
            .service(
                resource("/deliveries/{package_id}/completed")
                    .route(web::post().to(deliveries::completed)),
            )
            .service(resource("/progress").route(web::get().to(progress::page)))
            .service(resource("/progress/students").route(web::get().to(progress::students)))
            .service(resource("/print").route(web::get().to(printing::to_print)))
            .service(resource("/print/run").route(web::post().to(printing::run)))
            .service(resource("/print/run/sheets").route(web::post().to(printing::sheets)))
            .service(resource("/print/run/labels").route(web::post().to(printing::run_labels)))
            .service(resource("/print/run/printed").route(web::post().to(printing::printed)))
            .service(resource("/ship").route(web::get().to(printing::to_ship)))
            .service(resource("/ship/file").route(web::post().to(printing::ship_file)))
            .service(resource("/ship/{order_id}").route(web::post().to(printing::ship)))
            .service(resource("/ship/{order_id}/label").route(web::get().to(printing::label)))
            .service(resource("/shipped").route(web::get().to(printing::shipped)))
            .service(
                resource("/schools")
                    .route(web::get().to(schools::list))
                    .route(web::post().to(schools::add_school)),
            )
            .service(
                resource("/schools/{school_id}/roster")
                    .route(web::get().to(schools::roster_form))
                    .route(web::post().to(schools::upload_roster)),
            )
            .service(resource("/schools/{school_id}/codes").route(web::post().to(schools::codes)))
            .service(resource("/batches").route(web::post().to(schools::add_batch)))
            .service(
                resource("/batches/{batch_id}")
                    .route(web::get().to(schools::edit_form))
                    .route(web::post().to(schools::edit)),
            )
            .service(resource("/batches/{batch_id}/close").route(web::post().to(schools::close))),
    );
}

/// `GET /console/`: the review page (which sends whoever is not signed in to sign in).
async fn to_review() -> HttpResponse {
    page::see_other("/console/review")
}

/// `GET /console/console.css`
async fn stylesheet() -> HttpResponse {
    asset("text/css; charset=utf-8", page::STYLESHEET)
}

/// `GET /console/console.js`
async fn script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", page::SCRIPT)
}

fn asset(content_type: &str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("cache-control", "public, max-age=3600"))
        .insert_header(("x-content-type-options", "nosniff"))
        .body(body)
}

/// A form field or query string with a control character is refused before any handler, as the
/// API refuses it, and answered as a page.
async fn refuse_control_chars(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    control_chars::refuse(req, next, |refusal| PageError::Api(refusal).into()).await
}
