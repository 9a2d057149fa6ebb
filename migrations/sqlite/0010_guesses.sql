-- See the PostgreSQL migration for what each table is for.
CREATE TABLE guesses
(
    guess_id text PRIMARY KEY,
    lock_key text    NOT NULL,
    at       text    NOT NULL,
    wrong    integer NOT NULL
) STRICT;
CREATE INDEX guesses_key ON guesses (lock_key, at);

ALTER TABLE verification_locks RENAME TO guess_locks;

CREATE TABLE guess_lock_lifts
(
    lift_id      integer PRIMARY KEY AUTOINCREMENT,
    lock_key     text NOT NULL,
    locked_until text NOT NULL,
    lifted_by    text NOT NULL,
    reason       text NOT NULL,
    at           text NOT NULL
) STRICT;
