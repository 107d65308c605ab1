-- A release is identified by (team project, environment, release id), and
-- projects and environments match case-insensitively: the *_key columns
-- hold the folded names (ASCII letters lowercased, as the application
-- folds them). Releases stored before hold 'production'. SQLite cannot
-- drop a UNIQUE constraint, so the table is rebuilt (migrations run with
-- foreign keys off, and checked after; see db::migrate).
--
-- Two releases that only the case of their project told apart ('Devx' and
-- 'devx', same id) cannot share a key: the older keeps it, and a later one
-- gets a key no lookup produces (a control character cannot be part of a
-- project name), so it stays readable in the table but is no longer found.
CREATE TABLE releases_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    team_project TEXT NOT NULL,
    environment TEXT NOT NULL,
    release_id TEXT NOT NULL,
    team_project_key TEXT NOT NULL,
    environment_key TEXT NOT NULL,
    release_name TEXT NOT NULL,
    status TEXT NOT NULL,
    required_approvals INTEGER,
    reason TEXT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    decided_at TIMESTAMP,
    UNIQUE (team_project_key, environment_key, release_id)
);
INSERT INTO releases_new (id, team_project, environment, release_id, team_project_key,
                          environment_key, release_name, status, required_approvals, reason,
                          created_at, expires_at, decided_at)
SELECT r.id, r.team_project, 'production', r.release_id,
       CASE WHEN EXISTS (SELECT 1 FROM releases o
                         WHERE lower(o.team_project) = lower(r.team_project)
                           AND o.release_id = r.release_id AND o.id < r.id)
            THEN lower(r.team_project) || char(1) || r.id
            ELSE lower(r.team_project) END,
       'production', r.release_name, r.status, r.required_approvals, r.reason,
       r.created_at, r.expires_at, r.decided_at
FROM releases r;
DROP TABLE releases;
ALTER TABLE releases_new RENAME TO releases;
CREATE INDEX releases_created ON releases (created_at, id);
