-- Who holds a claim on an idempotency key while its request runs, and until when. The running
-- request renews its lease; a process that dies mid-request stops renewing, so a retry that
-- finds the lease run out takes the claim over and runs the request again (safe: the ledger
-- command ids derived from the key make the commands themselves idempotent). A starting
-- instance drops the unfinished claims its previous incarnation left. Claims written before
-- this migration have no lease and can be taken over at once.
ALTER TABLE idempotency_keys ADD COLUMN holder text;
ALTER TABLE idempotency_keys ADD COLUMN lease_until timestamptz;
