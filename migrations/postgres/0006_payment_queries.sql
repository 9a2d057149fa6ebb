-- Orders WeChat Pay is asked about when their payment notification does not come: when it was
-- last asked (claimed by one instance at a time), and when the order was seen paid, after which
-- it is not asked again.
ALTER TABLE payment_orders ADD COLUMN queried_at timestamptz;
ALTER TABLE payment_orders ADD COLUMN settled_at timestamptz;
CREATE INDEX payment_orders_unsettled ON payment_orders (created_at) WHERE settled_at IS NULL;
