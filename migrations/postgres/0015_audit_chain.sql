-- Tamper evidence (docs/audit.md). Every event carries the SHA-256 of its canonical bytes chained
-- to the previous event of the same capture (`prev_hash`; 64 zeros for a capture's first event),
-- computed by the journal when it appends. Per-capture chains need no global serial point, so
-- group commit and concurrent appends stay as they were. Events written before this migration
-- have no hash until `photo-ledger-store`'s one-time chaining fills them in, before the first
-- seal; after a seal exists an unhashed event is never chained, only reported.
ALTER TABLE events ADD COLUMN hash text CHECK (hash ~ '^[0-9a-f]{64}$');
ALTER TABLE events ADD COLUMN prev_hash text CHECK (prev_hash ~ '^[0-9a-f]{64}$');
CREATE INDEX events_unchained ON events (aggregate_id) WHERE hash IS NULL;

-- Seals: a signed digest over every event appended since the previous seal, in global order. The
-- range is (previous seal's last position, last position]; `root` is the Merkle root of the
-- range's event hashes; `previous` is the previous seal's hash, so the latest seal commits to the
-- whole log. `sealed_at` is text: the signed bytes must read back exactly.
CREATE TABLE audit_seals
(
    seal_no       bigint PRIMARY KEY CHECK (seal_no > 0),
    last_txid     bigint NOT NULL,
    last_position bigint NOT NULL,
    event_count   bigint NOT NULL CHECK (event_count > 0),
    total_events  bigint NOT NULL,
    root          text   NOT NULL,
    previous      text   NOT NULL,
    sealed_at     text   NOT NULL,
    public_key    text   NOT NULL,
    signature     text   NOT NULL
);
