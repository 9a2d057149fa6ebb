-- photo_history keeps one row per capture, holding all its photos, instead of one per photo: a
-- photo then costs no row and no index entries of its own when the view is written or rebuilt.
-- The capture a photo belongs to moves to photo_captures. The view is rebuilt from the log.
DROP TABLE photo_history;

-- Rows of a few kilobytes (a capture with many photos) are kept whole and uncompressed: they are
-- rewritten whenever the capture's photos change, and compressing them costs more than it saves.
CREATE TABLE photo_history
(
    capture_id text PRIMARY KEY,
    person_key text  NOT NULL,
    item       json  NOT NULL
) WITH (toast_tuple_target = 8160);
CREATE INDEX photo_history_person ON photo_history (person_key);

-- A photo's row never changes once written. Looked up by photo id only, through a hash index:
-- an entry costs less than a btree's, and ids are unique by construction (fresh UUIDs), which
-- the projector keeps by replacing a capture's rows by their photo ids.
CREATE TABLE photo_captures
(
    photo_id   text NOT NULL,
    capture_id text NOT NULL
);
CREATE INDEX photo_captures_photo ON photo_captures USING hash (photo_id);

UPDATE projection_checkpoints SET txid = 0, position = 0, updated_at = now()
 WHERE projection = 'photo_history';

-- View documents are stored as json, the text the projector wrote, like the events themselves:
-- nothing queries inside them, so jsonb's conversion on every write, and back to text on every
-- read, bought nothing.
ALTER TABLE capture_status ALTER COLUMN view TYPE json;
ALTER TABLE review_queue ALTER COLUMN item TYPE json;
ALTER TABLE courier_orders ALTER COLUMN item TYPE json;
