//! Personal information in the log, sealed per person so it can be erased.
//!
//! The fields of an event that say who a student is — their identity, a print order's
//! recipient — are stored encrypted with AES-256-GCM under a *data key* of the person for that
//! capture (one education record: a student with two has two keys, so one school's retention
//! period never erases the record another school still needs). Data keys are stored in
//! `data_keys` wrapped by the *master key* from the configuration, and only there. Erasure
//! destroys the data key: every sealed field of the capture, in the log and in any copy of it
//! made since, reads as erased, while the hash chains and seals, computed over what is stored,
//! still verify.
//!
//! A sealed payload keeps its shape but for the sealed fields, which are replaced by one
//! envelope in their parent object:
//!
//! ```json
//! {"QualificationVerified": {"student": {"id_type": "resident_id",
//!   "sealed": {"key": "<key id>", "nonce": "<hex>", "data": "<hex>"}}, …}}
//! ```
//!
//! `data` is the ciphertext of the fields as one JSON object; the associated data binds it to its
//! capture, event type and place, so an envelope cannot be moved to another event. A snapshot of a
//! capture's state has the same fields sealed the same way (its student, each order's
//! recipient), under the same key; the rest of the state stays in clear.
//!
//! Key ids and capture ids are random: after erasure nothing in an envelope, or in `data_keys`,
//! leads back to the person.

use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use chrono::{DateTime, Utc};
use lru::LruCache;
use photo_ledger_domain::identity::{IdType, StudentIdentity};
use photo_ledger_domain::orders::PrintRequest;
use photo_ledger_domain::values::PrintLayout;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::StoreError;
use crate::{on_db, Db};

/// Where an event keeps personal fields: the object at `parent` (keys from the payload's root)
/// holds `fields`.
struct PersonalFields {
    event_type: &'static str,
    parent: &'static [&'static str],
    fields: &'static [&'static str],
}

const IDENTITY: &[&str] = &[
    "name",
    "id_number",
    "student_number",
    "collection_code",
    "major",
    "level",
    "graduation_year",
];
const RECIPIENT: &[&str] = &["recipient", "phone", "address"];

/// Every personal field an event may hold. The document type stays in clear: it says nothing
/// about who the student is, and an erased identity still has one.
const PERSONAL: &[PersonalFields] = &[
    PersonalFields {
        event_type: "QualificationVerified",
        parent: &["QualificationVerified", "student"],
        fields: IDENTITY,
    },
    PersonalFields {
        event_type: "OrderPlaced",
        parent: &["OrderPlaced", "prints"],
        fields: RECIPIENT,
    },
    PersonalFields {
        event_type: "ReprintOrdered",
        parent: &["ReprintOrdered"],
        fields: RECIPIENT,
    },
];

/// Where a capture's state holds the same fields, for its snapshot (`*`: every value of a map).
const IN_STATE: &[PersonalFields] = &[
    PersonalFields {
        event_type: "snapshot",
        parent: &["qualification", "student"],
        fields: IDENTITY,
    },
    PersonalFields {
        event_type: "snapshot",
        parent: &["orders", "*", "prints"],
        fields: RECIPIENT,
    },
];

/// The event types that may hold personal fields.
pub fn holds_personal_fields(event_type: &str) -> bool {
    PERSONAL.iter().any(|p| p.event_type == event_type)
}

const ENVELOPE: &str = "sealed";
const NONCE_LENGTH: usize = 12;
/// How long a data key read from the database is trusted before it is read again: another
/// instance's erasure reaches this one's reads within this time. The instance that erases
/// forgets the key at once.
const FRESH_FOR: Duration = Duration::from_secs(30);

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Envelope {
    key: String,
    nonce: String,
    data: String,
}

/// A 256-bit key and its fingerprint (the first 16 hex digits of its SHA-256), by which wrapped
/// data keys name the master key that wrapped them.
#[derive(Clone)]
struct Master {
    fingerprint: String,
    cipher: Aes256Gcm,
}

