-- See the PostgreSQL migration for what each table is for.
CREATE TABLE projection_checkpoints
(
    projection text PRIMARY KEY,
    txid       integer NOT NULL DEFAULT 0,
    position   integer NOT NULL DEFAULT 0,
    updated_at text    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE TABLE projection_docs
(
    projection text NOT NULL,
    capture_id text NOT NULL,
    doc        text NOT NULL,
    PRIMARY KEY (projection, capture_id)
) STRICT;

CREATE TABLE capture_status
(
    capture_id text PRIMARY KEY,
    owner      text NOT NULL,
    school_id  text NOT NULL,
    status     text NOT NULL,
    updated_at text NOT NULL,
    view       text NOT NULL
) STRICT;
CREATE INDEX capture_status_owner ON capture_status (owner, updated_at DESC);

CREATE TABLE review_queue
(
    capture_id     text PRIMARY KEY,
    school_id      text NOT NULL,
    batch_id       text,
    education_type text NOT NULL,
    submitted_at   text NOT NULL,
    item           text NOT NULL
) STRICT;
CREATE INDEX review_queue_order ON review_queue (submitted_at, capture_id);

CREATE TABLE courier_orders
(
    order_id   text PRIMARY KEY,
    capture_id text NOT NULL,
    status     text NOT NULL,
    paid_at    text NOT NULL,
    item       text NOT NULL
) STRICT;
CREATE INDEX courier_orders_status ON courier_orders (status, paid_at, order_id);
CREATE INDEX courier_orders_capture ON courier_orders (capture_id);

CREATE TABLE photo_history
(
    photo_id    text PRIMARY KEY,
    capture_id  text NOT NULL,
    person_key  text NOT NULL,
    recorded_at text NOT NULL,
    item        text NOT NULL
) STRICT;
CREATE INDEX photo_history_person ON photo_history (person_key, recorded_at DESC);
CREATE INDEX photo_history_capture ON photo_history (capture_id);
