//! Control characters are refused at the edge: a NUL or another control character in a JSON
//! string (or key) or in the query string answers 422 `request.invalid`, on both stores and
//! before any handler, so none reaches a database that would choke on it (PostgreSQL cannot
//! store a NUL in text) or a screen that would show it. Tabs and line breaks stay allowed, in
//! JSON bodies only: a reviewer's note may have lines.

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

pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let query = req.query_string();
    if query.contains('%') || query.chars().any(char::is_control) {
        let decoded: String = form_urlencoded::parse(query.as_bytes())
            .flat_map(|(k, v)| [k.into_owned(), v.into_owned()])
            .collect();
        if let Some(c) = decoded.chars().find(|&c| is_refused(c, false)) {
            return Ok(req.error_response(refusal(c, "query string")));
        }
    }
    let is_json = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let body = match req.extract::<web::Bytes>().await {
        Ok(body) => body,
        Err(err) => return Ok(req.error_response(payload_error(err))),
    };
    // Malformed JSON is left to the handler, which answers it in its own words.
    if let Ok(value) = serde_json::from_slice::<Value>(&body) {
        if let Some(c) = first_in_json(&value) {
            return Ok(req.error_response(refusal(c, "body")));
        }
    }
    req.set_payload(body.into());
    Ok(next.call(req).await?.map_into_boxed_body())
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
}
