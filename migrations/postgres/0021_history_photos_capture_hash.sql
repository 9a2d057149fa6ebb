-- history_photos' index on the capture becomes a hash index, as its index by photo id already
-- is. Every look-up through it is by equality: erasure deletes a capture's photos, and a person's
-- history joins their captures' rows to their photos. A B-tree entry costs a descent through
-- text comparisons, in the server's collation, for every photo written; a hash entry costs a
-- hash. `photo-ledger replay` of all seven views from the benchmark's 401,964 events took
-- 2.49-2.51 s with it against 2.61-2.70 s with the B-tree, alternating (BENCHMARKS.md, run AC).
DROP INDEX history_photos_capture;
CREATE INDEX history_photos_capture ON history_photos USING hash (capture_id);
