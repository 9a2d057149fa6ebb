-- The append-only event log: sqlite-es's own columns and primary key, so its inserts work
-- unchanged and a second writer of the same (aggregate, sequence) is a conflict. SQLite has one
-- writer at a time, so rowid order is commit order: the rowid is the global position. (VACUUM
-- may renumber rowids of a table without an INTEGER PRIMARY KEY; this database is never
-- vacuumed.)
CREATE TABLE events
(
    aggregate_type text                          NOT NULL,
    aggregate_id   text                          NOT NULL,
    sequence       integer CHECK (sequence >= 0) NOT NULL,
    event_type     text                          NOT NULL,
    event_version  text                          NOT NULL,
    payload        text                          NOT NULL,
    metadata       text                          NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
) STRICT;

CREATE INDEX events_command_id ON events (aggregate_id, json_extract(metadata, '$.command_id'));

-- The snapshot cache; see the PostgreSQL migration.
CREATE TABLE snapshots
(
    aggregate_type text                               NOT NULL,
    aggregate_id   text                               NOT NULL,
    last_sequence  integer CHECK (last_sequence >= 0) NOT NULL,
    payload        text                               NOT NULL,
    taken_at       text                               NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (aggregate_type, aggregate_id)
) STRICT;

CREATE TABLE command_outcomes
(
    aggregate_id text NOT NULL,
    command_id   text NOT NULL,
    command      text NOT NULL,
    outcome      text NOT NULL,
    recorded_at  text NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (aggregate_id, command_id)
) STRICT;
