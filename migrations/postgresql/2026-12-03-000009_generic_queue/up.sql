-- The queue knows no capability: a job names the thing it concerns by a
-- subject key of its kind's choosing (a release's id, a deployment's...),
-- with no foreign key into any wing's table.
ALTER TABLE jobs ADD COLUMN subject TEXT;
UPDATE jobs SET subject = release_pk::text;
DROP INDEX IF EXISTS jobs_release;
ALTER TABLE jobs DROP COLUMN approval_pk, DROP COLUMN release_pk;
CREATE INDEX jobs_subject ON jobs (kind, subject);
