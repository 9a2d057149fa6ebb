//! Seals: signed digests that tie the per-capture chains together in the global order.
//!
//! A seal covers every event after the previous seal's last position up to its own, in global
//! order: it records how many, the Merkle root of their hashes, the previous seal's hash and when
//! it was made, and is signed with the audit key. So the latest seal commits to the whole log: an
//! event inserted, removed or reordered anywhere below it, or a capture's chain rewritten
//! consistently, changes a root no one can sign again without the key, and no longer matches a
//! digest an auditor kept.
//!
//! Only events below the commit horizon are sealed (`photo_ledger_store::chain::read_stored`), so
//! no event can later commit inside a sealed range. Instances sharing a database may all run
//! the sealer: seal numbers are a primary key, so of two instances sealing the same range one
//! records it and the other finds it sealed.

use std::time::{Duration, Instant};

use chrono::SecondsFormat;
use ed25519_dalek::{Signature, Signer, VerifyingKey};
use photo_ledger_store::chain::{self, EventHash};
use photo_ledger_store::{on_db, Db, Position};
use rs_merkle::algorithms::Sha256 as MerkleSha256;
use rs_merkle::MerkleTree;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::key::{AuditKey, AuditSettings};
use super::AuditError;

/// One seal, as stored, as `audit digest` prints it and as an auditor keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
#[serde(deny_unknown_fields)]
pub struct Seal {
    pub seal_no: i64,
    /// The last event covered, in the global order.
    pub last_txid: i64,
    pub last_position: i64,
    /// Events covered by this seal.
    pub event_count: i64,
    /// Events covered by this seal and every one before it.
    pub total_events: i64,
    /// Merkle root (rs_merkle's SHA-256 tree) of the covered events' hashes, in global order.
    pub root: String,
    /// The previous seal's hash (64 zeros for the first).
    pub previous: String,
    pub sealed_at: String,
    pub public_key: String,
    pub signature: String,
}

/// The Merkle root of event hashes in order.
pub fn merkle_root(leaves: &[[u8; 32]]) -> EventHash {
    EventHash(
        MerkleTree::<MerkleSha256>::from_leaves(leaves)
            .root()
            .unwrap_or_default(),
    )
}

impl Seal {
    pub fn last(&self) -> Position {
        Position {
            txid: self.last_txid,
            position: self.last_position,
        }
    }

    /// The bytes the signature covers: every field but the signature, one per line.
    pub fn signed_bytes(&self) -> Vec<u8> {
        format!(
            "photo-ledger seal v1\nseal {}\nlast {}:{}\nevents {}\ntotal {}\nroot {}\nprevious {}\nsealed_at {}\npublic_key {}\n",
            self.seal_no,
            self.last_txid,
            self.last_position,
            self.event_count,
            self.total_events,
            self.root,
            self.previous,
            self.sealed_at,
            self.public_key,
        )
        .into_bytes()
    }

    /// What the next seal chains to: the SHA-256 of the signed bytes.
    pub fn hash(&self) -> EventHash {
        EventHash(Sha256::digest(self.signed_bytes()).into())
    }

    /// Whether the seal is signed, by one of `trusted`, over exactly its fields.
    pub fn signed_by(&self, trusted: &[VerifyingKey]) -> bool {
        let Some(key) = super::key::parse_public_key(&self.public_key) else {
            return false;
        };
        let Some(signature) = hex::decode(&self.signature)
            .ok()
            .and_then(|bytes| Signature::from_slice(&bytes).ok())
        else {
            return false;
        };
        trusted.contains(&key) && key.verify_strict(&self.signed_bytes(), &signature).is_ok()
    }
}

const SEALS: &str = "
SELECT seal_no, last_txid, last_position, event_count, total_events, root, previous, sealed_at, public_key, signature
  FROM audit_seals";

/// Every seal, in order.
pub async fn all(db: &Db) -> Result<Vec<Seal>, AuditError> {
    let sql = format!("{SEALS} ORDER BY seal_no");
    Ok(on_db!(db, pool => sqlx::query_as(&sql).fetch_all(pool).await)?)
}

/// The latest seal, if the log has been sealed.
pub async fn latest(db: &Db) -> Result<Option<Seal>, AuditError> {
    let sql = format!("{SEALS} ORDER BY seal_no DESC LIMIT 1");
    Ok(on_db!(db, pool => sqlx::query_as(&sql).fetch_optional(pool).await)?)
}

const INSERT_SEAL: &str = "
INSERT INTO audit_seals (seal_no, last_txid, last_position, event_count, total_events, root, previous, sealed_at, public_key, signature)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

/// Makes seals: on demand (`audit seal`) and, in the service, in the background.
pub struct Sealer {
    db: Db,
    key: AuditKey,
    per_seal: i64,
    interval: Duration,
}

impl Sealer {
    pub fn new(db: Db, key: AuditKey, settings: &AuditSettings) -> Self {
        Self {
            db,
            key,
            per_seal: settings.events_per_seal(),
            interval: settings.interval(),
        }
    }

    /// Seals every event committed so far, in seals of at most the configured size, once
    /// transactions older than the newest event have finished; returns the seals made.
    pub async fn seal_all(&self) -> Result<Vec<Seal>, AuditError> {
        chain::settled_head(&self.db, Duration::from_secs(10)).await?;
        let mut made = Vec::new();
        while let Some(seal) = self.seal_next().await? {
            made.push(seal);
        }
        Ok(made)
    }

