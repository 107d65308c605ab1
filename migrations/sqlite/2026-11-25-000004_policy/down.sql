ALTER TABLE releases DROP COLUMN requester_can_approve;
ALTER TABLE releases DROP COLUMN quorum;
ALTER TABLE releases DROP COLUMN requested_for;
