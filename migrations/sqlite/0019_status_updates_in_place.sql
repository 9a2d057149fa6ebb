-- A capture's status row is rewritten by almost every event of the capture (each photo moves its
-- `updated_at`), while its owner seldom changes. Without `updated_at` in the owner's index, such
-- a rewrite leaves that index alone. A student has a handful of captures, so ordering them by
-- `updated_at` needs no index.
DROP INDEX capture_status_owner;
CREATE INDEX capture_status_owner ON capture_status (owner);
