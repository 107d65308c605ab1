-- API keys of pipelines (one project) and operators (team_project NULL:
-- every project). Only a keyed hash of each key is stored.
CREATE TABLE api_keys (
    id BIGSERIAL PRIMARY KEY,
    key_hash TEXT NOT NULL UNIQUE,
    team_project TEXT,
    team_project_key TEXT,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP,
    revoked_at TIMESTAMP
);
