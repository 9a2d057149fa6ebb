-- See the PostgreSQL migration.
CREATE TABLE data_keys
(
    key_id     text PRIMARY KEY,
    capture_id text NOT NULL UNIQUE,
    wrapped    text,
    master     text,
    created_at text NOT NULL,
    erased_at  text
) STRICT;

CREATE INDEX photo_captures_capture ON photo_captures (capture_id);
CREATE INDEX same_photo_index_capture ON same_photo_index (capture_id);

ALTER TABLE schools ADD COLUMN retention_days integer CHECK (retention_days > 0);

UPDATE projection_checkpoints SET txid = 0, position = 0,
       updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
 WHERE projection = 'photo_history';
