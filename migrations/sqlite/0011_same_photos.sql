-- Every standardised photo's perceptual hash, for the same-photo (同版) search. The service keeps
-- the hashes in memory and reads the rows written since it last looked, by `added`: numbers only
-- grow (AUTOINCREMENT never gives a deleted row's number again), so nothing written is missed.
CREATE TABLE same_photo_index
(
    added          integer PRIMARY KEY AUTOINCREMENT,
    photo_id       text NOT NULL UNIQUE,
    capture_id     text NOT NULL,
    person_key     text NOT NULL,
    hash           text NOT NULL,
    school         text NOT NULL,
    education_type text NOT NULL
) STRICT;
-- The rows of the hashes a search finds.
CREATE INDEX same_photo_index_hash ON same_photo_index (hash);
