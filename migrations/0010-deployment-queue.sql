-- Run the entire migration as an atomic operation.
START TRANSACTION ISOLATION LEVEL SERIALIZABLE READ WRITE;

-- Beyond the original: the durable per-cluster queue. A row holds the serialized
-- pb.DeploymentRequest of a deployment that has not yet been handed to a deployd. It is deleted
-- once the request was written to the deployd stream (or when it expires at its deadline).
CREATE TABLE deployment_queue
(
    "deployment_id" varchar primary key references deployment (id) not null,
    "cluster"       varchar                                         not null,
    "request"       bytea                                           not null,
    "deadline"      timestamp with time zone                        not null,
    "created"       timestamp with time zone                        not null
);

CREATE INDEX deployment_queue_cluster ON deployment_queue (cluster, created);

-- Clusters whose deployd has connected at least once (known clusters).
CREATE TABLE cluster
(
    "name"      varchar primary key      not null,
    "last_seen" timestamp with time zone not null
);

-- Mark this database migration as completed.
INSERT INTO migrations (version, created)
VALUES (10, now());
COMMIT;
