//! `/`: a small page for whoever opens the service in a browser, linking what there is to see.
//! The page is compiled into the binary and needs nothing from the network; its one inline
//! style is allowed by its hash and nothing else is (Content-Security-Policy).

use std::sync::LazyLock;

use actix_web::HttpResponse;
use sha2::{Digest, Sha256};

const PAGE: &str = include_str!("pages/home.html");

/// The page with the version filled in, and its Content-Security-Policy.
static HOME: LazyLock<(String, String)> = LazyLock::new(|| {
    let page = PAGE.replace("{version}", env!("CARGO_PKG_VERSION"));
    let style = page
        .split_once("<style>")
        .and_then(|(_, rest)| rest.split_once("</style>"))
        .map_or("", |(style, _)| style);
    let hash = data_encoding::BASE64.encode(&Sha256::digest(style));
    let policy = format!(
        "default-src 'none'; style-src 'sha256-{hash}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    );
    (page, policy)
});

/// `GET /`
pub async fn home() -> HttpResponse {
    let (page, policy) = &*HOME;
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("content-security-policy", policy.as_str()))
        .insert_header(("x-content-type-options", "nosniff"))
        .body(page.clone())
}
