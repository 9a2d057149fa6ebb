//! `Idempotency-Key` on every authenticated POST: the first response to a (caller, key) is
//! stored and a retry gets it back, marked `Idempotency-Replayed: true`, without acting again.
//!
//! The key is claimed before the handler runs (insert-or-skip), so two concurrent requests with
//! one key cannot both act: the second gets 409 `idempotency.in_progress`. A claim names the
//! instance holding it and a lease the running request renews; a retry that finds the lease run
//! out (its holder died mid-request) takes the claim over and runs the request, and a starting
//! instance drops the claims its previous incarnation left ([`release_abandoned`]). That is safe
//! because the ledger command ids derived from the key make the commands themselves idempotent.
//!
//! A key reused for a different request gets 422 `idempotency.key_reused`. "Different" is by
//! meaning, not bytes ([`fingerprint`]): method and path, then a JSON body in canonical form, or a
//! multipart form's field names with each field's SHA-256, so a client that builds the same form
//! again with a new boundary (as `wx.uploadFile` does) is the same request. A 5xx is not stored:
//! the key is released so the retry runs again. Sign-in routes are anonymous and simply sign in
//! again; their tokens are never stored. Stored responses are kept for
//! `http.idempotency_ttl_hours` and then purged.

use actix_web::body::{to_bytes, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderValue, CONTENT_TYPE};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage, HttpResponse};
use chrono::{DateTime, Utc};
use photo_ledger_store::{on_db, Db};
use sha2::{Digest, Sha256};

use super::error::{ApiCode, ApiError};
use super::extract::caller_of;
use crate::http::state::AppState;

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED_HEADER: &str = "idempotency-replayed";
/// Sign-in answers carry tokens, which are never stored: these routes simply sign in again.
const SIGN_IN_PREFIX: &str = "/api/v1/auth/";

/// Whether a POST's answer is a download that is kept out of the store: a delivery package is
/// the same bytes at every download and marks nothing twice, so a retry simply downloads again,
/// and the package (hundreds of megabytes) would not belong in the database anyway.
fn is_download(path: &str) -> bool {
    path.starts_with("/api/v1/admin/deliveries/") && path.ends_with("/download")
}

/// The key of the request being served, for handlers that derive command ids from it.
#[derive(Clone, Debug)]
pub struct IdempotencyKey(pub String);

enum Claim {
    /// The key is ours: run the request and save its response.
    Fresh,
    Replay {
        status: u16,
        content_type: Option<String>,
        body: Vec<u8>,
    },
    InProgress,
    Reused,
}

/// How long a claim holds without its request renewing it: long past the time between two
/// renewals, short enough that a retry after a crash waits for it only briefly.
const LEASE: std::time::Duration = std::time::Duration::from_secs(30);
/// How often a running request renews its claim.
const RENEW_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

fn lease_from(now: DateTime<Utc>) -> DateTime<Utc> {
    now + chrono::Duration::from_std(LEASE).expect("the lease fits")
}

/// Which claim is being served: the caller's key, held by this instance.
struct Holding<'a> {
    db: &'a Db,
    caller: &'a str,
    key: &'a str,
    holder: &'a str,
}

