//! A student's address book for mailed prints (收货地址). Entries are checked once, when added
//! ([`NewAddress::parse`]); an order copies the entry into the ledger, so deleting it later
//! never changes an order.

use chrono::{DateTime, Utc};
use photo_ledger_store::{on_db, Db};
use serde::Serialize;

/// The most entries one student keeps.
pub const MAX_PER_OWNER: i64 = 20;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Address {
    pub address_id: String,
    pub recipient: String,
    pub phone: String,
    pub address: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AddressError {
    #[error("recipient must be 1 to 32 characters")]
    InvalidRecipient,
    #[error("phone must be a mainland mobile number or a landline")]
    InvalidPhone,
    #[error("address must be 5 to 200 characters")]
    InvalidAddress,
    #[error("the address book is full")]
    Full,
    #[error("no such address")]
    NotFound,
}

impl AddressError {
    pub fn code(&self) -> &'static str {
        match self {
            AddressError::InvalidRecipient => "address.invalid_recipient",
            AddressError::InvalidPhone => "address.invalid_phone",
            AddressError::InvalidAddress => "address.invalid_address",
            AddressError::Full => "address.book_full",
            AddressError::NotFound => "address.not_found",
        }
    }

    pub fn message(&self) -> String {
        match self {
            AddressError::InvalidRecipient => {
                "请填写收件人姓名（不超过 32 个字，不含看不见的字符）".into()
            }
            AddressError::InvalidPhone => "请填写正确的手机号或固定电话".into(),
            AddressError::InvalidAddress => {
                "请填写详细地址（5 到 200 个字，不含换行和看不见的字符）".into()
            }
            AddressError::Full => format!("最多保存 {MAX_PER_OWNER} 个地址，请先删除不用的地址"),
            AddressError::NotFound => "没有找到该地址".into(),
        }
    }
}

/// A checked address, ready to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAddress {
    recipient: String,
    phone: String,
    address: String,
}

/// `raw` as people read it (NFC, nothing invisible), between `min` and `max` characters long.
fn visible_between(raw: &str, min: usize, max: usize) -> Option<String> {
    photo_ledger_domain::text::visible(raw)
        .ok()
        .filter(|s| (min..=max).contains(&s.chars().count()))
}

