//! Who is calling, as typed handler parameters.
//!
//! [`Caller`] is any signed-in caller; [`Auth<R>`] is a caller whose role is in the set `R`
//! ([`Students`], [`Reviewers`], [`Couriers`], [`Admins`], [`Staff`]). A handler cannot forget
//! the role check: it is in its signature. Ownership of a capture is checked by the handler
//! against the ledger.

use std::collections::HashMap;
use std::future::{ready, Ready};
use std::marker::PhantomData;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use chrono::Utc;
use photo_ledger_domain::metadata::{Actor, EventMetadata};

use super::error::{ApiCode, ApiError};
use super::idempotency::IdempotencyKey;
use super::request_id::RequestId;
use super::token::{Role, TokenError};
use crate::captures::Requester;
use crate::http::state::AppState;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub subject: String,
    pub role: Role,
}

impl Caller {
    pub fn actor(&self) -> Actor {
        Actor::new(self.role, &self.subject)
    }

    pub fn is_staff(&self) -> bool {
        self.role.is_staff()
    }

    /// The key idempotency and command ids are scoped by.
    pub fn scope(&self) -> String {
        format!("{}:{}", self.role, self.subject)
    }
}

/// The caller named by the request's bearer token, if it verifies.
pub fn caller_of(req: &HttpRequest) -> Result<Caller, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::bug("application state missing"))?;
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .ok_or(ApiCode::MissingToken)?;
    let token = header
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(ApiCode::InvalidToken)?;
    let claims = state
        .tokens
        .verify(token.trim(), Utc::now())
        .map_err(|e| match e {
            TokenError::Expired => ApiCode::TokenExpired,
            TokenError::Malformed | TokenError::BadSignature => ApiCode::InvalidToken,
        })?;
    Ok(Caller {
        subject: claims.sub,
        role: claims.role,
    })
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(caller_of(req))
    }
}

/// A set of roles allowed on a route.
pub trait RoleSet {
    const ROLES: &'static [Role];
}

macro_rules! role_sets {
    ($($(#[$doc:meta])* $name:ident = [$($role:ident),+];)*) => {$(
        $(#[$doc])*
        pub struct $name;
        impl RoleSet for $name {
            const ROLES: &'static [Role] = &[$(Role::$role),+];
        }
    )*};
}

role_sets! {
    /// Students signed in through the mini-program.
    Students = [Student];
    /// Reviewers, and admins who can do everything reviewers do.
    Reviewers = [Reviewer, Admin];
    /// Print staff, and admins.
    Couriers = [Courier, Admin];
    Admins = [Admin];
    /// Any staff member.
    Staff = [Reviewer, Courier, Admin];
}

/// A caller whose role is in `R`; others get 403.
pub struct Auth<R: RoleSet>(pub Caller, PhantomData<R>);

impl<R: RoleSet> std::ops::Deref for Auth<R> {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.0
    }
}

impl<R: RoleSet> FromRequest for Auth<R> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(caller_of(req).and_then(|caller| {
            if R::ROLES.contains(&caller.role) {
                Ok(Auth(caller, PhantomData))
            } else {
                Err(ApiCode::Forbidden.into())
            }
        }))
    }
}

/// What a command records besides its payload: the request id and a command id. With an
/// `Idempotency-Key` the command id is derived from it, so even a retry that slips past the
/// stored response is recorded once by the ledger.
#[derive(Clone, Debug)]
pub struct CommandContext {
    pub request_id: String,
    idempotency_key: Option<String>,
}

impl CommandContext {
    /// The caller on this request, as the services name them.
    pub fn requester(&self, caller: &Caller) -> Requester {
        Requester {
            actor: caller.actor(),
            request_id: self.request_id.clone(),
            idempotency_key: self.idempotency_key.clone(),
        }
    }

    /// A new id for something the command creates: stable across retries with one key.
    pub fn new_id(&self, caller: &Caller, what: &str) -> uuid::Uuid {
        self.requester(caller).new_id(what)
    }

    pub fn metadata(&self, caller: &Caller, command: &str) -> EventMetadata {
        self.requester(caller).metadata(command)
    }
}

impl FromRequest for CommandContext {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let extensions = req.extensions();
        ready(Ok(CommandContext {
            request_id: extensions
                .get::<RequestId>()
                .map(|id| id.0.clone())
                .unwrap_or_else(super::request_id::current),
            idempotency_key: extensions.get::<IdempotencyKey>().map(|k| k.0.clone()),
        }))
    }
}

/// One field of a multipart form.
pub struct FormField {
    pub bytes: Vec<u8>,
    /// The name of the file it was sent as, if it was one.
    pub file_name: Option<String>,
}

impl FormField {
    /// The field as text (a form's plain fields are).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// A multipart form's fields by name, each read up to its cap in `caps`; a field not named
/// there, or sent twice (which of two photos was meant?), is refused, and one past its cap
/// answers 413 with `too_large` and the cap.
pub async fn multipart_fields(
    mut form: actix_multipart::Multipart,
    caps: &[(&str, usize)],
    too_large: &str,
) -> Result<HashMap<String, FormField>, ApiError> {
    use futures::StreamExt;
    let malformed = |_| ApiError::with_message(ApiCode::BadRequest, "上传内容无法读取");
    let mut fields = HashMap::new();
    while let Some(field) = form.next().await {
        let mut field = field.map_err(malformed)?;
        let name = field.name().unwrap_or_default().to_string();
        let file_name = field
            .content_disposition()
            .and_then(|d| d.get_filename())
            .map(str::to_string);
        let Some(&(_, cap)) = caps.iter().find(|(n, _)| *n == name) else {
            return Err(ApiError::invalid(format!("未知的字段：{name}")));
        };
        if fields.contains_key(&name) {
            return Err(ApiError::invalid(format!("字段重复：{name}")));
        }
        // The chunks share the request's buffer; they are copied once, into a vector of
        // exactly their size (`concat`; a growing one would hold up to twice a photo while it
        // waits).
        let (mut chunks, mut size) = (Vec::new(), 0);
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(malformed)?;
            size += chunk.len();
            if size > cap {
                return Err(ApiError::with_message(ApiCode::PayloadTooLarge, too_large)
                    .with_details(serde_json::json!({ "limit_bytes": cap })));
            }
            chunks.push(chunk);
        }
        let bytes = chunks.concat();
        fields.insert(name, FormField { bytes, file_name });
    }
    Ok(fields)
}

/// A list route's `limit`: 50 when absent, refused outside 1 to 500.
pub fn page_limit(limit: Option<u32>) -> Result<i64, ApiError> {
    limit_within(limit, 50, 500)
}

/// A `limit`: `default` when absent, refused outside 1 to `max`.
pub fn limit_within(limit: Option<u32>, default: u32, max: u32) -> Result<i64, ApiError> {
    match limit.unwrap_or(default) {
        limit if (1..=max).contains(&limit) => Ok(i64::from(limit)),
        _ => Err(ApiError::with_message(
            ApiCode::InvalidQuery,
            format!("limit 须在 1 到 {max} 之间"),
        )),
    }
}
