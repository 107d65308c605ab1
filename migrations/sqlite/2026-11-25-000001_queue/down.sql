DROP INDEX jobs_release;
DROP INDEX jobs_locked_by;
ALTER TABLE jobs DROP COLUMN locked_by;
ALTER TABLE jobs DROP COLUMN payload;
