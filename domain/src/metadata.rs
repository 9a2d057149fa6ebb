//! Who did what, when, and on which request: carried by every event next to its payload.

use std::borrow::Cow;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

/// What a person is to the service: a student, or staff in one of three roles. Tokens, staff
/// accounts, route guards and event metadata all speak of this one enum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Student,
    Reviewer,
    /// Print staff: prints, packs and ships orders.
    Courier,
    Admin,
}

impl Role {
    /// The three roles a staff account can have.
    pub const STAFF: [Role; 3] = [Role::Reviewer, Role::Courier, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Student => "student",
            Role::Reviewer => "reviewer",
            Role::Courier => "courier",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Role::Student, Role::Reviewer, Role::Courier, Role::Admin]
            .into_iter()
            .find(|r| r.as_str() == s)
    }

    pub fn is_staff(self) -> bool {
        self != Role::Student
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the service itself is named where a role would stand (`actor_kind` of its own commands).
const SYSTEM: &str = "system";

/// Who did something: a person in their role, or a part of the service itself (the
/// standardiser, WeChat Pay's notifications), which has no role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// `None` for the service itself.
    pub role: Option<Role>,
    pub id: String,
}

impl Actor {
    pub fn new(role: Role, id: impl Into<String>) -> Self {
        Self {
            role: Some(role),
            id: id.into(),
        }
    }

    pub fn system(component: &str) -> Self {
        Self {
            role: None,
            id: component.into(),
        }
    }

    pub fn is_staff(&self) -> bool {
        self.role.is_some_and(Role::is_staff)
    }

    /// The role as stored, or `system`.
    pub fn kind(&self) -> &'static str {
        self.role.map_or(SYSTEM, Role::as_str)
    }

    fn from_kind(kind: &str, id: String) -> Option<Self> {
        match kind {
            SYSTEM => Some(Self { role: None, id }),
            role => Some(Self {
                role: Some(Role::parse(role)?),
                id,
            }),
        }
    }
}

/// An actor in JSON: `{"kind": "reviewer" | … | "system", "id": …}`.
#[derive(Serialize, Deserialize)]
struct ActorJson<'a> {
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    id: Cow<'a, str>,
}

impl Serialize for Actor {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ActorJson {
            kind: Cow::Borrowed(self.kind()),
            id: Cow::Borrowed(&self.id),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Actor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let json = ActorJson::deserialize(deserializer)?;
        Actor::from_kind(&json.kind, json.id.into_owned())
            .ok_or_else(|| serde::de::Error::custom(format!("unknown actor kind {:?}", json.kind)))
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
            (ACTOR_KIND.into(), self.actor.kind().into()),
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
            actor: Actor::from_kind(&fields.actor_kind, fields.actor_id.into_owned())?,
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
            actor: Actor::new(Role::Reviewer, "r-7"),
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
        assert_eq!(EventMetadata::from_stored(serde_json::json!({})), None);
        let mut wrong_actor = value.clone();
        wrong_actor["actor_kind"] = "robot".into();
        assert_eq!(EventMetadata::from_stored(&wrong_actor), None);
    }

    #[test]
    fn the_service_itself_is_stored_as_system_and_read_back_without_a_role() {
        let meta = EventMetadata {
            actor: Actor::system("standardiser"),
            request_id: "req-2".into(),
            command_id: "cmd-2".into(),
            recorded_at: "2026-06-01T08:00:00Z".parse().unwrap(),
        };
        let value = serde_json::to_value(meta.to_map()).unwrap();
        assert_eq!(value["actor_kind"], "system");
        let read = EventMetadata::from_stored(&value).unwrap();
        assert_eq!(read.actor.role, None);
        assert!(!read.actor.is_staff());
        assert_eq!(
            serde_json::to_value(&read.actor).unwrap(),
            serde_json::json!({"kind": "system", "id": "standardiser"})
        );
    }

    #[test]
    fn every_role_reads_back_as_itself_and_only_students_are_not_staff() {
        for role in [Role::Student, Role::Reviewer, Role::Courier, Role::Admin] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
            assert_eq!(Actor::new(role, "x").is_staff(), role != Role::Student);
        }
        assert_eq!(Role::parse("system"), None);
    }
}
