-- Times are UTC, written by the application (see STACK-NOTES: SQLite's own
-- CURRENT_TIMESTAMP has whole seconds only).
CREATE TABLE releases (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    team_project TEXT NOT NULL,
    release_id TEXT NOT NULL,
    release_name TEXT NOT NULL,
    status TEXT NOT NULL,
    required_approvals INTEGER,
    reason TEXT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    decided_at TIMESTAMP,
    UNIQUE (team_project, release_id)
);

CREATE TABLE approvals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    release_pk BIGINT NOT NULL REFERENCES releases (id),
    email TEXT NOT NULL,
    email_key TEXT NOT NULL,
    name TEXT,
    token_id TEXT NOT NULL UNIQUE,
    token_expires_at TIMESTAMP NOT NULL,
    decision TEXT,
    comment TEXT,
    decided_at TIMESTAMP,
    email_sent_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (release_pk, email_key)
);

-- The durable job queue. A job is claimable when state = 'queued' and
-- run_at has passed; claiming pushes run_at forward by the lease, so a job
-- whose worker died is claimed again once the lease runs out.
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    release_pk BIGINT NOT NULL REFERENCES releases (id),
    approval_pk BIGINT REFERENCES approvals (id),
    state TEXT NOT NULL DEFAULT 'queued',
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_at TIMESTAMP NOT NULL,
    lock_token TEXT,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX jobs_claimable ON jobs (run_at) WHERE state = 'queued';
CREATE INDEX approvals_release ON approvals (release_pk);

CREATE TABLE settings (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
