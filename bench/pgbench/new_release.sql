-- Baseline of scenario 1 on PostgreSQL: what `lifecycle::create` writes for
-- a new release, straight to the database (pgbench -M prepared): the
-- release, its release.created event, and its two jobs.
-- One transaction: the release row (ON CONFLICT DO NOTHING RETURNING id, as
-- the service), then its two jobs, as `db::jobs::enqueue` stores them: the
-- process_release job, due now, and the expire_release job, due at the
-- release's expires_at (now() is the transaction's start, so the expression
-- is the row's value exactly). Both carry the subject <id> and the payload {"release_pk":<id>}
-- and the default max_attempts, 20. Release ids are random in a 1e15 range
-- on a fresh database, so a conflict (which would make \gset fail the
-- client) is practically impossible.
\set rid random(1, 999999999999999)
BEGIN;
INSERT INTO releases (team_project, environment, release_id, team_project_key, environment_key,
                      release_name, status, created_at, expires_at, requester_can_approve)
  VALUES ('Bench', 'production', :rid, 'bench', 'production', 'bench', 'pending',
          now() AT TIME ZONE 'utc', (now() AT TIME ZONE 'utc') + interval '72 hours', false)
  ON CONFLICT (team_project_key, environment_key, release_id) DO NOTHING RETURNING id \gset
INSERT INTO events (release_pk, at, type, actor, detail)
  VALUES (:id, now() AT TIME ZONE 'utc', 'release.created', NULL,
          json_build_object('release_name', 'bench',
                            'expires_at', ((now() AT TIME ZONE 'utc') + interval '72 hours')::text)::text);
INSERT INTO jobs (kind, subject, payload, max_attempts, run_at, created_at)
  VALUES ('process_release', :id::text, '{"release_pk":' || :id::text || '}', 20,
          now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc');
INSERT INTO jobs (kind, subject, payload, max_attempts, run_at, created_at)
  VALUES ('expire_release', :id::text, '{"release_pk":' || :id::text || '}', 20,
          (now() AT TIME ZONE 'utc') + interval '72 hours', now() AT TIME ZONE 'utc');
COMMIT;
