-- Run the entire migration as an atomic operation.
START TRANSACTION ISOLATION LEVEL SERIALIZABLE READ WRITE;

-- Beyond the original: idempotent retries. A client (the deploy CLI) names each logical request
-- with an idempotency key (gRPC metadata `idempotency-key`, HTTP header `Idempotency-Key`) and
-- sends the same key again when it retries. The primary key makes the second request of a team
-- with a key fail to insert, on any replica; hookd then answers with the deployment the first
-- one created. Rows are kept for a day.
CREATE TABLE deployment_idempotency_key
(
    "team"          varchar                                                   not null,
    "key"           varchar                                                   not null,
    "deployment_id" varchar references deployment (id) on delete cascade not null,
    "created"       timestamp with time zone                                  not null,
    primary key (team, key)
);

CREATE INDEX deployment_idempotency_key_created ON deployment_idempotency_key (created);

-- Mark this database migration as completed.
INSERT INTO migrations (version, created)
VALUES (16, now());
COMMIT;
