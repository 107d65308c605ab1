-- Baseline of scenario 1 on PostgreSQL: what `lifecycle::create` writes for
-- a new release, straight to the database (pgbench -M prepared).
-- One transaction: the release row (ON CONFLICT DO NOTHING RETURNING id, as
-- the service), then its two jobs, as `db::jobs::enqueue` stores them: the
-- process_release job, due now, and the expire_release job, due at the
-- release's expires_at (now() is the transaction's start, so the expression
-- is the row's value exactly). Both carry the payload {"release_pk":<id>}
-- and the default max_attempts, 20. Release ids are random in a 1e15 range
-- on a fresh database, so a conflict (which would make \gset fail the
-- client) is practically impossible.
\set rid random(1, 999999999999999)
BEGIN;
INSERT INTO releases (team_project, release_id, release_name, status, created_at, expires_at)
  VALUES ('Bench', :rid, 'bench', 'pending', now() AT TIME ZONE 'utc', (now() AT TIME ZONE 'utc') + interval '168 hours')
  ON CONFLICT (team_project, release_id) DO NOTHING RETURNING id \gset
INSERT INTO jobs (kind, release_pk, payload, max_attempts, run_at, created_at)
  VALUES ('process_release', :id, '{"release_pk":' || :id::text || '}', 20,
          now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc');
INSERT INTO jobs (kind, release_pk, payload, max_attempts, run_at, created_at)
  VALUES ('expire_release', :id, '{"release_pk":' || :id::text || '}', 20,
          (now() AT TIME ZONE 'utc') + interval '168 hours', now() AT TIME ZONE 'utc');
COMMIT;