async fn claim(held: &Holding<'_>, fingerprint: &str) -> Result<Claim, sqlx::Error> {
    let now = Utc::now();
    let inserted = on_db!(held.db, pool => sqlx::query(
        "INSERT INTO idempotency_keys
             (caller, idempotency_key, fingerprint, created_at, holder, lease_until)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING")
        .bind(held.caller)
        .bind(held.key)
        .bind(fingerprint)
        .bind(now)
        .bind(held.holder)
        .bind(lease_from(now))
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    if inserted == 1 {
        return Ok(Claim::Fresh);
    }
    type Row = (String, Option<i32>, Option<String>, Option<Vec<u8>>);
    let row: Option<Row> = on_db!(held.db, pool => sqlx::query_as(
        "SELECT fingerprint, status, content_type, body FROM idempotency_keys
         WHERE caller = $1 AND idempotency_key = $2")
        .bind(held.caller)
        .bind(held.key)
        .fetch_optional(pool)
        .await)?;
    Ok(match row {
        // Released between our insert and read: the retry's retry will claim it.
        None => Claim::InProgress,
        Some((stored, ..)) if stored != fingerprint => Claim::Reused,
        Some((_, Some(status), content_type, body)) => Claim::Replay {
            status: u16::try_from(status).unwrap_or(500),
            content_type,
            body: body.unwrap_or_default(),
        },
        Some(_) if take_over(held, now).await? => Claim::Fresh,
        Some(_) => Claim::InProgress,
    })
}

/// Takes over an unfinished claim whose lease ran out (its holder died mid-request). Of two
/// retries racing for it, the update lets exactly one through.
async fn take_over(held: &Holding<'_>, now: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    let taken = on_db!(held.db, pool => sqlx::query(
        "UPDATE idempotency_keys SET holder = $3, lease_until = $4
         WHERE caller = $1 AND idempotency_key = $2 AND status IS NULL
           AND (lease_until IS NULL OR lease_until < $5)")
        .bind(held.caller)
        .bind(held.key)
        .bind(held.holder)
        .bind(lease_from(now))
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    if taken == 1 {
        tracing::info!(
            caller = held.caller,
            "took over an idempotency key whose holder stopped renewing it"
        );
    }
    Ok(taken == 1)
}

/// Keeps the claim alive while its request runs.
async fn renew(held: &Holding<'_>) -> Result<(), sqlx::Error> {
    on_db!(held.db, pool => sqlx::query(
        "UPDATE idempotency_keys SET lease_until = $4
         WHERE caller = $1 AND idempotency_key = $2 AND holder = $3 AND status IS NULL")
        .bind(held.caller)
        .bind(held.key)
        .bind(held.holder)
        .bind(lease_from(Utc::now()))
        .execute(pool)
        .await
        .map(|_| ()))
}

/// Drops the unfinished claims an earlier run of this instance left (it stopped mid-request):
/// their retries run at once instead of waiting for the lease. Returns how many.
pub async fn release_abandoned(db: &Db, holder: &str) -> Result<u64, sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "DELETE FROM idempotency_keys WHERE holder = $1 AND status IS NULL")
        .bind(holder)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
}

async fn save(
    held: &Holding<'_>,
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<(), sqlx::Error> {
    on_db!(held.db, pool => sqlx::query(
        "UPDATE idempotency_keys SET status = $3, content_type = $4, body = $5, lease_until = NULL
         WHERE caller = $1 AND idempotency_key = $2")
        .bind(held.caller)
        .bind(held.key)
        .bind(i32::from(status))
        .bind(content_type)
        .bind(body)
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(())
}

async fn release(held: &Holding<'_>) {
    let released = on_db!(held.db, pool => sqlx::query(
        "DELETE FROM idempotency_keys
         WHERE caller = $1 AND idempotency_key = $2 AND holder = $3 AND status IS NULL")
        .bind(held.caller)
        .bind(held.key)
        .bind(held.holder)
        .execute(pool)
        .await
        .map(|_| ()));
    if let Err(e) = released {
        tracing::warn!(error = %crate::telemetry::ErrorChain(&e), "cannot release an idempotency key");
    }
}

/// Forgets stored responses older than `before`: a retry after that acts again. Returns how many.
pub async fn purge(db: &Db, before: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    on_db!(db, pool => sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
        .bind(before)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
}

/// Purges expired keys every few minutes, for as long as the service runs.
pub async fn purge_periodically(db: Db, ttl: chrono::Duration) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(300));
    loop {
        every.tick().await;
        match purge(&db, Utc::now() - ttl).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "expired idempotency keys purged"),
            Err(e) => {
                tracing::warn!(error = %crate::telemetry::ErrorChain(&e), "cannot purge idempotency keys")
            }
        }
    }
}

fn valid_key(key: &str) -> bool {
    (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

/// What a request means, as a hash: method and path with query, then the body by its meaning.
/// A JSON body counts in canonical form (keys sorted, no spacing), so the same value sent again
/// matches; a multipart form counts as its field names with each field's SHA-256, in name order,
/// so the same form built again with another boundary or other file names matches. Any other body
/// (or one that does not parse as its type says) counts byte for byte.
async fn fingerprint(req: &ServiceRequest, body: &web::Bytes) -> String {
    let mut hash = Sha256::new();
    hash.update(req.method().as_str());
    hash.update([0]);
    hash.update(req.uri().to_string());
    hash.update([0]);
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let meaning = if content_type.starts_with("application/json") {
        serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .map(|value| [b"json\0".as_slice(), value.to_string().as_bytes()].concat())
    } else if content_type.starts_with("multipart/form-data") {
        form_meaning(req.headers(), body.clone()).await
    } else {
        None
    };
    match meaning {
        Some(meaning) => hash.update(meaning),
        None => {
            hash.update(b"bytes\0");
            hash.update(body);
        }
    }
    hex::encode(hash.finalize())
}

/// A multipart form as its fields' names and SHA-256s, in name order; `None` when it does not
/// parse (it then counts byte for byte, and the handler refuses it).
async fn form_meaning(
    headers: &actix_web::http::header::HeaderMap,
    body: web::Bytes,
) -> Option<Vec<u8>> {
    use futures::StreamExt;
    let mut form = actix_multipart::Multipart::new(
        headers,
        futures::stream::once(async move { Ok::<_, actix_web::error::PayloadError>(body) }),
    );
    let mut fields = Vec::new();
    while let Some(field) = form.next().await {
        let mut field = field.ok()?;
        let name = field.name().unwrap_or_default().to_string();
        let mut content = Sha256::new();
        while let Some(chunk) = field.next().await {
            content.update(chunk.ok()?);
        }
        fields.push((name, hex::encode(content.finalize())));
    }
    fields.sort();
    let mut meaning = b"form\0".to_vec();
    for (name, sha256) in fields {
        meaning.extend_from_slice(name.as_bytes());
        meaning.push(0);
        meaning.extend_from_slice(sha256.as_bytes());
        meaning.push(0);
    }
    Some(meaning)
}

/// Errors are answered here rather than returned, so they are rendered inside the request's
/// scope (with its request id).
pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let key = match req.headers().get(HEADER) {
        Some(key)
            if req.method() == Method::POST
                && !req.path().starts_with(SIGN_IN_PREFIX)
                && !is_download(req.path()) =>
        {
            key.to_str().ok().map(str::to_string)
        }
        _ => return Ok(next.call(req).await?.map_into_boxed_body()),
    };
    let Some(key) = key.filter(|k| valid_key(k)) else {
        return Ok(req.error_response(ApiError::from(ApiCode::IdempotencyInvalidKey)));
    };
    // Anonymous or wrongly signed requests are left to the handler, which refuses or signs in.
    let Ok(caller) = caller_of(req.request()) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let caller = caller.scope();
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(req.error_response(ApiError::bug("application state missing")));
    };
    let held = Holding {
        db: state.ledger.db(),
        caller: &caller,
        key: &key,
        holder: &state.instance_id,
    };
    let body = match req.extract::<web::Bytes>().await {
        Ok(body) => body,
        Err(err) => return Ok(req.error_response(super::error::payload_error(err))),
    };
    let fingerprint = fingerprint(&req, &body).await;
    let claimed = match claim(&held, &fingerprint).await {
        Ok(claimed) => claimed,
        Err(err) => return Ok(req.error_response(ApiError::from(err))),
    };
    match claimed {
        Claim::Fresh => {}
        Claim::Replay {
            status,
            content_type,
            body,
        } => {
            let mut res = HttpResponse::build(
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            );
            if let Some(content_type) = content_type {
                res.insert_header((CONTENT_TYPE, content_type));
            }
            res.insert_header((REPLAYED_HEADER, "true"));
            return Ok(req.into_response(res.body(body)));
        }
        Claim::InProgress => {
            return Ok(req.error_response(ApiError::from(ApiCode::IdempotencyInProgress)));
        }
        Claim::Reused => {
            return Ok(req.error_response(ApiError::from(ApiCode::IdempotencyKeyReused)));
        }
    }
    req.extensions_mut().insert(IdempotencyKey(key.clone()));
    req.set_payload(body.into());
    let res = match renewing(&held, next.call(req)).await {
        Ok(res) => res,
        Err(err) => {
            release(&held).await;
            return Err(err);
        }
    };
    let (request, response) = res.into_parts();
    if response.status().is_server_error() {
        release(&held).await;
        return Ok(ServiceResponse::new(
            request,
            response.map_into_boxed_body(),
        ));
    }
    let (head, body) = response.into_parts();
    let body = match to_bytes(body).await {
        Ok(body) => body,
        Err(_) => {
            let error = ApiError::bug("response body unreadable");
            return Ok(ServiceResponse::from_err(error, request));
        }
    };
    let content_type = head
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v: &HeaderValue| v.to_str().ok());
    if let Err(e) = save(&held, head.status().as_u16(), content_type, &body).await {
        // The request acted; a retry must not act again, so the key stays claimed.
        tracing::error!(error = %crate::telemetry::ErrorChain(&e), "cannot store an idempotent response");
    }
    Ok(ServiceResponse::new(
        request,
        head.set_body(body).map_into_boxed_body(),
    ))
}

/// Runs the request, renewing its claim every [`RENEW_EVERY`] until it answers.
async fn renewing<T>(held: &Holding<'_>, request: impl std::future::Future<Output = T>) -> T {
    tokio::pin!(request);
    let mut every = tokio::time::interval(RENEW_EVERY);
    every.tick().await; // the claim was just made
    loop {
        tokio::select! {
            answer = &mut request => return answer,
            _ = every.tick() => {
                if let Err(e) = renew(held).await {
                    tracing::warn!(error = %crate::telemetry::ErrorChain(&e), "cannot renew an idempotency key's lease");
                }
            }
        }
    }
}
