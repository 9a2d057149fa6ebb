-- Print staff filter the to-print list by batch and layout and find shipped orders by tracking
-- number or student: courier_orders gets those as columns. The view is rebuilt from the log.
TRUNCATE courier_orders;
ALTER TABLE courier_orders ADD COLUMN batch_id text;
ALTER TABLE courier_orders ADD COLUMN layout text NOT NULL DEFAULT '';
ALTER TABLE courier_orders ADD COLUMN tracking_no text;
-- The student's full name, searched for exactly; pages show it masked.
ALTER TABLE courier_orders ADD COLUMN student_name text NOT NULL DEFAULT '';
CREATE INDEX courier_orders_tracking ON courier_orders (tracking_no);
CREATE INDEX courier_orders_student ON courier_orders (student_name);

UPDATE projection_checkpoints SET txid = 0, position = 0, updated_at = now()
 WHERE projection = 'courier_orders';
