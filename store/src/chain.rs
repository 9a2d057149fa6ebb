//! The hash chains that make the log tamper-evident.
//!
//! Every event row carries `hash`, the SHA-256 of its canonical bytes (aggregate type and id,
//! sequence, event type and version, payload and metadata exactly as stored, and the hash of the
//! capture's previous event), and that previous hash as `prev_hash`. A capture's first event
//! chains to [`EventHash::GENESIS`]. The journal computes both when it appends (it already holds
//! the capture's last hash with its state), so chains cost no extra read and need no global
//! serial point; the seals (`src/audit/`) then tie the chains together in the global order.
//!
//! The hash covers the stored text, so it is computed over whatever the row holds: when personal
//! data is stored encrypted, over the ciphertext.

use sha2::{Digest, Sha256};

use crate::error::StoreError;
use crate::log::{Position, AGGREGATE_TYPE};
use crate::{on_db, Db};

/// A SHA-256 in the chains and seals; stored and shown as 64 lowercase hex digits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EventHash(pub [u8; 32]);

impl EventHash {
    /// What a capture's first event chains to.
    pub const GENESIS: EventHash = EventHash([0; 32]);

    /// Reads 64 hex digits.
    pub fn parse(hex_text: &str) -> Option<Self> {
        let bytes = hex::decode(hex_text).ok()?;
        Some(Self(bytes.try_into().ok()?))
    }

    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }
}

impl std::fmt::Display for EventHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// What an event's hash covers, as the row stores it.
#[derive(Clone, Copy, Debug)]
pub struct EventBytes<'a> {
    pub aggregate_type: &'a str,
    pub aggregate_id: &'a str,
    pub sequence: i64,
    pub event_type: &'a str,
    pub event_version: &'a str,
    pub payload: &'a str,
    pub metadata: &'a str,
}

const EVENT_DOMAIN: &[u8] = b"photo-ledger event v1\0";

impl EventBytes<'_> {
    /// The event's hash chained to `previous`: SHA-256 over a domain tag, then each field as an
    /// 8-byte big-endian length and its bytes (so no two field lists share an encoding), then
    /// the previous hash's 32 bytes.
    pub fn hash(&self, previous: &EventHash) -> EventHash {
        let mut hasher = Sha256::new();
        hasher.update(EVENT_DOMAIN);
        let sequence = self.sequence.to_string();
        for field in [
            self.aggregate_type,
            self.aggregate_id,
            &sequence,
            self.event_type,
            self.event_version,
            self.payload,
            self.metadata,
        ] {
            hasher.update((field.len() as u64).to_be_bytes());
            hasher.update(field.as_bytes());
        }
        hasher.update(previous.0);
        EventHash(hasher.finalize().into())
    }
}

/// One event row exactly as stored, with its place in the global order.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct StoredEvent {
    pub txid: i64,
    pub position: i64,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: String,
    pub metadata: String,
    pub hash: Option<String>,
    pub prev_hash: Option<String>,
}

impl StoredEvent {
    pub fn position(&self) -> Position {
        Position {
            txid: self.txid,
            position: self.position,
        }
    }

    pub fn bytes(&self) -> EventBytes<'_> {
        EventBytes {
            aggregate_type: &self.aggregate_type,
            aggregate_id: &self.aggregate_id,
            sequence: self.sequence,
            event_type: &self.event_type,
            event_version: &self.event_version,
            payload: &self.payload,
            metadata: &self.metadata,
        }
    }

    /// The stored hash, if the row has a well-formed one.
    pub fn stored_hash(&self) -> Option<EventHash> {
        self.hash.as_deref().and_then(EventHash::parse)
    }

    /// The stored link to the previous event, if the row has a well-formed one.
    pub fn stored_prev_hash(&self) -> Option<EventHash> {
        self.prev_hash.as_deref().and_then(EventHash::parse)
    }
}

// Rows below the commit horizon only (see `log`), so a range read once is final.
const PG_STORED: &str = "
SELECT txid::text::bigint AS txid, position, aggregate_type, aggregate_id, sequence, event_type, event_version,
       CAST(payload AS TEXT) AS payload, CAST(metadata AS TEXT) AS metadata, hash, prev_hash
  FROM events
 WHERE (txid, position) > ($1::text::xid8, $2)
   AND (txid, position) <= ($3::text::xid8, $4)
   AND txid < pg_snapshot_xmin(pg_current_snapshot())
 ORDER BY events.txid, events.position
 LIMIT $5";

