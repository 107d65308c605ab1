-- The audit trail: one row per change to a release, written in the same
-- transaction as the change. Never changed or deleted: the database
-- refuses it, whoever asks.
CREATE TABLE events (
    id BIGSERIAL PRIMARY KEY,
    release_pk BIGINT NOT NULL REFERENCES releases (id),
    at TIMESTAMP NOT NULL,
    type TEXT NOT NULL,
    actor TEXT,
    detail TEXT NOT NULL
);
CREATE INDEX events_release ON events (release_pk, id);
CREATE FUNCTION events_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are never changed or deleted';
END $$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_are_append_only();
