-- Run the entire migration as an atomic operation.
START TRANSACTION ISOLATION LEVEL SERIALIZABLE READ WRITE;

ALTER TABLE deployment ADD COLUMN state VARCHAR NULL;

CREATE INDEX deployment_state ON deployment (state);
CREATE INDEX deployment_cluster ON deployment (cluster);

-- Mark this database migration as completed.
INSERT INTO migrations (version, created)
VALUES (7, now());
COMMIT;
