-- See the PostgreSQL migration.
CREATE TABLE data_migrations
(
    name         text PRIMARY KEY,
    completed_at text NOT NULL
) STRICT;
