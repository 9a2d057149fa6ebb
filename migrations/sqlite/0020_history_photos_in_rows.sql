-- A capture's photos move out of its photo_history document into rows of their own, written once
-- each; see the PostgreSQL migration. The view is rebuilt from the log.
DROP TABLE photo_history;
DROP TABLE photo_captures;

CREATE TABLE photo_history
(
    capture_id text PRIMARY KEY,
    person_key text NOT NULL,
    item       text NOT NULL
) STRICT;
CREATE INDEX photo_history_person ON photo_history (person_key);

CREATE TABLE history_photos
(
    photo_id   text PRIMARY KEY,
    capture_id text NOT NULL,
    item       text NOT NULL
) STRICT;
CREATE INDEX history_photos_capture ON history_photos (capture_id);

UPDATE projection_checkpoints SET txid = 0, position = 0,
       updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
 WHERE projection = 'photo_history';
