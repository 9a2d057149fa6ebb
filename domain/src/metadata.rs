//! Who did what, when, and on which request: carried by every event next to its payload.

use std::borrow::Cow;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    Student,
    Reviewer,
    Courier,
    Admin,
    System,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Student => "student",
            ActorKind::Reviewer => "reviewer",
            ActorKind::Courier => "courier",
            ActorKind::Admin => "admin",
            ActorKind::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "student" => ActorKind::Student,
            "reviewer" => ActorKind::Reviewer,
            "courier" => ActorKind::Courier,
            "admin" => ActorKind::Admin,
            "system" => ActorKind::System,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub kind: ActorKind,
    pub id: String,
}

impl Actor {
    pub fn new(kind: ActorKind, id: impl Into<String>) -> Self {
        Self {
            kind,
            id: id.into(),
        }
    }

    pub fn system(component: &str) -> Self {
        Self::new(ActorKind::System, component)
    }
}

/// The metadata recorded with every event of one command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMetadata {
    pub actor: Actor,
    pub request_id: String,
    /// The client's id for the command; repeating it records nothing new.
    pub command_id: String,
    pub recorded_at: DateTime<Utc>,
}

const ACTOR_KIND: &str = "actor_kind";
const ACTOR_ID: &str = "actor_id";
const REQUEST_ID: &str = "request_id";
const COMMAND_ID: &str = "command_id";
const RECORDED_AT: &str = "recorded_at";

impl EventMetadata {
    /// The flat string map cqrs-es stores.
    pub fn to_map(&self) -> HashMap<String, String> {
        HashMap::from([
            (ACTOR_KIND.into(), self.actor.kind.as_str().into()),
            (ACTOR_ID.into(), self.actor.id.clone()),
            (REQUEST_ID.into(), self.request_id.clone()),
            (COMMAND_ID.into(), self.command_id.clone()),
            (RECORDED_AT.into(), self.recorded_at.to_rfc3339()),
        ])
    }

    /// Reads metadata back from the map as stored, in any serde format; `None` when a field is
    /// missing or malformed. Fields are borrowed from the input while they are checked.
    pub fn from_stored<'de>(stored: impl Deserializer<'de>) -> Option<Self> {
        let fields = StoredFields::deserialize(stored).ok()?;
        Some(Self {
            actor: Actor {
                kind: ActorKind::parse(&fields.actor_kind)?,
                id: fields.actor_id.into_owned(),
            },
            request_id: fields.request_id.into_owned(),
            command_id: fields.command_id.into_owned(),
            recorded_at: DateTime::parse_from_rfc3339(&fields.recorded_at)
                .ok()?
                .with_timezone(&Utc),
        })
    }
}

/// The fields of the stored map; other keys are ignored.
#[derive(Deserialize)]
struct StoredFields<'a> {
    #[serde(borrow)]
    actor_kind: Cow<'a, str>,
    #[serde(borrow)]
    actor_id: Cow<'a, str>,
    #[serde(borrow)]
    request_id: Cow<'a, str>,
    #[serde(borrow)]
    command_id: Cow<'a, str>,
    #[serde(borrow)]
    recorded_at: Cow<'a, str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_survives_the_string_map() {
        let meta = EventMetadata {
            actor: Actor::new(ActorKind::Reviewer, "r-7"),
            request_id: "req-1".into(),
            command_id: "cmd-1".into(),
            recorded_at: "2026-06-01T08:00:00Z".parse().unwrap(),
        };
        let stored = serde_json::to_string(&meta.to_map()).unwrap();
        assert_eq!(
            EventMetadata::from_stored(&mut serde_json::Deserializer::from_str(&stored)),
            Some(meta.clone())
        );
        let value = serde_json::to_value(meta.to_map()).unwrap();
        assert_eq!(EventMetadata::from_stored(&value), Some(meta));
        assert_eq!(EventMetadata::from_stored(&serde_json::json!({})), None);
        let mut wrong_actor = value.clone();
        wrong_actor["actor_kind"] = "robot".into();
        assert_eq!(EventMetadata::from_stored(&wrong_actor), None);
    }
}
