-- A capture's status row is rewritten by almost every event of the capture (each photo moves its
-- `updated_at`), while its owner, school and status seldom change. An index holding
-- `updated_at` made every such rewrite add an entry to each of the table's three indexes; with
-- none holding it, PostgreSQL can update the row on its own page without touching any index
-- (a heap-only update), given room on the page, which the fill factor leaves. A student has a
-- handful of captures, so ordering them by `updated_at` needs no index.
DROP INDEX capture_status_owner;
CREATE INDEX capture_status_owner ON capture_status (owner);
ALTER TABLE capture_status SET (fillfactor = 70);
