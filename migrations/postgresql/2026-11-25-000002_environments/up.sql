-- A release is identified by (team project, environment, release id), and
-- projects and environments match case-insensitively: the *_key columns
-- hold the folded names (ASCII letters lowercased, as the application
-- folds them). Releases stored before hold 'production'.
--
-- Two releases that only the case of their project told apart ('Devx' and
-- 'devx', same id) cannot share a key: the older keeps it, and a later one
-- gets a key no lookup produces (a control character cannot be part of a
-- project name), so it stays in the table but is no longer found.
ALTER TABLE releases ADD COLUMN environment TEXT NOT NULL DEFAULT 'production';
ALTER TABLE releases ADD COLUMN environment_key TEXT NOT NULL DEFAULT 'production';
ALTER TABLE releases ADD COLUMN team_project_key TEXT;
UPDATE releases r SET team_project_key =
    CASE WHEN EXISTS (SELECT 1 FROM releases o
                      WHERE translate(o.team_project, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
                          = translate(r.team_project, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
                        AND o.release_id = r.release_id AND o.id < r.id)
         THEN translate(r.team_project, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') || chr(1) || r.id
         ELSE translate(r.team_project, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') END;
ALTER TABLE releases ALTER COLUMN team_project_key SET NOT NULL;
ALTER TABLE releases ALTER COLUMN environment DROP DEFAULT;
ALTER TABLE releases ALTER COLUMN environment_key DROP DEFAULT;
ALTER TABLE releases DROP CONSTRAINT releases_team_project_release_id_key;
ALTER TABLE releases ADD CONSTRAINT releases_key UNIQUE (team_project_key, environment_key, release_id);
CREATE INDEX releases_created ON releases (created_at, id);
