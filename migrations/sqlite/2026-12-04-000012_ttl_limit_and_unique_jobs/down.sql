DROP INDEX IF EXISTS jobs_unique_key;
ALTER TABLE jobs DROP COLUMN unique_key;
DROP TABLE release_limits;
