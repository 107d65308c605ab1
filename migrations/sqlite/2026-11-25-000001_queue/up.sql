-- A job is a kind and a serialised payload (the job's own type decides what
-- it holds); release_pk stays as the release the job concerns. locked_by
-- names the process holding a claimed job: one heartbeat per process renews
-- all of its leases, and a stopping process hands them back by it.
ALTER TABLE jobs ADD COLUMN payload TEXT NOT NULL DEFAULT '{}';
ALTER TABLE jobs ADD COLUMN locked_by TEXT;
UPDATE jobs SET payload = '{"release_pk":' || release_pk
    || CASE WHEN approval_pk IS NULL THEN '' ELSE ',"approval_pk":' || approval_pk END || '}';
CREATE INDEX jobs_locked_by ON jobs (locked_by) WHERE lock_token IS NOT NULL;
CREATE INDEX jobs_release ON jobs (release_pk);
