CREATE TABLE jobs_release (
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
    created_at TIMESTAMP NOT NULL,
    payload TEXT NOT NULL DEFAULT '{}',
    locked_by TEXT,
    request_id TEXT
);
INSERT INTO jobs_release (id, kind, release_pk, state, attempts, max_attempts, run_at, lock_token,
                          last_error, created_at, payload, locked_by, request_id)
    SELECT id, kind, CAST(subject AS BIGINT), state, attempts, max_attempts, run_at, lock_token,
           last_error, created_at, payload, locked_by, request_id
    FROM jobs WHERE subject IN (SELECT CAST(id AS TEXT) FROM releases);
DROP TABLE jobs;
ALTER TABLE jobs_release RENAME TO jobs;
CREATE INDEX jobs_claimable ON jobs (run_at) WHERE state = 'queued';
CREATE INDEX jobs_locked_by ON jobs (locked_by) WHERE lock_token IS NOT NULL;
CREATE INDEX jobs_release ON jobs (release_pk);
