-- Run the entire migration as an atomic operation.
START TRANSACTION ISOLATION LEVEL SERIALIZABLE READ WRITE;

-- Exactly once: a queued request stays in deployment_queue until its deployment ends. Writing it
-- to a deployd stream only records where it went (handed_to: the deployd instance, i.e. cluster
-- and process start, and when); deployd's first status confirms it (confirmed_by, confirmed).
-- Unconfirmed requests are sent again to the next connection of the cluster; confirmed ones whose
-- deployd instance is replaced are lost (inactive); the final status removes the row. Rows that
-- an earlier version deleted on delivery are handled as before.
ALTER TABLE deployment_queue
    ADD COLUMN "handed_to"    varchar                  null,
    ADD COLUMN "handed_out"   timestamp with time zone null,
    ADD COLUMN "confirmed_by" varchar                  null,
    ADD COLUMN "confirmed"    timestamp with time zone null;

-- Mark this database migration as completed.
INSERT INTO migrations (version, created)
VALUES (13, now());
COMMIT;
