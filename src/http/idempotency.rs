//! `Idempotency-Key` on every authenticated POST: the first response to a (caller, key) is
//! stored and a retry gets it back, marked `Idempotency-Replayed: true`, without acting again.
//!
//! The key is claimed before the handler runs (insert-or-skip), so two concurrent requests with
//! one key cannot both act: the second gets 409 `idempotency.in_progress`. A key reused for a
//! different request (method, path or body differ) gets 422 `idempotency.key_reused`. A 5xx is
//! not stored: the key is released so the retry runs again. Sign-in routes are anonymous and
//! simply sign in again; their tokens are never stored. Stored responses are kept for
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

async fn claim(db: &Db, caller: &str, key: &str, fingerprint: &str) -> Result<Claim, sqlx::Error> {
    let inserted = on_db!(db, pool => sqlx::query(
        "INSERT INTO idempotency_keys (caller, idempotency_key, fingerprint, created_at)
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
        .bind(caller)
        .bind(key)
        .bind(fingerprint)
        .bind(Utc::now())
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    if inserted == 1 {
        return Ok(Claim::Fresh);
    }
    type Row = (String, Option<i32>, Option<String>, Option<Vec<u8>>);
    let row: Option<Row> = on_db!(db, pool => sqlx::query_as(
        "SELECT fingerprint, status, content_type, body FROM idempotency_keys
         WHERE caller = $1 AND idempotency_key = $2")
        .bind(caller)
        .bind(key)
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
        Some(_) => Claim::InProgress,
    })
}

async fn save(
    db: &Db,
    caller: &str,
    key: &str,
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "UPDATE idempotency_keys SET status = $3, content_type = $4, body = $5
         WHERE caller = $1 AND idempotency_key = $2")
        .bind(caller)
        .bind(key)
        .bind(i32::from(status))
        .bind(content_type)
        .bind(body)
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(())
}

async fn release(db: &Db, caller: &str, key: &str) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "DELETE FROM idempotency_keys WHERE caller = $1 AND idempotency_key = $2 AND status IS NULL")
        .bind(caller)
        .bind(key)
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(())
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

fn fingerprint(req: &ServiceRequest, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(req.method().as_str());
    hash.update([0]);
    hash.update(req.uri().to_string());
    hash.update([0]);
    hash.update(body);
    hex::encode(hash.finalize())
}

/// Errors are answered here rather than returned, so they are rendered inside the request's
/// scope (with its request id).
pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let key = match req.headers().get(HEADER) {
        Some(key) if req.method() == Method::POST && !req.path().starts_with(SIGN_IN_PREFIX) => {
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
    let db = state.ledger.db();
    let body = match req.extract::<web::Bytes>().await {
        Ok(body) => body,
        Err(err) => return Ok(req.error_response(super::error::payload_error(err))),
    };
    let fingerprint = fingerprint(&req, &body);
    let claimed = match claim(db, &caller, &key, &fingerprint).await {
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
    let res = match next.call(req).await {
        Ok(res) => res,
        Err(err) => {
            if let Err(e) = release(db, &caller, &key).await {
                tracing::warn!(error = %crate::telemetry::ErrorChain(&e), "cannot release an idempotency key");
            }
            return Err(err);
        }
    };
    let (request, response) = res.into_parts();
    if response.status().is_server_error() {
        if let Err(e) = release(db, &caller, &key).await {
            tracing::warn!(error = %crate::telemetry::ErrorChain(&e), "cannot release an idempotency key");
        }
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
    if let Err(e) = save(
        db,
        &caller,
        &key,
        head.status().as_u16(),
        content_type,
        &body,
    )
    .await
    {
        // The request acted; a retry must not act again, so the key stays claimed.
        tracing::error!(error = %crate::telemetry::ErrorChain(&e), "cannot store an idempotent response");
    }
    Ok(ServiceResponse::new(
        request,
        head.set_body(body).map_into_boxed_body(),
    ))
}
