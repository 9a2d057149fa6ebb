-- A capture's photos move out of its photo_history document into rows of their own. The document
-- held every photo of the capture, a few kilobytes of JSON for a capture with many, and was
-- written again, whole, with every photo the capture took: the cost of each photo grew with the
-- photos before it. A photo's row is written once and never changes; the capture's row keeps what
-- its photos share and changes only when the capture is identified or approved.
--
-- history_photos takes over photo_captures' part (a photo's capture, for the photo routes'
-- access checks) and adds the photo's kind and time. Its indexes are photo_captures' two: a hash
-- index by photo id, and the capture's (erasure deletes by capture; a person's history joins
-- on it). The view is rebuilt from the log.
DROP TABLE photo_history;
DROP TABLE photo_captures;

CREATE TABLE photo_history
(
    capture_id text PRIMARY KEY,
    person_key text NOT NULL,
    item       json NOT NULL
);
CREATE INDEX photo_history_person ON photo_history (person_key);

CREATE TABLE history_photos
(
    photo_id   text NOT NULL,
    capture_id text NOT NULL,
    item       json NOT NULL
);
CREATE INDEX history_photos_photo ON history_photos USING hash (photo_id);
CREATE INDEX history_photos_capture ON history_photos (capture_id);

UPDATE projection_checkpoints SET txid = 0, position = 0, updated_at = now()
 WHERE projection = 'photo_history';