impl Master {
    fn new(key: &[u8; 32]) -> Self {
        Self {
            fingerprint: hex::encode(&Sha256::digest(key)[..8]),
            cipher: Aes256Gcm::new(key.into()),
        }
    }
}

/// The master key that wraps data keys, and the ones it replaced, still able to unwrap the keys
/// they wrapped until `photo-ledger erase rewrap-keys` has rewrapped them all.
#[derive(Clone)]
pub struct MasterKeys {
    current: Master,
    previous: Vec<Master>,
}

impl std::fmt::Debug for MasterKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKeys(current {})", self.current.fingerprint)
    }
}

impl MasterKeys {
    pub fn new(current: &[u8; 32], previous: &[[u8; 32]]) -> Self {
        Self {
            current: Master::new(current),
            previous: previous.iter().map(Master::new).collect(),
        }
    }

    /// The current master key's fingerprint.
    pub fn fingerprint(&self) -> &str {
        &self.current.fingerprint
    }

    fn wrap(&self, key_id: &str, data_key: &[u8; 32]) -> String {
        hex::encode(encrypt(&self.current.cipher, key_id.as_bytes(), data_key))
    }

    fn unwrap(&self, key_id: &str, master: &str, wrapped: &str) -> Result<[u8; 32], KeyError> {
        let master = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|m| m.fingerprint == master)
            .ok_or_else(|| KeyError::UnknownMaster(master.to_string()))?;
        hex::decode(wrapped)
            .ok()
            .and_then(|bytes| decrypt(&master.cipher, key_id.as_bytes(), &bytes))
            .and_then(|key| key.try_into().ok())
            .ok_or_else(|| KeyError::Unwrap(key_id.to_string()))
    }
}

/// Why a sealed field cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("data keys were wrapped by master key {0}, which is not configured: add it to store.previous_master_keys")]
    UnknownMaster(String),
    #[error("data key {0} does not unwrap with its master key: the stored key or the configured master key was changed")]
    Unwrap(String),
    #[error("data key {0} is not in data_keys")]
    Missing(String),
    #[error("capture {0} was erased: nothing personal can be recorded in it")]
    Erased(String),
    #[error("a sealed field of {0} does not decrypt with its data key: the event was altered")]
    Tampered(String),
    #[error("a sealed field of {0} is malformed")]
    Malformed(String),
}

fn encrypt(cipher: &Aes256Gcm, aad: &[u8], plain: &[u8]) -> Vec<u8> {
    let nonce: [u8; NONCE_LENGTH] = rand::random();
    let sealed = cipher
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: plain, aad })
        .expect("AES-GCM encrypts any message this size");
    [&nonce[..], &sealed].concat()
}

fn decrypt(cipher: &Aes256Gcm, aad: &[u8], bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.len() < NONCE_LENGTH {
        return None;
    }
    let (nonce, sealed) = bytes.split_at(NONCE_LENGTH);
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad })
        .ok()
}

/// A person's data key, ready to seal with.
#[derive(Clone)]
pub struct SealingKey {
    id: String,
    key: [u8; 32],
}

impl SealingKey {
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The key a capture's new personal fields are sealed with, from [`KeyRing::for_capture`].
pub struct CaptureKey {
    pub sealing: SealingKey,
    /// The key's row, when it is new: it must be stored in the same transaction as the first
    /// events sealed under it, with [`NewKey::INSERT`] (or its many-rows form), and the outcome
    /// reported with [`KeyRing::stored`] or [`KeyRing::not_stored`].
    pub unstored: Option<NewKey>,
}

/// A new data key's row in `data_keys`, its key wrapped by the master key.
#[derive(Clone)]
pub struct NewKey {
    pub key_id: String,
    pub capture_id: String,
    pub wrapped: String,
    pub master: String,
    pub created_at: DateTime<Utc>,
}

impl NewKey {
    /// Stores the row; storing it again (a retried append) changes nothing, while a different
    /// key for the same capture is a unique violation, so the append fails and is decided again.
    pub const INSERT: &'static str =
        "INSERT INTO data_keys (key_id, capture_id, wrapped, master, created_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key_id) DO NOTHING";

