-- Run the entire migration as an atomic operation.
START TRANSACTION ISOLATION LEVEL SERIALIZABLE READ WRITE;

-- Beyond the original: one deployment per signed request. `key` identifies a request within its
-- team (the hex HMAC of a signed HTTP body); a second request with the same key answers with the
-- deployment the first one created instead of creating another. Rows are kept a few minutes,
-- longer than a signature stays fresh.
CREATE TABLE deployment_request_key
(
    "team"          varchar                                          not null,
    "key"           varchar                                          not null,
    "deployment_id" varchar references deployment (id) on delete cascade not null,
    "created"       timestamp with time zone                         not null,
    primary key (team, key)
);

CREATE INDEX deployment_request_key_created ON deployment_request_key (created);

-- Mark this database migration as completed.
INSERT INTO migrations (version, created)
VALUES (12, now());
COMMIT;
