-- Where each projection has read the log up to, advanced in the same transaction as its rows.
CREATE TABLE projection_checkpoints
(
    projection text PRIMARY KEY,
    txid       bigint      NOT NULL DEFAULT 0,
    position   bigint      NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Each projection's folded state per capture; its query tables below are rewritten from it.
CREATE TABLE projection_docs
(
    projection text  NOT NULL,
    capture_id text  NOT NULL,
    doc        jsonb NOT NULL,
    PRIMARY KEY (projection, capture_id)
);

-- 1. What the mini-program's status page shows.
CREATE TABLE capture_status
(
    capture_id text PRIMARY KEY,
    owner      text        NOT NULL,
    school_id  text        NOT NULL,
    status     text        NOT NULL,
    updated_at timestamptz NOT NULL,
    view       jsonb       NOT NULL
);
CREATE INDEX capture_status_owner ON capture_status (owner, updated_at DESC);

-- 2. The reviewers' queue: oldest submission first, keyset-paginated on (submitted_at, capture_id).
CREATE TABLE review_queue
(
    capture_id     text PRIMARY KEY,
    school_id      text        NOT NULL,
    batch_id       text,
    education_type text        NOT NULL,
    submitted_at   timestamptz NOT NULL,
    item           jsonb       NOT NULL
);
CREATE INDEX review_queue_order ON review_queue (submitted_at, capture_id);

-- 3. Paid print orders for print staff and couriers.
CREATE TABLE courier_orders
(
    order_id   text PRIMARY KEY,
    capture_id text        NOT NULL,
    status     text        NOT NULL,
    paid_at    timestamptz NOT NULL,
    item       jsonb       NOT NULL
);
CREATE INDEX courier_orders_status ON courier_orders (status, paid_at, order_id);
CREATE INDEX courier_orders_capture ON courier_orders (capture_id);

-- 4. Every photo recorded for a person, keyed by a keyed hash of the ID number.
CREATE TABLE photo_history
(
    photo_id    text PRIMARY KEY,
    capture_id  text        NOT NULL,
    person_key  text        NOT NULL,
    recorded_at timestamptz NOT NULL,
    item        jsonb       NOT NULL
);
CREATE INDEX photo_history_person ON photo_history (person_key, recorded_at DESC);
CREATE INDEX photo_history_capture ON photo_history (capture_id);
