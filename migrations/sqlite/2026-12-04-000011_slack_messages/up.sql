-- A release's Slack message: one per release, in its policy's
-- slack_channel. ts (with the channel id Slack answered) is NULL until
-- chat.postMessage succeeds; chat.update needs both.
CREATE TABLE slack_messages (
    release_pk BIGINT PRIMARY KEY NOT NULL REFERENCES releases (id),
    channel TEXT NOT NULL,
    ts TEXT,
    max_attempts INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    posted_at TIMESTAMP
);