const SQLITE_STORED: &str = "
SELECT 0 AS txid, rowid AS position, aggregate_type, aggregate_id, sequence, event_type, event_version,
       payload, metadata, hash, prev_hash
  FROM events
 WHERE rowid > $2 AND rowid <= $4 AND $1 >= 0 AND $3 >= 0
 ORDER BY rowid
 LIMIT $5";

/// Up to `limit` rows after `after` and at most `up_to`, in the global order, as stored.
pub async fn read_stored(
    db: &Db,
    after: Position,
    up_to: Position,
    limit: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    Ok(match db {
        Db::Postgres(pool) => {
            sqlx::query_as(PG_STORED)
                .bind(after.txid.to_string())
                .bind(after.position)
                .bind(up_to.txid.to_string())
                .bind(up_to.position)
                .bind(limit)
                .fetch_all(pool)
                .await?
        }
        Db::Sqlite(pool) => {
            sqlx::query_as(SQLITE_STORED)
                .bind(after.txid)
                .bind(after.position)
                .bind(up_to.txid)
                .bind(up_to.position)
                .bind(limit)
                .fetch_all(pool)
                .await?
        }
    })
}

const PG_COUNT_AFTER: &str = "
SELECT count(*) FROM (
    SELECT 1 FROM events
     WHERE (txid, position) > ($1::text::xid8, $2)
       AND txid < pg_snapshot_xmin(pg_current_snapshot())
     LIMIT $3) AS waiting";

const SQLITE_COUNT_AFTER: &str = "
SELECT count(*) FROM (SELECT 1 FROM events WHERE rowid > $2 AND $1 >= 0 LIMIT $3)";

/// How many final events follow `after`, counting no further than `limit`.
pub async fn count_final_after(db: &Db, after: Position, limit: i64) -> Result<i64, StoreError> {
    Ok(match db {
        Db::Postgres(pool) => {
            sqlx::query_scalar(PG_COUNT_AFTER)
                .bind(after.txid.to_string())
                .bind(after.position)
                .bind(limit)
                .fetch_one(pool)
                .await?
        }
        Db::Sqlite(pool) => {
            sqlx::query_scalar(SQLITE_COUNT_AFTER)
                .bind(after.txid)
                .bind(after.position)
                .bind(limit)
                .fetch_one(pool)
                .await?
        }
    })
}

const PG_HORIZON_HEAD: &str = "
SELECT txid::text::bigint AS txid, position FROM events
 WHERE txid < pg_snapshot_xmin(pg_current_snapshot())
 ORDER BY events.txid DESC, events.position DESC LIMIT 1";

/// The newest event whose place in the global order is final (below the commit horizon on
/// PostgreSQL; the newest event on SQLite).
pub async fn final_head(db: &Db) -> Result<Option<Position>, StoreError> {
    match db {
        Db::Postgres(pool) => Ok(sqlx::query_as::<_, (i64, i64)>(PG_HORIZON_HEAD)
            .fetch_optional(pool)
            .await?
            .map(|(txid, position)| Position { txid, position })),
        Db::Sqlite(_) => crate::log::head(db).await,
    }
}

