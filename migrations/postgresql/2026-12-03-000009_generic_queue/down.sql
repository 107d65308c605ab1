DELETE FROM jobs WHERE subject IS NULL OR subject NOT IN (SELECT id::text FROM releases);
ALTER TABLE jobs ADD COLUMN release_pk BIGINT REFERENCES releases (id),
                 ADD COLUMN approval_pk BIGINT REFERENCES approvals (id);
UPDATE jobs SET release_pk = subject::bigint;
ALTER TABLE jobs ALTER COLUMN release_pk SET NOT NULL, DROP COLUMN subject;
CREATE INDEX jobs_release ON jobs (release_pk);
