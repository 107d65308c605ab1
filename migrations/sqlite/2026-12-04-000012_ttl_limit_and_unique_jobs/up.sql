-- The latest a release may expire by its policy (created_at + release_ttl):
-- an Azure DevOps task in callback mode caps expires_at at its AuthToken's
-- life, and a newer task moves the cap, never past this. No row for
-- releases stored before: their expires_at is then the limit. (A table of
-- its own: releases has the 16 columns diesel's default build allows.)
CREATE TABLE release_limits (
    release_pk BIGINT PRIMARY KEY NOT NULL REFERENCES releases (id),
    ttl_expires_at TIMESTAMP NOT NULL
);
-- A job kind may be unique per subject (a recurring job: one in the
-- cluster at a time): the second of two replicas enqueueing it is a no-op.
ALTER TABLE jobs ADD COLUMN unique_key TEXT;
CREATE UNIQUE INDEX jobs_unique_key ON jobs (unique_key) WHERE unique_key IS NOT NULL AND state = 'queued';
