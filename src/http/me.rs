//! The signed-in student's own things: the address book used for mailed prints.

use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::extract::{Auth, Students};
use crate::addresses::{self, Address, NewAddress};
use crate::startup::AppState;

#[derive(Serialize)]
struct AddressBook {
    addresses: Vec<Address>,
}

/// `GET /me/addresses`.
pub async fn addresses(
    state: web::Data<AppState>,
    caller: Auth<Students>,
) -> Result<HttpResponse, ApiError> {
    let addresses = addresses::list(state.ledger.db(), &caller.subject).await?;
    Ok(HttpResponse::Ok().json(AddressBook { addresses }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressBody {
    recipient: String,
    phone: String,
    address: String,
}

/// `POST /me/addresses {recipient, phone, address}` → 201 with the entry.
pub async fn add_address(
    state: web::Data<AppState>,
    caller: Auth<Students>,
    body: web::Json<AddressBody>,
) -> Result<HttpResponse, ApiError> {
    let new = NewAddress::parse(&body.recipient, &body.phone, &body.address)
        .map_err(addresses::AddressStoreError::from)?;
    let address = addresses::add(state.ledger.db(), &caller.subject, new, Utc::now()).await?;
    Ok(HttpResponse::Created().json(address))
}

/// `DELETE /me/addresses/{address_id}` → 204.
pub async fn delete_address(
    state: web::Data<AppState>,
    caller: Auth<Students>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    addresses::delete(state.ledger.db(), &caller.subject, &path).await?;
    Ok(HttpResponse::NoContent().finish())
}