impl NewAddress {
    pub fn parse(recipient: &str, phone: &str, address: &str) -> Result<Self, AddressError> {
        let phone: String = phone.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        let recipient = visible_between(recipient, 1, 32).ok_or(AddressError::InvalidRecipient)?;
        let mobile = phone.len() == 11 && phone.starts_with('1');
        let landline = (7..=12).contains(&phone.len()) && phone.starts_with('0');
        if !phone.bytes().all(|b| b.is_ascii_digit()) || !(mobile || landline) {
            return Err(AddressError::InvalidPhone);
        }
        let address = visible_between(address, 5, 200).ok_or(AddressError::InvalidAddress)?;
        Ok(Self {
            recipient,
            phone,
            address,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AddressStoreError {
    #[error(transparent)]
    Refused(#[from] AddressError),
    #[error("database: {0}")]
    Store(#[from] sqlx::Error),
}

type AddressRow = (String, String, String, String, DateTime<Utc>);

fn from_row((address_id, recipient, phone, address, created_at): AddressRow) -> Address {
    Address {
        address_id,
        recipient,
        phone,
        address,
        created_at,
    }
}

/// Adds an entry under `address_id`. The id comes from the request (derived from its
/// idempotency key), so adding it again, as a retry after a crash does, answers the entry
/// already there instead of adding a second.
pub async fn add(
    db: &Db,
    owner: &str,
    address_id: String,
    new: NewAddress,
    now: DateTime<Utc>,
) -> Result<Address, AddressStoreError> {
    if let Ok(added) = get(db, owner, &address_id).await {
        return Ok(added);
    }
    // As PostgreSQL keeps it (microseconds), so the entry answered now and read again later
    // are the same.
    let now = chrono::SubsecRound::trunc_subsecs(now, 6);
    let address = Address {
        address_id,
        recipient: new.recipient,
        phone: new.phone,
        address: new.address,
        created_at: now,
    };
    // The cap is checked and the entry added in one statement, so concurrent adds cannot pass
    // it together: SQLite runs a writing statement under its one write lock; PostgreSQL takes a
    // lock on the owner's book for the transaction first.
    const ADD_UNDER_CAP: &str =
        "INSERT INTO addresses (address_id, owner, recipient, phone, address, created_at)
         SELECT $1, $2, $3, $4, $5, $6
         WHERE (SELECT COUNT(*) FROM addresses WHERE owner = $2) < $7
         ON CONFLICT (address_id) DO NOTHING";
    let insert = sqlx::query(ADD_UNDER_CAP);
    let added = match db {
        Db::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext('addresses:' || $1))")
                .bind(owner)
                .execute(&mut *tx)
                .await?;
            let added = bind_address(insert, &address, owner)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            added
        }
        Db::Sqlite(pool) => bind_address(sqlx::query(ADD_UNDER_CAP), &address, owner)
            .execute(pool)
            .await?
            .rows_affected(),
    };
    if added == 0 {
        // Added by a concurrent retry of the same request, or the book is full.
        return get(db, owner, &address.address_id)
            .await
            .map_err(|_| AddressError::Full.into());
    }
    Ok(address)
}

fn bind_address<'q, DB: sqlx::Database>(
    query: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>,
    address: &'q Address,
    owner: &'q str,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
where
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    DateTime<Utc>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    query
        .bind(&address.address_id)
        .bind(owner)
        .bind(&address.recipient)
        .bind(&address.phone)
        .bind(&address.address)
        .bind(address.created_at)
        .bind(MAX_PER_OWNER)
}

/// A student's addresses, oldest first.
pub async fn list(db: &Db, owner: &str) -> Result<Vec<Address>, sqlx::Error> {
    let rows: Vec<AddressRow> = on_db!(db, pool => sqlx::query_as(
        "SELECT address_id, recipient, phone, address, created_at FROM addresses
         WHERE owner = $1 ORDER BY created_at, address_id")
        .bind(owner)
        .fetch_all(pool)
        .await)?;
    Ok(rows.into_iter().map(from_row).collect())
}

/// One of the student's addresses; another student's is as good as missing.
pub async fn get(db: &Db, owner: &str, address_id: &str) -> Result<Address, AddressStoreError> {
    let row: Option<AddressRow> = on_db!(db, pool => sqlx::query_as(
        "SELECT address_id, recipient, phone, address, created_at FROM addresses
         WHERE owner = $1 AND address_id = $2")
        .bind(owner)
        .bind(address_id)
        .fetch_optional(pool)
        .await)?;
    row.map(from_row)
        .ok_or(AddressStoreError::Refused(AddressError::NotFound))
}

pub async fn delete(db: &Db, owner: &str, address_id: &str) -> Result<(), AddressStoreError> {
    let deleted = on_db!(db, pool => sqlx::query(
        "DELETE FROM addresses WHERE owner = $1 AND address_id = $2")
        .bind(owner)
        .bind(address_id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    if deleted == 0 {
        return Err(AddressError::NotFound.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_once() {
        let ok = NewAddress::parse(" 吴晓兰 ", "138 0000-0000", "无锡市蠡湖大道1800号").unwrap();
        assert_eq!(ok.phone, "13800000000");
        assert_eq!(ok.recipient, "吴晓兰");
        assert_eq!(
            NewAddress::parse("", "13800000000", "无锡市蠡湖大道1800号"),
            Err(AddressError::InvalidRecipient)
        );
        assert_eq!(
            NewAddress::parse("吴晓兰", "12345", "无锡市蠡湖大道1800号"),
            Err(AddressError::InvalidPhone)
        );
        assert!(NewAddress::parse("吴晓兰", "051085912345", "无锡市蠡湖大道1800号").is_ok());
        assert_eq!(
            NewAddress::parse("吴晓兰", "13800000000", "无锡"),
            Err(AddressError::InvalidAddress)
        );
    }
}