    /// Stores the row on its own, outside any append.
    pub async fn store(&self, db: &Db) -> Result<(), StoreError> {
        on_db!(db, pool => sqlx::query(Self::INSERT)
            .bind(&self.key_id)
            .bind(&self.capture_id)
            .bind(&self.wrapped)
            .bind(&self.master)
            .bind(self.created_at)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }
}

/// What the ring holds for a capture.
#[derive(Clone)]
enum HeldKey {
    Stored(SealingKey),
    /// Made here, its row not yet stored.
    Unstored(SealingKey, NewKey),
    /// Its row went with an append that failed: whether another writer stored a key for the
    /// capture is read again.
    Unsure,
}

#[derive(Clone)]
enum DataKey {
    Live([u8; 32]),
    Erased,
}

struct Cached {
    key: DataKey,
    read_at: Instant,
}

/// The data keys, read from `data_keys` and unwrapped on first use, and kept for
/// [`FRESH_FOR`], the most recently used of them only: memory stays bounded however many
/// captures the process meets.
pub struct KeyRing {
    db: Db,
    master: MasterKeys,
    by_id: Mutex<LruCache<String, Cached>>,
    by_capture: Mutex<LruCache<String, HeldKey>>,
}

/// Keys held by id: many more than the distinct keys of one batch of events read, so a batch's
/// keys stay held from [`KeyRing::load`] until they are used.
const HELD_BY_ID: NonZeroUsize = NonZeroUsize::new(65_536).unwrap();
/// Keys held by capture, for the captures recording personal fields now.
const HELD_BY_CAPTURE: NonZeroUsize = NonZeroUsize::new(16_384).unwrap();

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyRing({:?})", self.master)
    }
}

type KeyRow = (String, Option<String>, Option<String>);

