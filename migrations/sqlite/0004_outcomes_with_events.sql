-- Command outcomes are now written in the same transaction as the events they describe, so an
-- outcome can no longer be missing for a recorded command, and the log no longer needs to be
-- searched by command id. Dropping the index saves its upkeep on every event.
DROP INDEX events_command_id;

-- Projections keep their per-capture documents in memory and fold them again from the capture's
-- events when missing, so the stored copies (rewritten on every batch) are gone.
DROP TABLE projection_docs;
