-- Run the entire migration as an atomic operation.
START TRANSACTION ISOLATION LEVEL SERIALIZABLE READ WRITE;

-- API keys of teams, encrypted at rest (AES-GCM, hex of nonce || ciphertext).
CREATE TABLE apikey
(
    "key"           varchar primary key not null,
    "team"          varchar             not null,
    "team_azure_id" varchar             not null,
    "created"       timestamp with time zone not null,
    "expires"       timestamp with time zone null
);

CREATE INDEX apikey_team_index ON apikey (team);
CREATE INDEX apikey_team_azure_id_index ON apikey (team_azure_id);

-- One row per deployment request.
CREATE TABLE deployment
(
    "id"                varchar primary key not null,
    "team"              varchar             not null,
    "created"           timestamp with time zone not null,
    "github_id"         int unique          null,
    "github_repository" varchar             null
);

-- Every status a deployment has gone through.
CREATE TABLE deployment_status
(
    "id"            varchar primary key                not null,
    "deployment_id" varchar references deployment (id) not null,
    "status"        varchar                            not null,
    "message"       varchar                            not null,
    "github_id"     int                                null,
    "created"       timestamp with time zone           not null
);

-- Applied schema migrations.
CREATE TABLE migrations
(
    "version" int primary key not null,
    "created" timestamp with time zone not null
);

-- Mark this database migration as completed.
INSERT INTO migrations (version, created)
VALUES (1, now());
COMMIT;
