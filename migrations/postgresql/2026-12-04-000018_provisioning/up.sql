-- The inventory of provisioned versions (DESIGN "Inventory of provisioned
-- versions", seed 003): per project, one entry per (stack, environment)
-- saying which version is provisioned there, with its instances.
CREATE TABLE provisioned_versions (
    -- Internal order (lists and their cursors); `id` is what clients see.
    pk BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    team_project TEXT NOT NULL,
    team_project_key TEXT NOT NULL,
    stack_name TEXT NOT NULL,
    stack_name_key TEXT NOT NULL,
    version TEXT NOT NULL,
    environment TEXT NOT NULL,
    environment_key TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    -- "Which version runs on Demo in Production" has one answer.
    UNIQUE (team_project_key, stack_name_key, environment_key)
);
CREATE INDEX provisioned_versions_project ON provisioned_versions (team_project_key, pk);

CREATE TABLE provisioned_instances (
    pk BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    version_pk BIGINT NOT NULL REFERENCES provisioned_versions (pk) ON DELETE CASCADE,
    instance_type TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    -- A JSON object, as text.
    properties TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    -- Posting a resource again updates it: never two of one resource.
    UNIQUE (version_pk, resource_id)
);
CREATE INDEX provisioned_instances_of ON provisioned_instances (version_pk, pk);
