-- Baseline of scenarios 2 and 4 on PostgreSQL: what a poll reads, straight
-- from the database (pgbench -M prepared): the release by its key, as
-- `releases::find`, then its approvals, as `releases::view`. Two statements,
-- no transaction, as the service. Run with -D releases=N (seeded 1..N).
\set rid random(1, :releases)
SELECT id, team_project, release_id, release_name, status, required_approvals, reason,
       created_at, expires_at, decided_at
  FROM releases WHERE team_project_key = 'bench' AND environment_key = 'production'
   AND release_id = :rid::text LIMIT 1 \gset r_
SELECT id, release_pk, email, email_key, name, token_id, token_expires_at, decision, comment,
       decided_at, email_sent_at, created_at
  FROM approvals WHERE release_pk = :r_id ORDER BY id;
