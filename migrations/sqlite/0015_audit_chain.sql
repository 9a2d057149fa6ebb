-- Tamper evidence; see the PostgreSQL migration and docs/audit.md.
ALTER TABLE events ADD COLUMN hash text CHECK (hash IS NULL OR (length(hash) = 64 AND hash NOT GLOB '*[^0-9a-f]*'));
ALTER TABLE events ADD COLUMN prev_hash text CHECK (prev_hash IS NULL OR (length(prev_hash) = 64 AND prev_hash NOT GLOB '*[^0-9a-f]*'));
CREATE INDEX events_unchained ON events (aggregate_id) WHERE hash IS NULL;

CREATE TABLE audit_seals
(
    seal_no       integer PRIMARY KEY CHECK (seal_no > 0),
    last_txid     integer NOT NULL,
    last_position integer NOT NULL,
    event_count   integer NOT NULL CHECK (event_count > 0),
    total_events  integer NOT NULL,
    root          text    NOT NULL,
    previous      text    NOT NULL,
    sealed_at     text    NOT NULL,
    public_key    text    NOT NULL,
    signature     text    NOT NULL
) STRICT;