    /// Seals the next events waiting, at most the configured number. `None` when nothing waits.
    /// When another instance recorded the same seal first, its seal is the answer.
    pub async fn seal_next(&self) -> Result<Option<Seal>, AuditError> {
        let latest = latest(&self.db).await?;
        let after = latest.as_ref().map_or(Position::START, Seal::last);
        let events = chain::read_stored(&self.db, after, Position::END, self.per_seal).await?;
        let Some(last) = events.last() else {
            return Ok(None);
        };
        let leaves: Vec<[u8; 32]> = events
            .iter()
            .map(|e| e.stored_hash().unwrap_or_default().0)
            .collect();
        let count = events.len() as i64;
        let mut seal = Seal {
            seal_no: latest.as_ref().map_or(1, |s| s.seal_no + 1),
            last_txid: last.txid,
            last_position: last.position,
            event_count: count,
            total_events: latest.as_ref().map_or(0, |s| s.total_events) + count,
            root: merkle_root(&leaves).to_hex(),
            previous: latest
                .as_ref()
                .map_or(EventHash::GENESIS, Seal::hash)
                .to_hex(),
            sealed_at: chrono::Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            public_key: self.key.public_key_hex(),
            signature: String::new(),
        };
        seal.signature = hex::encode(self.key.signing().sign(&seal.signed_bytes()).to_bytes());
        let inserted = on_db!(&self.db, pool => sqlx::query(INSERT_SEAL)
            .bind(seal.seal_no)
            .bind(seal.last_txid)
            .bind(seal.last_position)
            .bind(seal.event_count)
            .bind(seal.total_events)
            .bind(&seal.root)
            .bind(&seal.previous)
            .bind(&seal.sealed_at)
            .bind(&seal.public_key)
            .bind(&seal.signature)
            .execute(pool)
            .await
            .map(|_| ()));
        match inserted {
            Ok(_) => Ok(Some(seal)),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Ok(numbered(&self.db, seal.seal_no).await?)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// How many events wait unsealed, counting no further than `limit`.
    async fn waiting(&self, limit: i64) -> Result<i64, AuditError> {
        let after = latest(&self.db)
            .await?
            .as_ref()
            .map_or(Position::START, Seal::last);
        Ok(chain::count_final_after(&self.db, after, limit).await?)
    }

    /// Seals for as long as the service runs: as soon as a seal's worth of events waits, and
    /// whatever waits once the interval has passed since the last seal.
    pub async fn run(self) {
        let tick = self.interval.min(Duration::from_secs(1));
        let mut last_sealed = Instant::now();
        loop {
            tokio::time::sleep(tick).await;
            let due = last_sealed.elapsed() >= self.interval;
            let sealed = async {
                let waiting = self.waiting(self.per_seal).await?;
                if waiting >= self.per_seal || (due && waiting > 0) {
                    self.seal_next().await
                } else {
                    Ok(None)
                }
            }
            .await;
            match sealed {
                Ok(Some(seal)) => {
                    tracing::debug!(seal = seal.seal_no, events = seal.event_count, "log sealed");
                    last_sealed = Instant::now();
                }
                Ok(None) if due => last_sealed = Instant::now(),
                Ok(None) => {}
                Err(error) => tracing::warn!(
                    error = %crate::telemetry::ErrorChain(&error),
                    "the log could not be sealed; trying again"
                ),
            }
        }
    }
}

/// The seal numbered `seal_no`, if there is one.
async fn numbered(db: &Db, seal_no: i64) -> Result<Option<Seal>, AuditError> {
    let sql = format!("{SEALS} WHERE seal_no = $1");
    Ok(on_db!(db, pool => sqlx::query_as(&sql).bind(seal_no).fetch_optional(pool).await)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal(key: &AuditKey) -> Seal {
        let mut seal = Seal {
            seal_no: 1,
            last_txid: 0,
            last_position: 9,
            event_count: 9,
            total_events: 9,
            root: merkle_root(&[[1; 32], [2; 32]]).to_hex(),
            previous: EventHash::GENESIS.to_hex(),
            sealed_at: "2026-12-02T09:00:00.000Z".into(),
            public_key: key.public_key_hex(),
            signature: String::new(),
        };
        seal.signature = hex::encode(key.signing().sign(&seal.signed_bytes()).to_bytes());
        seal
    }

    #[test]
    fn a_seal_is_trusted_only_unchanged_and_signed_by_a_trusted_key() {
        let key = AuditKey::from_seed([3; 32]);
        let other = AuditKey::from_seed([4; 32]);
        let good = seal(&key);
        assert!(good.signed_by(&[key.public_key()]));
        assert!(!good.signed_by(&[other.public_key()]));

        let mut changed = good.clone();
        changed.event_count = 8;
        assert!(!changed.signed_by(&[key.public_key()]));
        assert_ne!(changed.hash(), good.hash());

        // Re-signed by another key and claiming it: only trusted if that key is.
        let forged = seal(&other);
        assert!(!forged.signed_by(&[key.public_key()]));
    }

    #[test]
    fn the_merkle_root_depends_on_every_leaf_and_their_order() {
        let root = merkle_root(&[[1; 32], [2; 32], [3; 32]]);
        assert_ne!(merkle_root(&[[2; 32], [1; 32], [3; 32]]), root);
        assert_ne!(merkle_root(&[[1; 32], [2; 32]]), root);
        assert_ne!(merkle_root(&[[1; 32], [2; 32], [3; 32], [3; 32]]), root);
        assert_eq!(merkle_root(&[[1; 32], [2; 32], [3; 32]]), root);
    }
}
