-- Who may be photographed: schools, their collection batches, their rosters, and the audit of
-- failed eligibility checks. Capture events never live here; these tables are reference data
-- the ledger's `QualificationVerified` is checked against (and copied from, so later edits never
-- rewrite an existing capture).

-- A school, named as students type it in the mini-programs.
CREATE TABLE schools
(
    school_id  text PRIMARY KEY,
    name       text        NOT NULL UNIQUE,
    created_at timestamptz NOT NULL
);

-- The education categories (学历类别) a school collects for: 普通高等教育, 开放教育, …
CREATE TABLE school_categories
(
    school_id      text NOT NULL REFERENCES schools,
    education_type text NOT NULL,
    PRIMARY KEY (school_id, education_type)
);

-- A collection batch (集中采集批次) and its policy. The feature code is what students type, so it
-- is unique across all schools. Backgrounds are a comma-separated list (blue,white,#00a3e6).
-- `closes_at` is the instant after the deadline day ends in China time; NULL never closes.
CREATE TABLE batches
(
    batch_id          text PRIMARY KEY,
    school_id         text        NOT NULL,
    education_type    text        NOT NULL,
    feature_code      text        NOT NULL UNIQUE,
    price_fen         bigint      NOT NULL CHECK (price_fen >= 0),
    pay_before_upload boolean     NOT NULL,
    album_allowed     boolean     NOT NULL,
    backgrounds       text        NOT NULL,
    paper_prints_fen  bigint CHECK (paper_prints_fen >= 0),
    closes_at         timestamptz,
    created_at        timestamptz NOT NULL,
    FOREIGN KEY (school_id, education_type) REFERENCES school_categories
);
CREATE INDEX batches_school ON batches (school_id, education_type, created_at DESC);

-- Every roster upload: who, when, which file (SHA-256) and what came of it. `problems` holds the
-- rejected rows ({line, reason}) so admins can see them later.
CREATE TABLE roster_imports
(
    import_id    text PRIMARY KEY,
    school_id    text        NOT NULL REFERENCES schools,
    batch_id     text REFERENCES batches,
    imported_by  text        NOT NULL,
    imported_at  timestamptz NOT NULL,
    file_name    text        NOT NULL,
    file_sha256  text        NOT NULL,
    rows_read    integer     NOT NULL,
    inserted     integer     NOT NULL,
    updated      integer     NOT NULL,
    unchanged    integer     NOT NULL,
    rejected     integer     NOT NULL,
    problems     jsonb       NOT NULL
);
CREATE INDEX roster_imports_school ON roster_imports (school_id, imported_at DESC);

-- One education record of one student. The key includes the category because a school's
-- continuing-education college and its full-time programmes may number students independently;
-- re-importing a row with the same key updates it. ID numbers are stored normalised (upper case,
-- ASCII brackets) so the last four compare directly.
CREATE TABLE roster_students
(
    school_id       text        NOT NULL REFERENCES schools,
    education_type  text        NOT NULL,
    student_number  text        NOT NULL,
    name            text        NOT NULL,
    id_type         text        NOT NULL,
    id_number       text        NOT NULL,
    level           text,
    major           text,
    graduation_year integer,
    batch_id        text REFERENCES batches,
    import_id       text        NOT NULL REFERENCES roster_imports,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (school_id, education_type, student_number),
    FOREIGN KEY (school_id, education_type) REFERENCES school_categories
);
-- Verification by student number does not always know the category.
CREATE INDEX roster_students_number ON roster_students (school_id, student_number);
-- An import refuses an ID number already held by another student number of the category.
CREATE INDEX roster_students_id_number ON roster_students (school_id, education_type, id_number);

-- Failed eligibility checks, for audit and for the guessing locks. Not capture events: nothing
-- was captured. `subject` is the student record aimed at (school_id/student_number) when known;
-- `counted` marks wrong guesses (a wrong last four, a forged code, an unknown student number),
-- the only attempts that lock.
CREATE TABLE verification_attempts
(
    attempt_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    caller     text        NOT NULL,
    subject    text,
    method     text        NOT NULL,
    code       text        NOT NULL,
    counted    boolean     NOT NULL,
    at         timestamptz NOT NULL
);
CREATE INDEX verification_attempts_subject ON verification_attempts (subject, at) WHERE counted;
CREATE INDEX verification_attempts_caller ON verification_attempts (caller, at) WHERE counted;
CREATE INDEX verification_attempts_at ON verification_attempts (at DESC);

-- A lock runs for a fixed time from the failure that triggered it, however many attempts follow.
-- Keys: `student:<school_id>/<student_number>` and `caller:<account>`.
CREATE TABLE verification_locks
(
    lock_key     text PRIMARY KEY,
    locked_until timestamptz NOT NULL
);
