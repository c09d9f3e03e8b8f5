-- Run the entire migration as an atomic operation.
START TRANSACTION ISOLATION LEVEL SERIALIZABLE READ WRITE;

-- Beyond the original: cancelling a deployment (pb.Deploy/Cancel, POST /api/v1/cancel). A queued
-- deployment that no deployd has received is withdrawn from deployment_queue at once. For one
-- that a deployd has, a row here records the cancel until the deployment ends; the replica that
-- holds the cluster's deployd stream sends it there, and sends it again to the next connection of
-- the cluster while the deployment has not ended.
CREATE TABLE deployment_cancel
(
    "deployment_id" varchar primary key references deployment (id) on delete cascade not null,
    "team"          varchar                                                         not null,
    "reason"        varchar                                                         not null,
    "created"       timestamp with time zone                                        not null
);

-- What the cluster's deployd announced it can do (metadata `deploy-capabilities` on its
-- Deployments stream, comma-separated; "" for a deployd that announced nothing, such as the
-- original). A running deployment is cancelled only on a cluster whose deployd announced `cancel`.
ALTER TABLE cluster
    ADD COLUMN "capabilities" varchar not null default '';

-- Mark this database migration as completed.
INSERT INTO migrations (version, created)
VALUES (17, now());
COMMIT;
