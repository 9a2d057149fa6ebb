-- Guesses at a secret (a student's last four, a staff password), per key, for the locks that stop
-- guessing. Keys: `student:<school_id>/<student_number>`, `caller:<account>`, `staff:<username>`,
-- `address:<client address>`.
--
-- A guess is reserved (`wrong` false) before it is evaluated, in one statement that also checks
-- the key's lock and its count, so a concurrent burst cannot be evaluated past the limit; it is
-- then either marked wrong, which counts it, or deleted. A reservation left behind by a process
-- that died mid-evaluation stops counting after a minute.
CREATE TABLE guesses
(
    guess_id text PRIMARY KEY,
    lock_key text        NOT NULL,
    at       timestamptz NOT NULL,
    wrong    boolean     NOT NULL
);
CREATE INDEX guesses_key ON guesses (lock_key, at);

-- The locks themselves, whatever the key (until now only eligibility's). Counting starts afresh
-- in `guesses`; locks in force are kept.
ALTER TABLE verification_locks RENAME TO guess_locks;

-- Locks lifted by an admin before their time: who, when, why.
CREATE TABLE guess_lock_lifts
(
    lift_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lock_key     text        NOT NULL,
    locked_until timestamptz NOT NULL,
    lifted_by    text        NOT NULL,
    reason       text        NOT NULL,
    at           timestamptz NOT NULL
);