/// The newest committed event once every event up to it is final: waits (up to `patience`) for
/// transactions that hold the commit horizon below it, then answers what is final.
pub async fn settled_head(
    db: &Db,
    patience: std::time::Duration,
) -> Result<Option<Position>, StoreError> {
    let head = crate::log::head(db).await?;
    let deadline = std::time::Instant::now() + patience;
    loop {
        let settled = final_head(db).await?;
        if settled >= head || std::time::Instant::now() >= deadline {
            return Ok(settled);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A capture's events exactly as stored, in sequence order.
pub(crate) const CAPTURE_STORED: &str = "
SELECT CAST(0 AS BIGINT) AS txid, CAST(0 AS BIGINT) AS position, aggregate_type, aggregate_id, sequence, event_type, event_version,
       CAST(payload AS TEXT) AS payload, CAST(metadata AS TEXT) AS metadata, hash, prev_hash
  FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 ORDER BY sequence";

const PG_CHAIN: &str = "
UPDATE events SET hash = u.hash, prev_hash = u.prev_hash
  FROM unnest($3::bigint[], $4::text[], $5::text[]) AS u(sequence, hash, prev_hash)
 WHERE events.aggregate_type = $1 AND events.aggregate_id = $2 AND events.sequence = u.sequence
   AND events.hash IS NULL";

const SQLITE_CHAIN: &str = "
UPDATE events SET hash = $1, prev_hash = $2
 WHERE aggregate_type = $3 AND aggregate_id = $4 AND sequence = $5 AND hash IS NULL";

/// Chains the events stored before the log was hashed: once, before the first seal. Each
/// capture with an unhashed event is walked in sequence order and every unhashed event gets its
/// hash and link. Once a seal exists nothing is chained here: an unhashed event is then an
/// insertion made around the ledger, which `audit verify` must report, not bless. Returns how
/// many events were chained.
pub async fn chain_unhashed(db: &Db) -> Result<u64, StoreError> {
    let sealed: bool = on_db!(db, pool => sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM audit_seals)")
        .fetch_one(pool)
        .await)?;
    if sealed {
        return Ok(0);
    }
    let captures: Vec<String> = on_db!(db, pool => sqlx::query_scalar(
        "SELECT DISTINCT aggregate_id FROM events WHERE hash IS NULL")
        .fetch_all(pool)
        .await)?;
    let mut chained = 0;
    for capture_id in captures {
        let events: Vec<StoredEvent> = on_db!(db, pool => sqlx::query_as(CAPTURE_STORED)
            .bind(AGGREGATE_TYPE)
            .bind(&capture_id)
            .fetch_all(pool)
            .await)?;
        let mut previous = EventHash::GENESIS;
        let mut updates = Vec::new();
        for event in &events {
            previous = match event.stored_hash() {
                Some(hash) => hash,
                None => {
                    let hash = event.bytes().hash(&previous);
                    updates.push((event.sequence, (hash, previous)));
                    hash
                }
            };
        }
        // One statement (PostgreSQL) or one transaction (SQLite) per capture: a crash leaves
        // each capture chained or not at all.
        let count = updates.len() as u64;
        let (mut sequences, mut hashes, mut links) = (vec![], vec![], vec![]);
        for (sequence, (hash, link)) in updates {
            sequences.push(sequence);
            hashes.push(hash.to_hex());
            links.push(link.to_hex());
        }
        match db {
            Db::Postgres(pool) => {
                sqlx::query(PG_CHAIN)
                    .bind(AGGREGATE_TYPE)
                    .bind(&capture_id)
                    .bind(&sequences)
                    .bind(&hashes)
                    .bind(&links)
                    .execute(pool)
                    .await?;
            }
            Db::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                for ((sequence, hash), link) in sequences.iter().zip(&hashes).zip(&links) {
                    sqlx::query(SQLITE_CHAIN)
                        .bind(hash)
                        .bind(link)
                        .bind(AGGREGATE_TYPE)
                        .bind(&capture_id)
                        .bind(sequence)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
            }
        }
        chained += count;
    }
    Ok(chained)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(payload: &str) -> EventBytes<'_> {
        EventBytes {
            aggregate_type: "Capture",
            aggregate_id: "c1",
            sequence: 1,
            event_type: "Paid",
            event_version: "1.0",
            payload,
            metadata: "{}",
        }
    }

    #[test]
    fn every_field_and_the_link_change_the_hash() {
        let base = event("{}").hash(&EventHash::GENESIS);
        assert_ne!(event("{ }").hash(&EventHash::GENESIS), base);
        assert_ne!(event("{}").hash(&EventHash([1; 32])), base);
        let mut resequenced = event("{}");
        resequenced.sequence = 2;
        assert_ne!(resequenced.hash(&EventHash::GENESIS), base);
        // Lengths are part of the encoding: moving a byte between fields changes the hash.
        let mut shifted = event("{}");
        shifted.event_type = "Pai";
        shifted.event_version = "d1.0";
        assert_ne!(shifted.hash(&EventHash::GENESIS), base);
        assert_eq!(event("{}").hash(&EventHash::GENESIS), base);
    }

    #[test]
    fn hashes_read_back_from_their_hex() {
        let hash = event("{}").hash(&EventHash::GENESIS);
        assert_eq!(EventHash::parse(&hash.to_hex()), Some(hash));
        assert_eq!(EventHash::parse("00"), None);
        assert_eq!(EventHash::parse(&"zz".repeat(32)), None);
    }
}
