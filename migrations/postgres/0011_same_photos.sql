-- Every standardised photo's perceptual hash, for the same-photo (同版) search. The service keeps
-- the hashes in memory and reads the rows written since it last looked, by `added`: one projector
-- writes at a time, so numbers become visible in order and nothing written is missed.
CREATE TABLE same_photo_index
(
    added          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    photo_id       text NOT NULL UNIQUE,
    capture_id     text NOT NULL,
    person_key     text NOT NULL,
    hash           text NOT NULL,
    school         text NOT NULL,
    education_type text NOT NULL
);
-- The rows of the hashes a search finds.
CREATE INDEX same_photo_index_hash ON same_photo_index (hash);
