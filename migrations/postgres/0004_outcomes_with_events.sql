-- Command outcomes are now written in the same transaction as the events they describe, so an
-- outcome can no longer be missing for a recorded command, and the log no longer needs to be
-- searched by command id. Dropping the index saves its upkeep on every event.
DROP INDEX events_command_id;

-- A transaction that NOTIFYs holds a database-wide lock from before its commit until after it,
-- so a trigger on every insert made all writers commit one at a time (no group commit). Writers
-- now wake their own projector directly and send other instances one coalesced NOTIFY per burst
-- from outside the command's transaction.
DROP TRIGGER events_notify ON events;
DROP FUNCTION notify_event_log();

-- Projections keep their per-capture documents in memory and fold them again from the capture's
-- events when missing, so the stored copies (rewritten on every batch) are gone.
DROP TABLE projection_docs;

-- The log holds captures only, so its readers need not filter by aggregate type (a filter that
-- can steer the planner away from walking the global-order index).
ALTER TABLE events ADD CONSTRAINT events_captures_only CHECK (aggregate_type = 'Capture');
