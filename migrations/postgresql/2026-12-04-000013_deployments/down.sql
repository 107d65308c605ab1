-- Control-plane events have no place in the old shape: they go.
ALTER TABLE events DISABLE TRIGGER events_append_only;
DELETE FROM events WHERE release_pk IS NULL;
ALTER TABLE events ENABLE TRIGGER events_append_only;
DROP INDEX events_project;
ALTER TABLE events DROP CONSTRAINT events_subject;
ALTER TABLE events DROP COLUMN team_project_key;
ALTER TABLE events ALTER COLUMN release_pk SET NOT NULL;
DROP TABLE deployment_log_chunks;
DROP TABLE deployment_statuses;
DROP FUNCTION deployment_statuses_are_append_only;
DROP TABLE deployments;
