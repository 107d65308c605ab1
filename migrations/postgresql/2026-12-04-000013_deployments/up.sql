-- The deployments wing (DESIGN "Deployments and their logs"). A
-- deployment's request never changes; what happens to it is the
-- append-only deployment_statuses; its log is kept as ordered chunks.
CREATE TABLE deployments (
    -- Internal order (lists and their cursors); `id` is what clients see.
    pk BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    team_project TEXT NOT NULL,
    team_project_key TEXT NOT NULL,
    environment TEXT NOT NULL,
    environment_key TEXT NOT NULL,
    repository_url TEXT NOT NULL,
    -- Lowercased: repositories match case-insensitively, as hosts do.
    repository_key TEXT NOT NULL,
    commit_sha TEXT NOT NULL,
    ref TEXT,
    stack_name TEXT,
    version TEXT,
    status TEXT NOT NULL,
    -- The release that gates it (deploy_requires_approval), if any.
    release_pk BIGINT REFERENCES releases (id),
    -- The body exactly as received.
    original_request TEXT NOT NULL,
    idempotency_key TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    environment_url TEXT,
    -- The runner's claim (only its hash is kept) and when it lapses.
    claim_token_hash TEXT,
    claim_expires_at TIMESTAMP,
    -- Bytes of log kept, and bytes dropped past the limit.
    log_bytes BIGINT NOT NULL DEFAULT 0,
    log_dropped BIGINT NOT NULL DEFAULT 0,
    UNIQUE (team_project_key, idempotency_key)
);
CREATE INDEX deployments_place ON deployments (team_project_key, environment_key, pk);
CREATE INDEX deployments_status ON deployments (status, pk);
CREATE INDEX deployments_repository ON deployments (repository_key, pk);
CREATE INDEX deployments_claim ON deployments (claim_expires_at) WHERE claim_expires_at IS NOT NULL;

CREATE TABLE deployment_statuses (
    id BIGSERIAL PRIMARY KEY,
    deployment_pk BIGINT NOT NULL REFERENCES deployments (pk),
    state TEXT NOT NULL,
    description TEXT,
    log_url TEXT,
    environment_url TEXT,
    actor TEXT,
    at TIMESTAMP NOT NULL
);
CREATE INDEX deployment_statuses_of ON deployment_statuses (deployment_pk, id);
CREATE FUNCTION deployment_statuses_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'deployment statuses are never changed or deleted';
END $$;
CREATE TRIGGER deployment_statuses_append_only BEFORE UPDATE OR DELETE ON deployment_statuses
    FOR EACH ROW EXECUTE FUNCTION deployment_statuses_are_append_only();

CREATE TABLE deployment_log_chunks (
    id BIGSERIAL PRIMARY KEY,
    deployment_pk BIGINT NOT NULL REFERENCES deployments (pk),
    data BYTEA NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX deployment_log_chunks_of ON deployment_log_chunks (deployment_pk, id);

-- Control-plane events concern a project, not a release: the release is
-- optional, and such an event names its project (folded) instead.
ALTER TABLE events ALTER COLUMN release_pk DROP NOT NULL;
ALTER TABLE events ADD COLUMN team_project_key TEXT;
ALTER TABLE events ADD CONSTRAINT events_subject
    CHECK (release_pk IS NOT NULL OR team_project_key IS NOT NULL);
CREATE INDEX events_project ON events (team_project_key, id) WHERE team_project_key IS NOT NULL;
