-- The request that caused a job (and the jobs it queued), so the job's log
-- lines carry the same request id as the request's.
ALTER TABLE jobs ADD COLUMN request_id TEXT;
