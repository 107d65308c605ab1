-- The audit trail: one row per change to a release, written in the same
-- transaction as the change. Never changed or deleted: the database
-- refuses it, whoever asks.
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    release_pk BIGINT NOT NULL REFERENCES releases (id),
    at TIMESTAMP NOT NULL,
    type TEXT NOT NULL,
    actor TEXT,
    detail TEXT NOT NULL
);
CREATE INDEX events_release ON events (release_pk, id);
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are never changed or deleted');
END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are never changed or deleted');
END;
