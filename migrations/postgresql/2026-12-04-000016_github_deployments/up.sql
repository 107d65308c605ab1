-- Deployments GitHub sent (a `deployment` event through the App): which
-- GitHub deployment each is, so that a redelivery finds it and its
-- statuses are reported back (DESIGN "GitHub as provider").
CREATE TABLE github_deployments (
    deployment_pk BIGINT PRIMARY KEY REFERENCES deployments (pk),
    -- GitHub's deployment id: one record per GitHub deployment.
    github_id BIGINT NOT NULL UNIQUE,
    -- `owner/repo` as GitHub named it (the statuses' path).
    repository TEXT NOT NULL,
    installation_id BIGINT NOT NULL,
    -- The deployment request the event was mapped to (JSON).
    original_mapped_request TEXT NOT NULL,
    -- The newest status reported to GitHub (deployment_statuses.id): an
    -- older one that arrives late is not reported over it.
    reported_status_id BIGINT NOT NULL DEFAULT 0
);
