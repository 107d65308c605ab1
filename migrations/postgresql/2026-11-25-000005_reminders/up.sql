-- Reminders: when each approver was reminded (once). When a release
-- reminds is fixed at its creation, by the run_at of its scheduled
-- remind_approvers job.
ALTER TABLE approvals ADD COLUMN reminded_at TIMESTAMP;
