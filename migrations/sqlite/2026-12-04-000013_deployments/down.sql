DROP TABLE deployment_log_chunks;
DROP TABLE deployment_statuses;
DROP TABLE deployments;
CREATE TABLE events_narrow (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    release_pk BIGINT NOT NULL REFERENCES releases (id),
    at TIMESTAMP NOT NULL,
    type TEXT NOT NULL,
    actor TEXT,
    detail TEXT NOT NULL
);
INSERT INTO events_narrow (id, release_pk, at, type, actor, detail)
    SELECT id, release_pk, at, type, actor, detail FROM events WHERE release_pk IS NOT NULL;
DROP TABLE events;
ALTER TABLE events_narrow RENAME TO events;
CREATE INDEX events_release ON events (release_pk, id);
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are never changed or deleted');
END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are never changed or deleted');
END;
