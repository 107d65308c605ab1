DROP INDEX releases_created;
ALTER TABLE releases DROP CONSTRAINT releases_key;
ALTER TABLE releases ADD CONSTRAINT releases_team_project_release_id_key UNIQUE (team_project, release_id);
ALTER TABLE releases DROP COLUMN team_project_key;
ALTER TABLE releases DROP COLUMN environment_key;
ALTER TABLE releases DROP COLUMN environment;
