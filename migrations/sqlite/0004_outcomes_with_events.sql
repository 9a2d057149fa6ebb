-- Command outcomes are now written in the same transaction as the events they describe, so an
-- outcome can no longer be missing for a recorded command, and the log no longer needs to be
-- searched by command id. Dropping the index saves its upkeep on every event.
DROP INDEX events_command_id;
