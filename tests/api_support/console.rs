//! The staff console as a browser without script uses it: cookies sent by hand, redirects
//! looked at, not followed.

use reqwest::header::{LOCATION, SET_COOKIE};

use super::{TestApp, STAFF_PASSWORD};

/// A browser: cookies are sent by hand, redirects are looked at, not followed.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs in through the form; the session cookie as a `Cookie` header.
pub async fn sign_in(app: &TestApp, username: &str) -> String {
    let signed_in = browser()
        .post(app.url("/console/sign-in"))
        .form(&[("username", username), ("password", STAFF_PASSWORD)])
        .send()
        .await
        .unwrap();
    let header = |name| signed_in.headers()[name].to_str().unwrap().to_string();
    assert_eq!(signed_in.status(), 303);
    assert_eq!(header(LOCATION), "/console/review");
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
