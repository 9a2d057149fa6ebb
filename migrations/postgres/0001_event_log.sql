-- The append-only event log. Columns and primary key are postgres-es's own, so its inserts work
-- unchanged and a second writer of the same (aggregate, sequence) surfaces as an optimistic-
-- concurrency conflict.
CREATE TABLE events
(
    aggregate_type text                         NOT NULL,
    aggregate_id   text                         NOT NULL,
    sequence       bigint CHECK (sequence >= 0) NOT NULL,
    event_type     text                         NOT NULL,
    event_version  text                         NOT NULL,
    payload        json                         NOT NULL,
    metadata       json                         NOT NULL,
    -- The global order. A sequence value becomes visible at commit, and commits happen out of
    -- order, so `position` alone would let a reader skip a late committer. Each row also records
    -- its writing transaction; readers only consume rows whose transaction is older than every
    -- transaction still in flight (pg_snapshot_xmin), and order and checkpoint by
    -- (txid, position). Once below the horizon, no new row can ever sort before the checkpoint.
    txid           xid8                         NOT NULL DEFAULT pg_current_xact_id(),
    position       bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

CREATE UNIQUE INDEX events_global_order ON events (txid, position);

-- Finds whether a client's command id was already recorded for a capture, without scanning its
-- history.
CREATE INDEX events_command_id ON events (aggregate_id, (metadata ->> 'command_id'));

-- Wakes projectors (LISTEN photo_ledger_events) on every insert statement. The payload is empty:
-- listeners read the log from their own checkpoints.
CREATE FUNCTION notify_event_log() RETURNS trigger LANGUAGE plpgsql AS
$$
BEGIN
    PERFORM pg_notify('photo_ledger_events', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER events_notify
    AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION notify_event_log();

-- The snapshot cache: the aggregate folded up to last_sequence. Written after the events commit
-- and only ever moved forward; loading always reads the events after it, so a missing or stale
-- snapshot costs time, never correctness.
CREATE TABLE snapshots
(
    aggregate_type text                              NOT NULL,
    aggregate_id   text                              NOT NULL,
    last_sequence  bigint CHECK (last_sequence >= 0) NOT NULL,
    payload        json                              NOT NULL,
    taken_at       timestamptz                       NOT NULL DEFAULT now(),
    PRIMARY KEY (aggregate_type, aggregate_id)
);

-- The first outcome of every client command id, so a retried command answers the same and
-- records nothing new.
CREATE TABLE command_outcomes
(
    aggregate_id text        NOT NULL,
    command_id   text        NOT NULL,
    command      text        NOT NULL,
    outcome      jsonb       NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    -- Scoped by capture: a client's id can never collide with another capture's.
    PRIMARY KEY (aggregate_id, command_id)
);
