-- Staff accounts and idempotency keys for the HTTP API.

-- Reviewers, print staff (couriers) and admins sign in with a username and password. Only the
-- argon2id hash (PHC string, salt included) is kept; `photo-ledger staff add` writes it.
CREATE TABLE staff
(
    username      text PRIMARY KEY,
    role          text        NOT NULL CHECK (role IN ('reviewer', 'courier', 'admin')),
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);

-- The first response to each (caller, Idempotency-Key): a retry gets it back instead of acting
-- twice. A row without a status is a request still running; `fingerprint` (SHA-256 of method,
-- path and body) refuses a key reused for a different request. Old rows may be deleted by time.
CREATE TABLE idempotency_keys
(
    caller          text        NOT NULL,
    idempotency_key text        NOT NULL,
    fingerprint     text        NOT NULL,
    status          integer,
    content_type    text,
    body            bytea,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (caller, idempotency_key)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);

-- A student's address book for mailed prints. Orders copy the address into the ledger when
-- placed, so deleting an entry never changes an order.
CREATE TABLE addresses
(
    address_id text PRIMARY KEY,
    owner      text        NOT NULL,
    recipient  text        NOT NULL,
    phone      text        NOT NULL,
    address    text        NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX addresses_owner ON addresses (owner, created_at);

-- The capture each order belongs to, for payment notifications, which name only the order
-- (`out_trade_no`, the order id without hyphens). Written before the order is placed; the ledger
-- stays the truth about the order itself.
CREATE TABLE payment_orders
(
    order_id   text PRIMARY KEY,
    capture_id text        NOT NULL,
    created_at timestamptz NOT NULL
);
