-- See the PostgreSQL migration for what each table is for. Times are RFC 3339 text in UTC.
CREATE TABLE staff
(
    username      text PRIMARY KEY,
    role          text NOT NULL CHECK (role IN ('reviewer', 'courier', 'admin')),
    password_hash text NOT NULL,
    created_at    text NOT NULL,
    updated_at    text NOT NULL
) STRICT;

CREATE TABLE idempotency_keys
(
    caller          text NOT NULL,
    idempotency_key text NOT NULL,
    fingerprint     text NOT NULL,
    status          integer,
    content_type    text,
    body            blob,
    created_at      text NOT NULL,
    PRIMARY KEY (caller, idempotency_key)
) STRICT;
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);

CREATE TABLE addresses
(
    address_id text PRIMARY KEY,
    owner      text NOT NULL,
    recipient  text NOT NULL,
    phone      text NOT NULL,
    address    text NOT NULL,
    created_at text NOT NULL
) STRICT;
CREATE INDEX addresses_owner ON addresses (owner, created_at);

CREATE TABLE payment_orders
(
    order_id   text PRIMARY KEY,
    capture_id text NOT NULL,
    created_at text NOT NULL
) STRICT;
