-- One-time rewrites of stored data that run as code when the store is opened (for example
-- store/src/seal_existing.rs), each recorded here once it has nothing left to do: opening the
-- store then skips the scan of the whole log that would look for its work again.
CREATE TABLE data_migrations
(
    name         text PRIMARY KEY,
    completed_at timestamptz NOT NULL
);
