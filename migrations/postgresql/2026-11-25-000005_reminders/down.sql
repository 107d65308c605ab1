ALTER TABLE approvals DROP COLUMN reminded_at;
