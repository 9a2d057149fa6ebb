//! The staff console as a browser without script uses it: cookies sent by hand, redirects
//! looked at, not followed.

use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;

use super::{TestApp, STAFF_PASSWORD};

/// A browser: cookies are sent by hand, redirects are looked at, not followed.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs in through the form (landing on the page the role starts at); the session cookie as
/// a `Cookie` header.
pub async fn sign_in(app: &TestApp, username: &str) -> String {
    let signed_in = browser()
        .post(app.url("/console/sign-in"))
        .form(&[("username", username), ("password", STAFF_PASSWORD)])
        .send()
        .await
        .unwrap();
    let header = |name| signed_in.headers()[name].to_str().unwrap().to_string();
    assert_eq!(signed_in.status(), 303);
    let home = if username == "courier" {
        "/console/print"
    } else {
        "/console/review"
    };
    assert_eq!(header(LOCATION), home);
    header(SET_COOKIE).split(';').next().unwrap().to_string()
}

/// The anti-forgery token in a page's forms.
pub fn csrf_of(html: &str) -> String {
    let start = html
        .find(r#"name="csrf" value=""#)
        .expect("a form with a token")
        + 19;
    html[start..start + html[start..].find('"').unwrap()].to_string()
}

/// A console page (or file) as the browser got it.
pub struct Page {
    pub status: StatusCode,
    pub location: String,
    pub set_cookie: String,
    pub content_type: String,
    /// The body as text (lossily, for a file).
    pub body: String,
    pub bytes: Vec<u8>,
}

pub async fn page(response: reqwest::Response) -> Page {
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (status, location, set_cookie, content_type) = (
        response.status(),
        header(LOCATION),
        header(SET_COOKIE),
        header(CONTENT_TYPE),
    );
    let bytes = response.bytes().await.unwrap().to_vec();
    Page {
        status,
        location,
        set_cookie,
        content_type,
        body: String::from_utf8_lossy(&bytes).into_owned(),
        bytes,
    }
}

/// A page, with the session's cookie.
pub async fn get(app: &TestApp, path: &str, cookie: &str) -> Page {
    page(
        browser()
            .get(app.url(path))
            .header(COOKIE, cookie)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// A form posted with the session's cookie (fields may repeat).
pub async fn post(app: &TestApp, path: &str, cookie: &str, form: &[(&str, &str)]) -> Page {
    page(
        browser()
            .post(app.url(path))
            .header(COOKIE, cookie)
            .form(form)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// A multipart form with `fields` and one file (`file`, sent as `file_name`), posted with the
/// session's cookie, as the console's upload forms send it.
pub async fn upload(
    app: &TestApp,
    path: &str,
    cookie: &str,
    fields: &[(&str, &str)],
    file_name: &str,
    bytes: Vec<u8>,
) -> Page {
    let mut form = reqwest::multipart::Form::new();
    for (name, value) in fields {
        form = form.text(name.to_string(), value.to_string());
    }
    let file = reqwest::multipart::Part::bytes(bytes).file_name(file_name.to_string());
    page(
        browser()
            .post(app.url(path))
            .header(COOKIE, cookie)
            .multipart(form.part("file", file))
            .send()
            .await
            .unwrap(),
    )
    .await
}
