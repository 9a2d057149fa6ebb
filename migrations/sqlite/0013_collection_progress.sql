-- Collection progress: one row per capture, counted per batch or school for the staff who chase
-- students before the deadline (projections/src/collection_progress.rs).
CREATE TABLE collection_progress
(
    capture_id       text PRIMARY KEY,
    school_id        text NOT NULL,
    batch_id         text,
    education_type   text NOT NULL,
    student_number   text,
    status           text NOT NULL,
    paid_at          text,
    photographed_at  text,
    submitted_at     text,
    decided_at       text,
    review_wait_secs integer
) STRICT;
-- A school's or a batch's captures, by status.
CREATE INDEX collection_progress_scope ON collection_progress (school_id, batch_id, status);
-- The roster students who have a capture.
CREATE INDEX collection_progress_student ON collection_progress (school_id, education_type, student_number);
