-- Each capture's data key (store/src/personal.rs): the personal fields of its events are sealed
-- with it, AES-256-GCM. `wrapped` is the key itself, encrypted under the master key named by
-- `master` (a fingerprint). Erasure destroys a key by overwriting both; the row stays as the
-- record that it existed, holding nothing that leads back to the person.
CREATE TABLE data_keys
(
    key_id     text PRIMARY KEY,
    capture_id text NOT NULL UNIQUE,
    wrapped    text,
    master     text,
    created_at timestamptz NOT NULL,
    erased_at  timestamptz
);

-- Erasure deletes an erased capture's rows from these views by capture, so they need the index
-- a view whose rows never went could do without.
CREATE INDEX photo_captures_capture ON photo_captures (capture_id);
CREATE INDEX same_photo_index_capture ON same_photo_index (capture_id);

-- How many days after delivery to 学信网 a school's captures are kept before the retention policy
-- erases them; NULL keeps them until erased by hand.
ALTER TABLE schools ADD COLUMN retention_days integer CHECK (retention_days > 0);

-- photo_history now holds a row for every capture of a person, photos or not (erasure finds a
-- person's captures there): rebuilt from the log.
UPDATE projection_checkpoints SET txid = 0, position = 0, updated_at = now()
 WHERE projection = 'photo_history';
