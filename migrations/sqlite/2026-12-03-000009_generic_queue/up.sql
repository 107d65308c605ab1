-- The queue knows no capability: a job names the thing it concerns by a
-- subject key of its kind's choosing (a release's id, a deployment's...),
-- with no foreign key into any wing's table. SQLite cannot drop a column
-- with a foreign key: the table is rebuilt (ids kept).
CREATE TABLE jobs_generic (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    subject TEXT,
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
INSERT INTO jobs_generic (id, kind, subject, state, attempts, max_attempts, run_at, lock_token,
                          last_error, created_at, payload, locked_by, request_id)
    SELECT id, kind, CAST(release_pk AS TEXT), state, attempts, max_attempts, run_at, lock_token,
           last_error, created_at, payload, locked_by, request_id
    FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_generic RENAME TO jobs;
CREATE INDEX jobs_claimable ON jobs (run_at) WHERE state = 'queued';
CREATE INDEX jobs_locked_by ON jobs (locked_by) WHERE lock_token IS NOT NULL;
CREATE INDEX jobs_subject ON jobs (kind, subject);
