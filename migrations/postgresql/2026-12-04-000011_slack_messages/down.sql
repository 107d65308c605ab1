DROP TABLE slack_messages;
