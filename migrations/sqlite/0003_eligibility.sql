-- See the PostgreSQL migration for what each table is for. Times are RFC 3339 text in UTC, as
-- sqlx writes them, which sorts and compares in time order.
CREATE TABLE schools
(
    school_id  text PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    created_at text NOT NULL
) STRICT;

CREATE TABLE school_categories
(
    school_id      text NOT NULL REFERENCES schools,
    education_type text NOT NULL,
    PRIMARY KEY (school_id, education_type)
) STRICT;

CREATE TABLE batches
(
    batch_id          text PRIMARY KEY,
    school_id         text    NOT NULL,
    education_type    text    NOT NULL,
    feature_code      text    NOT NULL UNIQUE,
    price_fen         integer NOT NULL CHECK (price_fen >= 0),
    pay_before_upload integer NOT NULL,
    album_allowed     integer NOT NULL,
    backgrounds       text    NOT NULL,
    paper_prints_fen  integer CHECK (paper_prints_fen >= 0),
    closes_at         text,
    created_at        text    NOT NULL,
    FOREIGN KEY (school_id, education_type) REFERENCES school_categories
) STRICT;
CREATE INDEX batches_school ON batches (school_id, education_type, created_at DESC);

CREATE TABLE roster_imports
(
    import_id   text PRIMARY KEY,
    school_id   text    NOT NULL REFERENCES schools,
    batch_id    text REFERENCES batches,
    imported_by text    NOT NULL,
    imported_at text    NOT NULL,
    file_name   text    NOT NULL,
    file_sha256 text    NOT NULL,
    rows_read   integer NOT NULL,
    inserted    integer NOT NULL,
    updated     integer NOT NULL,
    unchanged   integer NOT NULL,
    rejected    integer NOT NULL,
    problems    text    NOT NULL
) STRICT;
CREATE INDEX roster_imports_school ON roster_imports (school_id, imported_at DESC);

CREATE TABLE roster_students
(
    school_id       text NOT NULL REFERENCES schools,
    education_type  text NOT NULL,
    student_number  text NOT NULL,
    name            text NOT NULL,
    id_type         text NOT NULL,
    id_number       text NOT NULL,
    level           text,
    major           text,
    graduation_year integer,
    batch_id        text REFERENCES batches,
    import_id       text NOT NULL REFERENCES roster_imports,
    updated_at      text NOT NULL,
    PRIMARY KEY (school_id, education_type, student_number),
    FOREIGN KEY (school_id, education_type) REFERENCES school_categories
) STRICT;
CREATE INDEX roster_students_number ON roster_students (school_id, student_number);
CREATE INDEX roster_students_id_number ON roster_students (school_id, education_type, id_number);

CREATE TABLE verification_attempts
(
    attempt_id integer PRIMARY KEY AUTOINCREMENT,
    caller     text    NOT NULL,
    subject    text,
    method     text    NOT NULL,
    code       text    NOT NULL,
    counted    integer NOT NULL,
    at         text    NOT NULL
) STRICT;
CREATE INDEX verification_attempts_subject ON verification_attempts (subject, at) WHERE counted;
CREATE INDEX verification_attempts_caller ON verification_attempts (caller, at) WHERE counted;
CREATE INDEX verification_attempts_at ON verification_attempts (at DESC);

CREATE TABLE verification_locks
(
    lock_key     text PRIMARY KEY,
    locked_until text NOT NULL
) STRICT;
