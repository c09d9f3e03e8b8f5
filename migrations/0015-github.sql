-- Run the entire migration as an atomic operation.
START TRANSACTION ISOLATION LEVEL SERIALIZABLE READ WRITE;

-- GitHub deployment ids have outgrown 32 bits; the original's column was an int.
ALTER TABLE deployment ALTER COLUMN github_id TYPE bigint;

-- Beyond the original: hookd's GitHub work, durable and shared by replicas
-- (src/hookd/github/queue.hpp). One row per deployment that names a repository, from the moment
-- hookd accepted it: `create` until its GitHub deployment exists (github_id), then `statuses`
-- until its final state was sent (`done`), or `skipped` when GitHub gets nothing (the team has no
-- access, GitHub refused, retries ran out; last_error says why). next_attempt carries the backoff
-- and the rate-limit pause; attempts counts failures in a row; last_state is the state GitHub got
-- last (a queued status with the same state is not sent again).
CREATE TABLE github_deployment
(
    "deployment_id" varchar primary key references deployment (id) not null,
    "owner"         varchar                                         not null,
    "repository"    varchar                                         not null,
    "team"          varchar                                         not null,
    "ref"           varchar                                         not null,
    "environment"   varchar                                         not null,
    "log_url"       varchar                                         not null,
    "phase"         varchar                                         not null,
    "github_id"     bigint                                          null,
    "last_state"    varchar                                         null,
    "attempts"      int                                             not null default 0,
    "next_attempt"  timestamp with time zone                        not null,
    "last_error"    varchar                                         not null default '',
    "created"       timestamp with time zone                        not null
);

CREATE INDEX github_deployment_active ON github_deployment (next_attempt)
    WHERE phase IN ('create', 'statuses');

-- The deployment statuses owed to GitHub, in the order hookd stored them (seq). Only state
-- changes are queued: a status with the same state as the one before it is sent once. `posted`
-- is set when it was sent (result: the HTTP status) or given up (result: why).
CREATE TABLE github_status
(
    "seq"           bigserial primary key,
    "deployment_id" varchar references deployment (id) not null,
    "status_id"     varchar                            not null,
    "state"         varchar                            not null,
    "message"       varchar                            not null,
    "created"       timestamp with time zone           not null,
    "collapsed"     int                                not null default 0,
    "posted"        timestamp with time zone           null,
    "result"        varchar                            null
);

CREATE INDEX github_status_deployment ON github_status (deployment_id, seq);

-- Every stored status of a deployment with GitHub work is queued in the same transaction. The
-- queue of one deployment is bounded: beyond 16 unsent rows, a change replaces the newest unsent
-- row and is counted in its `collapsed` (hookd logs and counts it when it sends that row).
-- The function only reads github_deployment, so a worker holding that row never delays a status.
CREATE FUNCTION github_status_enqueue() RETURNS trigger
    LANGUAGE plpgsql AS
$$
DECLARE
    previous varchar;
    pending  int;
BEGIN
    IF NOT EXISTS (SELECT 1
                   FROM github_deployment
                   WHERE deployment_id = NEW.deployment_id
                     AND phase IN ('create', 'statuses')) THEN
        RETURN NULL;
    END IF;
    SELECT state INTO previous
    FROM github_status
    WHERE deployment_id = NEW.deployment_id
    ORDER BY seq DESC
    LIMIT 1;
    IF previous IS NOT DISTINCT FROM NEW.status THEN
        RETURN NULL;
    END IF;
    SELECT count(*) INTO pending
    FROM github_status
    WHERE deployment_id = NEW.deployment_id
      AND posted IS NULL;
    IF pending >= 16 THEN
        UPDATE github_status
        SET status_id = NEW.id,
            state     = NEW.status,
            message   = NEW.message,
            created   = NEW.created,
            collapsed = collapsed + 1
        WHERE seq = (SELECT max(seq) FROM github_status WHERE deployment_id = NEW.deployment_id);
        RETURN NULL;
    END IF;
    INSERT INTO github_status (deployment_id, status_id, state, message, created)
    VALUES (NEW.deployment_id, NEW.id, NEW.status, NEW.message, NEW.created);
    RETURN NULL;
END;
$$;

CREATE TRIGGER github_status_enqueue
    AFTER INSERT
    ON deployment_status
    FOR EACH ROW
EXECUTE FUNCTION github_status_enqueue();

-- Mark this database migration as completed.
INSERT INTO migrations (version, created)
VALUES (15, now());
COMMIT;
