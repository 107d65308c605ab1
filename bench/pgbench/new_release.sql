-- Baseline of scenario 1 on PostgreSQL: what `releases::insert_with_job`
-- writes for a new release, straight to the database (pgbench -M prepared).
-- One transaction: the release row (ON CONFLICT DO NOTHING RETURNING id, as
-- the service), then its process_release job. Release ids are random in a
-- 1e15 range on a fresh database, so a conflict (which would make \gset
-- fail the client) is practically impossible.
\set rid random(1, 999999999999999)
BEGIN;
INSERT INTO releases (team_project, release_id, release_name, status, created_at, expires_at)
  VALUES ('Bench', :rid, 'bench', 'pending', now() AT TIME ZONE 'utc', (now() AT TIME ZONE 'utc') + interval '168 hours')
  ON CONFLICT (team_project, release_id) DO NOTHING RETURNING id \gset
INSERT INTO jobs (kind, release_pk, approval_pk, max_attempts, run_at, created_at)
  VALUES ('process_release', :id, NULL, 10, now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc');
COMMIT;
