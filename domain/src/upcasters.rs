//! Upcasters turn events recorded under an older schema into the current one as they are read,
//! so the log itself is never rewritten.
//!
//! `Rejected` 1.0 carried one free-text `reason`; 2.0 carries a list of reason codes plus a
//! note. A 1.0 reason becomes the code `other` and its text moves into the note.

use cqrs_es::persist::{EventUpcaster, SemanticVersionEventUpcaster};
use serde_json::{json, Value};

use crate::events::REJECTED_SCHEMA_VERSION;

pub fn rejected_v1_to_v2(payload: Value) -> Value {
    let Some(body) = payload.get("Rejected").and_then(Value::as_object) else {
        return payload;
    };
    let mut body = body.clone();
    if !body.contains_key("reasons") {
        let reason = body
            .remove("reason")
            .and_then(|r| r.as_str().map(str::to_string))
            .unwrap_or_default();
        let note = body
            .get("note")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let merged = match (reason.is_empty(), note.is_empty()) {
            (false, false) => format!("{reason}；{note}"),
            (false, true) => reason,
            (true, _) => note,
        };
        body.insert("reasons".into(), json!(["other"]));
        body.insert("note".into(), json!(merged));
    }
    json!({ "Rejected": body })
}

/// Every upcaster the capture log needs, in the order they apply.
pub fn capture_upcasters() -> Vec<Box<dyn EventUpcaster>> {
    vec![Box::new(SemanticVersionEventUpcaster::new(
        "Rejected",
        REJECTED_SCHEMA_VERSION,
        Box::new(rejected_v1_to_v2),
    ))]
}
