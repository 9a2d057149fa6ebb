//! The signed-in student's own things: every photo of theirs (我的照片查询) and the address
//! book used for mailed prints.

use std::collections::BTreeSet;

use actix_web::{web, HttpResponse};
use chrono::Utc;
use photo_ledger_projections::capture_status;
use photo_ledger_projections::photo_history::{self, HistoryEntry};
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ErrorBody};
use super::extract::{Auth, CommandContext, Students};
use crate::accounts::addresses::{self, Address, NewAddress};
use crate::http::state::AppState;

/// The most history entries returned.
const HISTORY_LIMIT: usize = 200;

#[derive(Serialize, utoipa::ToSchema)]
struct History {
    #[schema(value_type = Vec<Object>)]
    photos: Vec<HistoryEntry>,
}

#[utoipa::path(get, path = "/api/v1/me/history", tag = "students", security(("bearer" = [])),
    responses((status = 200, body = History), (status = "4XX", body = ErrorBody)))]
/// `GET /me/history`: every photo recorded for the people this account verified as, across
/// all their captures, newest first.
pub async fn history(
    state: web::Data<AppState>,
    caller: Auth<Students>,
) -> Result<HttpResponse, ApiError> {
    let db = state.ledger.db();
    let mut person_keys = BTreeSet::new();
    for capture in capture_status::by_owner(db, &caller.subject).await? {
        let (loaded, _) = state.ledger.load(&capture.capture_id).await?;
        // An erased capture names no one.
        if let Some(q) = loaded.identified() {
            person_keys.insert(state.person_keyer.key_for(q.student.id_number.as_str()));
        }
    }
    let mut photos = Vec::new();
    for key in &person_keys {
        photos.extend(photo_history::for_person(db, key, HISTORY_LIMIT).await?);
    }
    photo_history::newest_first(&mut photos, HISTORY_LIMIT);
    Ok(HttpResponse::Ok().json(History { photos }))
}

#[derive(Serialize, utoipa::ToSchema)]
struct AddressBook {
    addresses: Vec<Address>,
}

/// `GET /me/addresses`.
#[utoipa::path(get, path = "/api/v1/me/addresses", tag = "students", security(("bearer" = [])),
    responses((status = 200, body = AddressBook), (status = "4XX", body = ErrorBody)))]
pub async fn addresses(
    state: web::Data<AppState>,
    caller: Auth<Students>,
) -> Result<HttpResponse, ApiError> {
    let addresses = addresses::list(state.ledger.db(), &caller.subject).await?;
    Ok(HttpResponse::Ok().json(AddressBook { addresses }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressBody {
    recipient: String,
    phone: String,
    address: String,
}

/// `POST /me/addresses {recipient, phone, address}` → 201 with the entry.
#[utoipa::path(post, path = "/api/v1/me/addresses", tag = "students", request_body = AddressBody, security(("bearer" = [])),
    responses((status = 201, body = Address), (status = "4XX", body = ErrorBody)))]
pub async fn add_address(
    state: web::Data<AppState>,
    caller: Auth<Students>,
    ctx: CommandContext,
    body: web::Json<AddressBody>,
) -> Result<HttpResponse, ApiError> {
    let new = NewAddress::parse(&body.recipient, &body.phone, &body.address)
        .map_err(addresses::AddressStoreError::from)?;
    let address_id = ctx.new_id(&caller, "address").to_string();
    let address = addresses::add(
        state.ledger.db(),
        &caller.subject,
        address_id,
        new,
        Utc::now(),
    )
    .await?;
    Ok(HttpResponse::Created().json(address))
}

/// `DELETE /me/addresses/{address_id}` → 204.
#[utoipa::path(delete, path = "/api/v1/me/addresses/{address_id}", tag = "students", params(("address_id" = String, Path)), security(("bearer" = [])),
    responses((status = 204, description = "Deleted"), (status = "4XX", body = ErrorBody)))]
pub async fn delete_address(
    state: web::Data<AppState>,
    caller: Auth<Students>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    addresses::delete(state.ledger.db(), &caller.subject, &path).await?;
    Ok(HttpResponse::NoContent().finish())
}
