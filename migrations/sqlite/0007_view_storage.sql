-- photo_history keeps one row per capture, holding all its photos, instead of one per photo; the
-- capture a photo belongs to moves to photo_captures. The view is rebuilt from the log.
DROP TABLE photo_history;

CREATE TABLE photo_history
(
    capture_id text PRIMARY KEY,
    person_key text NOT NULL,
    item       text NOT NULL
) STRICT;
CREATE INDEX photo_history_person ON photo_history (person_key);

CREATE TABLE photo_captures
(
    photo_id   text PRIMARY KEY,
    capture_id text NOT NULL
) STRICT, WITHOUT ROWID;

UPDATE projection_checkpoints SET txid = 0, position = 0,
       updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
 WHERE projection = 'photo_history';
