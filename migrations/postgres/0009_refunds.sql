-- 5. Every refund, for staff and for the refund worker (a projection, rebuilt from the log).
CREATE TABLE refunds
(
    refund_id    text PRIMARY KEY,
    capture_id   text        NOT NULL,
    state        text        NOT NULL,
    requested_at timestamptz NOT NULL,
    item         json        NOT NULL
);
CREATE INDEX refunds_state ON refunds (state, requested_at, refund_id);
CREATE INDEX refunds_capture ON refunds (capture_id);

-- The refund worker's own bookkeeping, beside the log: how often WeChat Pay has been asked to
-- make (or asked about) a refund, and when to ask next. Claiming a refund moves `next_at` on,
-- so several instances do not ask at once. Losing a row costs one extra question, never a
-- second refund: the refund's number at WeChat Pay is derived from the payment.
CREATE TABLE refund_attempts
(
    refund_id  text PRIMARY KEY,
    attempts   bigint      NOT NULL DEFAULT 0,
    refused    bigint      NOT NULL DEFAULT 0,
    accepted   bigint      NOT NULL DEFAULT 0,
    next_at    timestamptz NOT NULL,
    last_error text
);
