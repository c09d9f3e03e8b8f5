-- Run the entire migration as an atomic operation.
START TRANSACTION ISOLATION LEVEL SERIALIZABLE READ WRITE;

-- Beyond the original: the GitHub repository ID (the OIDC token's `repository_id` claim) of an
-- authorised repository. NULL until the first token of the repository authenticates, which pins
-- it (trust on first use); afterwards only tokens with this ID are authorised, so a repository
-- deleted and re-created under the same name by someone else cannot deploy.
ALTER TABLE team_repositories ADD COLUMN "repository_id" varchar null;

-- Mark this database migration as completed.
INSERT INTO migrations (version, created)
VALUES (11, now());
COMMIT;
