//! Control characters are refused at the edge: a NUL or another control character in a JSON
//! string (or key), a form field or the query string answers 422 `request.invalid`, on both
//! stores and before any handler, so none reaches a database that would choke on it
//! (PostgreSQL cannot store a NUL in text) or a screen that would show it. Tabs and line breaks
//! stay allowed, in bodies only: a reviewer's note may have lines. The API answers the refusal
//! in JSON ([`middleware`]), the console as a page ([`refuse`] with its own answer).

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::CONTENT_TYPE;
use actix_web::middleware::Next;
use actix_web::{web, Error};
use serde_json::Value;

use super::error::{payload_error, ApiCode, ApiError};

/// A control character other than tab, line feed and carriage return: C0, DEL and C1.
fn is_refused(c: char, line_breaks_allowed: bool) -> bool {
    let allowed = line_breaks_allowed && matches!(c, '\t' | '\n' | '\r');
    c.is_control() && !allowed
}

/// The first refused character in any string or key of `value`.
fn first_in_json(value: &Value) -> Option<char> {
    let in_text = |s: &str| s.chars().find(|&c| is_refused(c, true));
    match value {
        Value::String(s) => in_text(s),
        Value::Array(items) => items.iter().find_map(first_in_json),
        Value::Object(map) => map
            .iter()
            .find_map(|(k, v)| in_text(k).or_else(|| first_in_json(v))),
        Value::Null | Value::Bool(_) | Value::Number(_) => None,
    }
}

fn refusal(c: char, place: &str) -> ApiError {
    ApiError::from(ApiCode::InvalidRequest).with_details(serde_json::json!({
        "reason": format!("control character U+{:04X} in the {place}", u32::from(c)),
    }))
}

/// The API's: refusals answered in the API's error shape.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    refuse(req, next, Error::from).await
}

/// Refuses a request whose query string or JSON or form body holds a control character, with
/// `answer`'s rendering of the refusal.
pub async fn refuse(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    answer: impl Fn(ApiError) -> Error,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let query = req.query_string();
    if query.contains('%') || query.chars().any(char::is_control) {
        if let Some(c) = first_in_form(query.as_bytes(), false) {
            return Ok(req.error_response(answer(refusal(c, "query string"))));
        }
    }
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let body = if content_type.starts_with("application/json") {
        Body::Json
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        Body::Form
    } else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let bytes = match req.extract::<web::Bytes>().await {
        Ok(bytes) => bytes,
        Err(err) => return Ok(req.error_response(answer(payload_error(err)))),
    };
    let found = match body {
        // Malformed JSON is left to the handler, which answers it in its own words.
        Body::Json => serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|value| first_in_json(&value)),
        Body::Form => first_in_form(&bytes, true),
    };
    if let Some(c) = found {
        return Ok(req.error_response(answer(refusal(c, "body"))));
    }
    req.set_payload(bytes.into());
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// The bodies whose text is looked through.
enum Body {
    Json,
    Form,
}

/// The first refused character in any name or value of a URL-encoded form (or query string),
/// once decoded.
fn first_in_form(encoded: &[u8], line_breaks_allowed: bool) -> Option<char> {
    form_urlencoded::parse(encoded)
        .flat_map(|(name, value)| [name, value])
        .find_map(|text| text.chars().find(|&c| is_refused(c, line_breaks_allowed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_and_other_controls_are_found_anywhere_in_a_document() {
        let found = |text: &str| first_in_json(&serde_json::from_str(text).unwrap());
        assert_eq!(found(r#"{"name": "吴\u0000兰"}"#), Some('\0'));
        assert_eq!(found(r#"{"a": [1, {"b": "x\u001b[31m"}]}"#), Some('\u{1b}'));
        assert_eq!(found(r#"{"k\u0007": 1}"#), Some('\u{7}'));
        assert_eq!(found(r#"{"c1": "\u0085"}"#), Some('\u{85}'));
        assert_eq!(found(r#"{"note": "第一行\n第二行\t缩进\r"}"#), None);
        assert_eq!(
            found(r#"{"literal": "\\u0000"}"#),
            None,
            "an escaped backslash"
        );
        assert_eq!(found(r#"[true, null, 1.5, "吴晓兰"]"#), None);
    }

    #[test]
    fn controls_are_found_in_a_forms_names_and_values_once_decoded() {
        let found = |form: &str, breaks| first_in_form(form.as_bytes(), breaks);
        assert_eq!(found("csrf=t&note=%00", true), Some('\0'));
        assert_eq!(found("carrier=SF%1B&tracking_no=N1", true), Some('\u{1b}'));
        assert_eq!(found("na%07me=x", true), Some('\u{7}'));
        assert_eq!(found("note=%E7%AC%AC%E4%B8%80%0D%0A%09x+y", true), None);
        assert_eq!(
            found("school=a%0Ab", false),
            Some('\n'),
            "a query keeps no lines"
        );
        assert_eq!(found("q=%2500", false), None, "an escaped percent sign");
    }
}
