-- Who is told when a release is decided: its webhook (from its policy) and
-- each Azure DevOps task that asked in callback mode. One row per target;
-- notified_at is set in the transaction that records the delivery.
CREATE TABLE subscribers (
    id BIGSERIAL PRIMARY KEY,
    release_pk BIGINT NOT NULL REFERENCES releases (id),
    kind TEXT NOT NULL,
    -- Where and how to tell it, as JSON.
    target TEXT NOT NULL,
    -- A secret sent with it (Azure DevOps' AuthToken): never shown.
    credential TEXT,
    dedupe_key TEXT NOT NULL,
    max_attempts INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    notified_at TIMESTAMP,
    UNIQUE (release_pk, kind, dedupe_key)
);
