-- Run the entire migration as an atomic operation.
START TRANSACTION ISOLATION LEVEL SERIALIZABLE READ WRITE;

-- Beyond the original: which hookd replica (its origin ID) holds the deployd stream of a cluster,
-- as a lease the replica renews while the stream is open. A queued status says when the cluster's
-- deployd is connected to no replica; a replica that dies stops renewing, and its lease runs out.
ALTER TABLE cluster
    ADD COLUMN "connected_to"    varchar                  null,
    ADD COLUMN "connected_until" timestamp with time zone null;

-- Mark this database migration as completed.
INSERT INTO migrations (version, created)
VALUES (14, now());
COMMIT;
