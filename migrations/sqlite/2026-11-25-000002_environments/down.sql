CREATE TABLE releases_old (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    team_project TEXT NOT NULL,
    release_id TEXT NOT NULL,
    release_name TEXT NOT NULL,
    status TEXT NOT NULL,
    required_approvals INTEGER,
    reason TEXT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    decided_at TIMESTAMP,
    UNIQUE (team_project, release_id)
);
INSERT INTO releases_old (id, team_project, release_id, release_name, status, required_approvals,
                          reason, created_at, expires_at, decided_at)
SELECT id, team_project, release_id, release_name, status, required_approvals, reason,
       created_at, expires_at, decided_at
FROM releases WHERE environment_key = 'production';
DROP TABLE releases;
ALTER TABLE releases_old RENAME TO releases;