impl KeyRing {
    pub fn new(db: Db, master: MasterKeys) -> Self {
        Self {
            db,
            master,
            by_id: Mutex::new(LruCache::new(HELD_BY_ID)),
            by_capture: Mutex::new(LruCache::new(HELD_BY_CAPTURE)),
        }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The data key a capture's new personal fields are sealed with. A capture that has none
    /// gets a new one, made in memory only: its row goes to the database with the first events
    /// sealed under it, in their transaction ([`CaptureKey::unstored`]), so making a key costs no
    /// commit of its own and no key is stored without something sealed under it.
    ///
    /// `has_events` says whether the capture has recorded anything: only then can it already
    /// have a key stored, which is read when not held.
    pub async fn for_capture(
        &self,
        capture_id: &str,
        has_events: bool,
    ) -> Result<CaptureKey, StoreError> {
        let held = lock(&self.by_capture).get(capture_id).cloned();
        let ask = match held {
            Some(HeldKey::Stored(sealing)) => {
                return Ok(CaptureKey {
                    sealing,
                    unstored: None,
                })
            }
            Some(HeldKey::Unstored(sealing, row)) => {
                return Ok(CaptureKey {
                    sealing,
                    unstored: Some(row),
                })
            }
            Some(HeldKey::Unsure) => true,
            None => has_events,
        };
        if ask {
            if let Some(sealing) = self.stored_key(capture_id).await? {
                lock(&self.by_capture)
                    .put(capture_id.to_string(), HeldKey::Stored(sealing.clone()));
                return Ok(CaptureKey {
                    sealing,
                    unstored: None,
                });
            }
        }
        let key_id = uuid::Uuid::new_v4().to_string();
        let data_key: [u8; 32] = rand::random();
        let row = NewKey {
            wrapped: self.master.wrap(&key_id, &data_key),
            master: self.master.fingerprint().to_string(),
            key_id: key_id.clone(),
            capture_id: capture_id.to_string(),
            created_at: Utc::now(),
        };
        let sealing = SealingKey {
            id: key_id,
            key: data_key,
        };
        self.hold_key(&sealing.id, DataKey::Live(data_key));
        lock(&self.by_capture).put(
            capture_id.to_string(),
            HeldKey::Unstored(sealing.clone(), row.clone()),
        );
        Ok(CaptureKey {
            sealing,
            unstored: Some(row),
        })
    }

    /// Notes that the events carrying a new key's row were stored, and the key with them.
    pub fn stored(&self, capture_id: &str, key_id: &str) {
        let mut held = lock(&self.by_capture);
        if let Some(HeldKey::Unstored(sealing, _)) = held.peek(capture_id) {
            if sealing.id == key_id {
                let sealing = sealing.clone();
                held.put(capture_id.to_string(), HeldKey::Stored(sealing));
            }
        }
    }

    /// Notes that the events carrying a new key's row were not stored: whether the capture has
    /// a key (another writer's, stored meanwhile) is read again before its next seal.
    pub fn not_stored(&self, capture_id: &str, key_id: &str) {
        let mut held = lock(&self.by_capture);
        if let Some(HeldKey::Unstored(sealing, _)) = held.peek(capture_id) {
            if sealing.id == key_id {
                held.put(capture_id.to_string(), HeldKey::Unsure);
            }
        }
    }

    /// The capture's stored data key, if it has one.
    async fn stored_key(&self, capture_id: &str) -> Result<Option<SealingKey>, StoreError> {
        let row: Option<KeyRow> = on_db!(&self.db, pool => sqlx::query_as(
            "SELECT key_id, wrapped, master FROM data_keys WHERE capture_id = $1")
            .bind(capture_id)
            .fetch_optional(pool)
            .await)?;
        let Some((key_id, wrapped, master)) = row else {
            return Ok(None);
        };
        match self.unwrap_row(&key_id, wrapped, master)? {
            DataKey::Live(key) => {
                self.hold_key(&key_id, DataKey::Live(key));
                Ok(Some(SealingKey { id: key_id, key }))
            }
            DataKey::Erased => Err(KeyError::Erased(capture_id.to_string()).into()),
        }
    }

    fn hold_key(&self, key_id: &str, key: DataKey) {
        lock(&self.by_id).put(
            key_id.to_string(),
            Cached {
                key,
                read_at: Instant::now(),
            },
        );
    }

    /// The key [`crate::seal_existing`] seals a capture's fields in clear with: its data key,
    /// stored at once, or for a capture already erased a key nobody keeps, under the id of the
    /// capture's destroyed key, so what it seals reads as erased.
    pub(crate) async fn for_migration(
        &self,
        capture_id: &str,
        erased: bool,
    ) -> Result<SealingKey, StoreError> {
        if !erased {
            let key = self.for_capture(capture_id, true).await?;
            if let Some(row) = key.unstored {
                row.store(&self.db).await?;
                self.stored(capture_id, &row.key_id);
            }
            return Ok(key.sealing);
        }
        self.record_erased(capture_id).await?;
        let key_id: String = on_db!(&self.db, pool => sqlx::query_scalar(
            "SELECT key_id FROM data_keys WHERE capture_id = $1")
            .bind(capture_id)
            .fetch_one(pool)
            .await)?;
        let throwaway: [u8; 32] = rand::random();
        Ok(SealingKey {
            id: key_id,
            key: throwaway,
        })
    }

    /// Records a capture that never had a data key as erased, so nothing can be sealed for it
    /// later.
    async fn record_erased(&self, capture_id: &str) -> Result<(), StoreError> {
        let now = Utc::now();
        on_db!(&self.db, pool => sqlx::query(
            "INSERT INTO data_keys (key_id, capture_id, wrapped, master, created_at, erased_at)
             VALUES ($1, $2, NULL, NULL, $3, $3) ON CONFLICT (capture_id) DO NOTHING")
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(capture_id)
            .bind(now)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    fn unwrap_row(
        &self,
        key_id: &str,
        wrapped: Option<String>,
        master: Option<String>,
    ) -> Result<DataKey, StoreError> {
        Ok(match (wrapped, master) {
            (Some(wrapped), Some(master)) => {
                let key = self.master.unwrap(key_id, &master, &wrapped)?;
                DataKey::Live(key)
            }
            _ => DataKey::Erased,
        })
    }

    /// Reads the data keys these payloads' envelopes name that are not held fresh, in one query.
    pub async fn load<'a>(
        &self,
        payloads: impl IntoIterator<Item = &'a Value>,
    ) -> Result<(), StoreError> {
        let mut wanted: Vec<String> = Vec::new();
        {
            let mut held = lock(&self.by_id);
            let mut seen = std::collections::HashSet::new();
            for payload in payloads {
                envelope_keys(payload, &mut |id| {
                    let fresh = held
                        .get(id)
                        .is_some_and(|c| c.read_at.elapsed() < FRESH_FOR);
                    if !fresh && seen.insert(id.to_string()) {
                        wanted.push(id.to_string());
                    }
                });
            }
        }
        if wanted.is_empty() {
            return Ok(());
        }
        let rows: Vec<KeyRow> = match &self.db {
            Db::Postgres(pool) => {
                sqlx::query_as(
                    "SELECT key_id, wrapped, master FROM data_keys WHERE key_id = ANY($1)",
                )
                .bind(&wanted)
                .fetch_all(pool)
                .await?
            }
            Db::Sqlite(pool) => {
                let mut q = sqlx::QueryBuilder::new(
                    "SELECT key_id, wrapped, master FROM data_keys WHERE key_id IN (",
                );
                let mut ids = q.separated(", ");
                for id in &wanted {
                    ids.push_bind(id);
                }
                q.push(")");
                q.build_query_as().fetch_all(pool).await?
            }
        };
        let now = Instant::now();
        let mut unwrapped = Vec::with_capacity(rows.len());
        for (key_id, wrapped, master) in rows {
            let key = self.unwrap_row(&key_id, wrapped, master)?;
            unwrapped.push((key_id, key));
        }
        let mut held = lock(&self.by_id);
        for (key_id, key) in unwrapped {
            held.put(key_id, Cached { key, read_at: now });
        }
        Ok(())
    }

    fn key(&self, key_id: &str) -> Result<DataKey, KeyError> {
        lock(&self.by_id)
            .get(key_id)
            .map(|c| c.key.clone())
            .ok_or_else(|| KeyError::Missing(key_id.to_string()))
    }

    /// Seals the personal fields of an event's payload under `key`; `false` when it holds none
    /// in clear (none of this type, or sealed already).
    pub fn seal_event(
        &self,
        key: &SealingKey,
        capture_id: &str,
        event_type: &str,
        payload: &mut Value,
    ) -> bool {
        let specs = PERSONAL.iter().filter(|p| p.event_type == event_type);
        seal_fields(key, capture_id, specs, payload)
    }

    /// Opens the personal fields of an event's payload in place, with the keys [`Self::load`]
    /// read; an erased person's fields read as [`erased_fields`] say.
    pub fn open_event(
        &self,
        capture_id: &str,
        event_type: &str,
        payload: &mut Value,
    ) -> Result<(), StoreError> {
        let specs = PERSONAL.iter().filter(|p| p.event_type == event_type);
        self.open_fields(capture_id, specs, payload)?;
        Ok(())
    }

    /// Seals the personal fields of a capture's state, for its snapshot; the rest stays in
    /// clear, as compact as the state itself.
    pub fn seal_snapshot(&self, key: &SealingKey, capture_id: &str, state: &mut Value) {
        seal_fields(key, capture_id, IN_STATE.iter(), state);
    }

    /// A snapshot's state with its personal fields opened (a state stored before sealing comes
    /// back as it was), or `None` when its person was erased (the state is then read from the
    /// events).
    pub fn open_snapshot(
        &self,
        capture_id: &str,
        mut stored: Value,
    ) -> Result<Option<Value>, StoreError> {
        let live = self.open_fields(capture_id, IN_STATE.iter(), &mut stored)?;
        Ok(live.then_some(stored))
    }

    /// Opens, in place, the envelopes `specs` place in `value`; `false` when a key was
    /// destroyed (those fields then read as erased).
    fn open_fields<'s>(
        &self,
        capture_id: &str,
        specs: impl Iterator<Item = &'s PersonalFields>,
        value: &mut Value,
    ) -> Result<bool, StoreError> {
        let mut live = true;
        for spec in specs {
            let mut failed = None;
            for_each_parent(value, spec.parent, &mut |path, parent| {
                let Some(envelope) = parent.remove(ENVELOPE) else {
                    // Stored before sealing existed: the fields are in clear.
                    return;
                };
                let aad = associated_data(capture_id, spec.event_type, &path);
                match self.open(capture_id, &aad, envelope) {
                    Ok(Some(Value::Object(fields))) => parent.extend(fields),
                    Ok(Some(_)) => failed = Some(KeyError::Malformed(capture_id.to_string())),
                    Ok(None) => {
                        live = false;
                        parent.extend(erased_fields(spec.fields));
                    }
                    Err(e) => failed = Some(e),
                }
            });
            if let Some(e) = failed {
                return Err(e.into());
            }
        }
        Ok(live)
    }

    /// The envelope's JSON, or `None` when its key was destroyed.
    fn open(
        &self,
        capture_id: &str,
        aad: &[u8],
        envelope: Value,
    ) -> Result<Option<Value>, KeyError> {
        let malformed = || KeyError::Malformed(capture_id.to_string());
        let envelope: Envelope = serde_json::from_value(envelope).map_err(|_| malformed())?;
        let cipher = match self.key(&envelope.key)? {
            DataKey::Live(key) => Aes256Gcm::new((&key).into()),
            DataKey::Erased => return Ok(None),
        };
        let nonce = hex::decode(&envelope.nonce).map_err(|_| malformed())?;
        let data = hex::decode(&envelope.data).map_err(|_| malformed())?;
        let plain = decrypt(&cipher, aad, &[nonce, data].concat())
            .ok_or_else(|| KeyError::Tampered(capture_id.to_string()))?;
        serde_json::from_slice(&plain)
            .map(Some)
            .map_err(|_| malformed())
    }

    /// Destroys a capture's data key: its wrapped bytes are overwritten, the row stays as the
    /// record that the key once existed. Destroying it again changes nothing.
    pub async fn destroy(&self, capture_id: &str) -> Result<(), StoreError> {
        let destroyed: Vec<(String,)> = on_db!(&self.db, pool => sqlx::query_as(
            "UPDATE data_keys SET wrapped = NULL, master = NULL, erased_at = coalesce(erased_at, $2)
              WHERE capture_id = $1 RETURNING key_id")
            .bind(capture_id)
            .bind(Utc::now())
            .fetch_all(pool)
            .await)?;
        if destroyed.is_empty() {
            // A capture whose events were stored before sealing existed has no key yet.
            self.record_erased(capture_id).await?;
        }
        if let Db::Postgres(pool) = &self.db {
            // The old row version, wrapped key and all, stays on disk until vacuumed.
            if let Err(e) = sqlx::query("VACUUM data_keys").execute(pool).await {
                tracing::warn!(error = %e, "could not vacuum data_keys after destroying a key");
            }
        }
        let now = Instant::now();
        let mut held = lock(&self.by_id);
        for (key_id,) in destroyed {
            held.put(
                key_id,
                Cached {
                    key: DataKey::Erased,
                    read_at: now,
                },
            );
        }
        lock(&self.by_capture).pop(capture_id);
        Ok(())
    }

    /// Rewraps every data key under the current master key; returns how many were rewrapped.
    pub async fn rewrap(&self) -> Result<u64, StoreError> {
        let rows: Vec<KeyRow> = on_db!(&self.db, pool => sqlx::query_as(
            "SELECT key_id, wrapped, master FROM data_keys
              WHERE wrapped IS NOT NULL AND master <> $1")
            .bind(self.master.fingerprint())
            .fetch_all(pool)
            .await)?;
        let mut rewrapped = 0;
        for (key_id, wrapped, master) in rows {
            let (Some(wrapped), Some(master)) = (wrapped, master) else {
                continue;
            };
            let key = self.master.unwrap(&key_id, &master, &wrapped)?;
            let done = on_db!(&self.db, pool => sqlx::query(
                "UPDATE data_keys SET wrapped = $2, master = $3
                  WHERE key_id = $1 AND master = $4")
                .bind(&key_id)
                .bind(self.master.wrap(&key_id, &key))
                .bind(self.master.fingerprint())
                .bind(&master)
                .execute(pool)
                .await
                .map(|done| done.rows_affected()))?;
            rewrapped += done;
        }
        Ok(rewrapped)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn seal(key: &SealingKey, aad: &[u8], plain: &[u8]) -> Value {
    let sealed = encrypt(&Aes256Gcm::new((&key.key).into()), aad, plain);
    let (nonce, data) = sealed.split_at(NONCE_LENGTH);
    serde_json::to_value(Envelope {
        key: key.id.clone(),
        nonce: hex::encode(nonce),
        data: hex::encode(data),
    })
    .expect("envelopes serialise")
}

/// Seals, under `key`, the fields each spec names wherever its parent is in `value`; `false`
/// when there was nothing in clear to seal.
fn seal_fields<'s>(
    key: &SealingKey,
    capture_id: &str,
    specs: impl Iterator<Item = &'s PersonalFields>,
    value: &mut Value,
) -> bool {
    let mut sealed = false;
    for spec in specs {
        for_each_parent(value, spec.parent, &mut |path, parent| {
            if parent.contains_key(ENVELOPE) {
                return;
            }
            let mut fields = Map::new();
            for field in spec.fields {
                if let Some(value) = parent.remove(*field) {
                    fields.insert((*field).to_string(), value);
                }
            }
            if fields.is_empty() {
                return;
            }
            let aad = associated_data(capture_id, spec.event_type, &path);
            let plain = serde_json::to_vec(&fields).expect("JSON values serialise");
            parent.insert(ENVELOPE.to_string(), seal(key, &aad, &plain));
            sealed = true;
        });
    }
    sealed
}

/// The associated data of an envelope: what it was sealed in, and where.
fn associated_data(capture_id: &str, kind: &str, path: &str) -> Vec<u8> {
    format!("photo-ledger personal v1\0{capture_id}\0{kind}\0{path}").into_bytes()
}

/// Calls `found` with each object at `path` in `value` (`*` stands for every value of a map),
/// and its path with the map keys filled in, joined with `/`.
fn for_each_parent(
    value: &mut Value,
    path: &[&str],
    found: &mut impl FnMut(String, &mut Map<String, Value>),
) {
    fn walk(
        value: &mut Value,
        rest: &[&str],
        at: &mut Vec<String>,
        found: &mut impl FnMut(String, &mut Map<String, Value>),
    ) {
        let Value::Object(map) = value else {
            return;
        };
        let Some((step, rest)) = rest.split_first() else {
            found(at.join("/"), map);
            return;
        };
        if *step == "*" {
            for (key, child) in map.iter_mut() {
                at.push(key.clone());
                walk(child, rest, at, found);
                at.pop();
            }
        } else if let Some(child) = map.get_mut(*step) {
            at.push((*step).to_string());
            walk(child, rest, at, found);
            at.pop();
        }
    }
    walk(value, path, &mut Vec::new(), found);
}

/// Calls `found` with the key id of every envelope in `payload` (an event's or a snapshot's).
fn envelope_keys(payload: &Value, found: &mut impl FnMut(&str)) {
    match payload {
        Value::Object(map) => {
            if let Some(key) = map
                .get(ENVELOPE)
                .and_then(|e| e.get("key"))
                .and_then(Value::as_str)
            {
                found(key);
            }
            for value in map.values() {
                envelope_keys(value, found);
            }
        }
        Value::Array(values) => values.iter().for_each(|v| envelope_keys(v, found)),
        _ => {}
    }
}

/// What erased fields read as: exactly what an erased capture's own state holds
/// ([`StudentIdentity::erased`], [`PrintRequest::erase_recipient`]), so views rebuilt after an
/// erasure equal the views the erasure left.
pub fn erased_fields(fields: &[&str]) -> Map<String, Value> {
    let identity = serde_json::to_value(StudentIdentity::erased(IdType::ResidentId))
        .expect("identities serialise");
    let mut prints = PrintRequest {
        layout: PrintLayout::One,
        sheets: 0,
        recipient: String::new(),
        phone: String::new(),
        address: String::new(),
    };
    prints.erase_recipient();
    let prints = serde_json::to_value(prints).expect("print requests serialise");
    fields
        .iter()
        .map(|field| {
            let value = identity
                .get(*field)
                .or_else(|| prints.get(*field))
                .cloned()
                .unwrap_or(Value::Null);
            ((*field).to_string(), value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_keys_unwrap_what_they_and_their_predecessors_wrapped() {
        let old = MasterKeys::new(&[1; 32], &[]);
        let wrapped = old.wrap("k1", &[7; 32]);
        let rotated = MasterKeys::new(&[2; 32], &[[1; 32]]);
        assert_eq!(
            rotated.unwrap("k1", old.fingerprint(), &wrapped).unwrap(),
            [7; 32]
        );
        assert!(matches!(
            MasterKeys::new(&[2; 32], &[]).unwrap("k1", old.fingerprint(), &wrapped),
            Err(KeyError::UnknownMaster(_))
        ));
        // A wrapped key is bound to its key id.
        assert!(matches!(
            old.unwrap("k2", old.fingerprint(), &wrapped),
            Err(KeyError::Unwrap(_))
        ));
    }

    #[test]
    fn erased_fields_read_as_an_erased_identity_and_recipient() {
        let fields = erased_fields(&["name", "id_number", "student_number", "recipient", "phone"]);
        assert_eq!(fields["name"], "已删除");
        assert_eq!(fields["id_number"], "");
        assert_eq!(fields["student_number"], Value::Null);
        assert_eq!(fields["recipient"], "已删除");
        assert_eq!(fields["phone"], "");
    }

    #[test]
    fn parents_are_found_through_every_value_of_a_map() {
        let mut state = serde_json::json!({"orders": {
            "o1": {"prints": {"recipient": "a"}},
            "o2": {"prints": null},
            "o3": {"prints": {"recipient": "b"}},
        }});
        let mut found = vec![];
        for_each_parent(&mut state, &["orders", "*", "prints"], &mut |path, _| {
            found.push(path)
        });
        assert_eq!(found, ["orders/o1/prints", "orders/o3/prints"]);
    }

    #[test]
    fn a_state_keeps_its_shape_with_only_the_personal_fields_sealed() {
        let key = SealingKey {
            id: "k1".into(),
            key: [3; 32],
        };
        let mut state = serde_json::json!({
            "qualification": {"student": {"name": "吴晓兰", "id_type": "resident_id"}},
            "orders": {"o1": {"prints": {"recipient": "吴晓兰", "sheets": 2}}},
            "uploads": ["p1"],
        });
        assert!(seal_fields(&key, "c1", IN_STATE.iter(), &mut state));
        let text = state.to_string();
        assert!(!text.contains("吴晓兰"), "{text}");
        assert_eq!(state["uploads"], serde_json::json!(["p1"]));
        assert_eq!(state["qualification"]["student"]["id_type"], "resident_id");
        assert_eq!(state["orders"]["o1"]["prints"]["sheets"], 2);
        assert!(
            !seal_fields(&key, "c1", IN_STATE.iter(), &mut state),
            "sealed once"
        );
    }

    #[test]
    fn envelopes_are_found_wherever_they_are() {
        let payload = serde_json::json!({"A": {"student": {"sealed": {"key": "k1"}}, "x": [{"sealed": {"key": "k2"}}]}});
        let mut found = vec![];
        envelope_keys(&payload, &mut |k| found.push(k.to_string()));
        found.sort();
        assert_eq!(found, ["k1", "k2"]);
    }
}
