-- The policy a release is decided by, resolved at its creation and kept
-- with it: a change of configuration never re-decides a release. quorum
-- NULL is "every approver". requested_for: who asked for the release.
ALTER TABLE releases ADD COLUMN requested_for TEXT;
ALTER TABLE releases ADD COLUMN quorum INTEGER;
ALTER TABLE releases ADD COLUMN requester_can_approve BOOLEAN NOT NULL DEFAULT FALSE;
