//! The job queue's queries. A claimed job carries a lock token and the id
//! of the process that claimed it; every change to a claimed job names its
//! token, so a worker whose lease ran out (and whose job was claimed again
//! elsewhere) cannot complete or reschedule it a second time.
//!
//! Leases and retry times are computed by the database's clock, never by a
//! replica's: replicas whose clocks disagree still agree on who holds a job.
//! A claimed job keeps `state = 'queued'`; its `run_at` is the end of its
//! lease, so a job whose worker died becomes due again by itself.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Integer, Nullable, Text, Timestamp};

use super::models::ClaimedJob;
use super::schema::jobs;
use super::{per_backend, DbConnection};

/// "Now" by the database's clock, as UTC without time zone (the columns'
/// type on both backends).
const NOW_PG: &str = "(now() AT TIME ZONE 'UTC')";
const NOW_SQLITE: &str = "strftime('%Y-%m-%d %H:%M:%f', 'now')";

/// "Now plus the bound number of milliseconds", with the placeholder of
/// each backend (`{}` is the parameter's position on PostgreSQL).
fn later_pg(param: usize) -> String {
    format!("({NOW_PG} + ${param} * interval '1 millisecond')")
}
const LATER_SQLITE: &str = "strftime('%Y-%m-%d %H:%M:%f', 'now', ?)";

/// SQLite takes the offset as a date modifier: `+1.500 seconds`.
fn sqlite_offset(ms: i64) -> String {
    format!("{:+.3} seconds", ms as f64 / 1000.0)
}

/// When a new job becomes due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunAt {
    /// As soon as a worker is free.
    Now,
    /// Not before this time (UTC).
    At(NaiveDateTime),
}

/// A job to store: its kind, the subject it concerns (a key of the kind's
/// choosing), and its payload.
pub struct NewJob<'a> {
    pub kind: &'a str,
    pub subject: &'a str,
    pub payload: &'a str,
    pub max_attempts: i32,
    pub run_at: RunAt,
    /// The request that caused it (see `cause`).
    pub request_id: Option<&'a str>,
    /// With a key, the job is not stored while a queued (or running) job
    /// has the same key.
    pub unique_key: Option<&'a str>,
}

pub fn enqueue(conn: &mut DbConnection, job: &NewJob<'_>) -> QueryResult<()> {
    let at = match job.run_at {
        RunAt::Now => None,
        RunAt::At(t) => Some(t),
    };
    let sql = match conn {
        // A unique key already queued makes this a no-op (the partial
        // unique index `jobs_unique_key` decides between racing replicas).
        DbConnection::Postgresql(_) => format!(
            "INSERT INTO jobs (kind, subject, payload, max_attempts, run_at, created_at, request_id, unique_key) \
             VALUES ($1, $2, $3, $4, COALESCE($5, {NOW_PG}), {NOW_PG}, $6, $7) ON CONFLICT DO NOTHING"
        ),
        DbConnection::Sqlite(_) => format!(
            "INSERT INTO jobs (kind, subject, payload, max_attempts, run_at, created_at, request_id, unique_key) \
             VALUES (?, ?, ?, ?, COALESCE(?, {NOW_SQLITE}), {NOW_SQLITE}, ?, ?) ON CONFLICT DO NOTHING"
        ),
    };
    per_backend!(conn, |c| diesel::sql_query(&sql)
        .bind::<Text, _>(job.kind)
        .bind::<Text, _>(job.subject)
        .bind::<Text, _>(job.payload)
        .bind::<Integer, _>(job.max_attempts)
        .bind::<Nullable<Timestamp>, _>(at)
        .bind::<Nullable<Text>, _>(job.request_id)
        .bind::<Nullable<Text>, _>(job.unique_key)
        .execute(c))?;
    Ok(())
}

const RETURNING: &str =
    "RETURNING id, kind, payload, attempts, max_attempts, last_error, lock_token, request_id";

/// Claims up to `limit` due jobs for the process `worker`, leased for
/// `lease_ms`. The attempt is counted at claim time, so a job that kills
/// its worker still runs out of attempts.
pub fn claim(
    conn: &mut DbConnection,
    worker: &str,
    lock_token: &str,
    lease_ms: i64,
    limit: i64,
) -> QueryResult<Vec<ClaimedJob>> {
    match conn {
        DbConnection::Postgresql(c) => diesel::sql_query(format!(
            "UPDATE jobs SET run_at = {}, lock_token = $2, locked_by = $3, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM jobs WHERE state = 'queued' AND run_at <= {NOW_PG} \
                          ORDER BY run_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) {RETURNING}",
            later_pg(1)
        ))
        .bind::<BigInt, _>(lease_ms)
        .bind::<Text, _>(lock_token)
        .bind::<Text, _>(worker)
        .bind::<BigInt, _>(limit)
        .load(c),
        // One writer at a time on SQLite: a single UPDATE is exclusive.
        DbConnection::Sqlite(c) => diesel::sql_query(format!(
            "UPDATE jobs SET run_at = {LATER_SQLITE}, lock_token = ?, locked_by = ?, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM jobs WHERE state = 'queued' AND run_at <= {NOW_SQLITE} \
                          ORDER BY run_at, id LIMIT ?) {RETURNING}"
        ))
        .bind::<Text, _>(sqlite_offset(lease_ms))
        .bind::<Text, _>(lock_token)
        .bind::<Text, _>(worker)
        .bind::<BigInt, _>(limit)
        .load(c),
    }
}

/// Renews, in one statement, the leases of the jobs `worker` is running
/// (`ids`): the process's heartbeat. Only those: a claim whose answer was
/// lost (the connection died after the commit) is not running anywhere, and
/// must lapse to run again. Returns the (id, lock token) pairs still held.
pub fn renew_leases(
    conn: &mut DbConnection,
    worker: &str,
    ids: &[i64],
    lease_ms: i64,
) -> QueryResult<Vec<(i64, String)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // A plain number formatted by us, not user input.
    let until = match conn {
        DbConnection::Postgresql(_) => {
            format!("({NOW_PG} + {lease_ms} * interval '1 millisecond')")
        }
        DbConnection::Sqlite(_) => format!(
            "strftime('%Y-%m-%d %H:%M:%f', 'now', '{}')",
            sqlite_offset(lease_ms)
        ),
    };
    let rows: Vec<(i64, Option<String>)> = per_backend!(conn, |c| diesel::update(jobs::table)
        .filter(jobs::locked_by.eq(worker))
        .filter(jobs::id.eq_any(ids))
        .filter(jobs::lock_token.is_not_null())
        .set(jobs::run_at.eq(diesel::dsl::sql::<Timestamp>(&until)))
        .returning((jobs::id, jobs::lock_token))
        .get_results(c))?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, token)| Some((id, token?)))
        .collect())
}

/// The lock tokens of these jobs, for those that still exist.
pub fn tokens_of(conn: &mut DbConnection, ids: &[i64]) -> QueryResult<Vec<(i64, Option<String>)>> {
    jobs::table
        .filter(jobs::id.eq_any(ids))
        .select((jobs::id, jobs::lock_token))
        .load(conn)
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Whether the claim is still this worker's, with its lease unexpired: the
/// check before a side effect (an email) that must not happen twice.
pub fn is_held(conn: &mut DbConnection, id: i64, lock_token: &str) -> QueryResult<bool> {
    let row: Count = match conn {
        DbConnection::Postgresql(c) => diesel::sql_query(format!(
            "SELECT COUNT(*) AS n FROM jobs WHERE id = $1 AND lock_token = $2 AND run_at > {NOW_PG}"
        ))
        .bind::<BigInt, _>(id)
        .bind::<Text, _>(lock_token)
        .get_result(c)?,
        DbConnection::Sqlite(c) => diesel::sql_query(format!(
            "SELECT COUNT(*) AS n FROM jobs WHERE id = ? AND lock_token = ? AND run_at > {NOW_SQLITE}"
        ))
        .bind::<BigInt, _>(id)
        .bind::<Text, _>(lock_token)
        .get_result(c)?,
    };
    Ok(row.n == 1)
}

/// Deletes a finished job. False if the claim was lost (or the job had
/// completed itself already).
pub fn complete(conn: &mut DbConnection, id: i64, lock_token: &str) -> QueryResult<bool> {
    let n = diesel::delete(jobs::table)
        .filter(jobs::id.eq(id))
        .filter(jobs::lock_token.eq(lock_token))
        .execute(conn)?;
    Ok(n == 1)
}

/// Puts a failed job back in the queue, due `delay_ms` from now.
pub fn retry_later(
    conn: &mut DbConnection,
    id: i64,
    lock_token: &str,
    error: &str,
    delay_ms: i64,
) -> QueryResult<bool> {
    let n = match conn {
        DbConnection::Postgresql(c) => diesel::sql_query(format!(
            "UPDATE jobs SET run_at = {}, lock_token = NULL, locked_by = NULL, last_error = $2 \
             WHERE id = $3 AND lock_token = $4",
            later_pg(1)
        ))
        .bind::<BigInt, _>(delay_ms)
        .bind::<Text, _>(error)
        .bind::<BigInt, _>(id)
        .bind::<Text, _>(lock_token)
        .execute(c)?,
        DbConnection::Sqlite(c) => diesel::sql_query(format!(
            "UPDATE jobs SET run_at = {LATER_SQLITE}, lock_token = NULL, locked_by = NULL, last_error = ? \
             WHERE id = ? AND lock_token = ?"
        ))
        .bind::<Text, _>(sqlite_offset(delay_ms))
        .bind::<Text, _>(error)
        .bind::<BigInt, _>(id)
        .bind::<Text, _>(lock_token)
        .execute(c)?,
    };
    Ok(n == 1)
}

/// Marks a job as failed for good; the row stays for the operator.
pub fn bury(conn: &mut DbConnection, id: i64, lock_token: &str, error: &str) -> QueryResult<bool> {
    let n = diesel::update(jobs::table)
        .filter(jobs::id.eq(id))
        .filter(jobs::lock_token.eq(lock_token))
        .set((
            jobs::state.eq("failed"),
            jobs::lock_token.eq(None::<String>),
            jobs::locked_by.eq(None::<String>),
            jobs::last_error.eq(error),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Hands back every job `worker` still holds, due at once and with the
/// interrupted attempt not counted: a stopping process's jobs are taken by
/// the next worker without waiting for their leases to run out.
pub fn hand_back(conn: &mut DbConnection, worker: &str) -> QueryResult<usize> {
    let sql = match conn {
        DbConnection::Postgresql(_) => format!(
            "UPDATE jobs SET run_at = {NOW_PG}, lock_token = NULL, locked_by = NULL, \
             attempts = GREATEST(attempts - 1, 0) WHERE locked_by = $1 AND lock_token IS NOT NULL"
        ),
        DbConnection::Sqlite(_) => format!(
            "UPDATE jobs SET run_at = {NOW_SQLITE}, lock_token = NULL, locked_by = NULL, \
             attempts = MAX(attempts - 1, 0) WHERE locked_by = ? AND lock_token IS NOT NULL"
        ),
    };
    per_backend!(conn, |c| diesel::sql_query(&sql)
        .bind::<Text, _>(worker)
        .execute(c))
}

#[derive(QueryableByName)]
struct Wait {
    #[diesel(sql_type = Nullable<Double>)]
    ms: Option<f64>,
}

/// Milliseconds until the next queued job is due (negative: overdue), by
/// the database's clock; `None` when the queue is empty. A read, so idle
/// workers look for work without writing.
pub fn next_due_in_ms(conn: &mut DbConnection) -> QueryResult<Option<f64>> {
    let row: Wait = match conn {
        DbConnection::Postgresql(c) => diesel::sql_query(format!(
            "SELECT CAST(EXTRACT(EPOCH FROM (MIN(run_at) - {NOW_PG})) * 1000 AS DOUBLE PRECISION) AS ms \
             FROM jobs WHERE state = 'queued'"
        ))
        .get_result(c)?,
        DbConnection::Sqlite(c) => diesel::sql_query(
            "SELECT (julianday(MIN(run_at)) - julianday('now')) * 86400000.0 AS ms \
             FROM jobs WHERE state = 'queued'",
        )
        .get_result(c)?,
    };
    Ok(row.ms)
}

/// Deletes the queued jobs of one kind for one subject (a scheduled expiry
/// that a decision made pointless). Claimed ones are left to finish.
pub fn cancel(conn: &mut DbConnection, kind: &str, subject: &str) -> QueryResult<usize> {
    diesel::delete(jobs::table)
        .filter(jobs::kind.eq(kind))
        .filter(jobs::subject.eq(subject))
        .filter(jobs::state.eq("queued"))
        .filter(jobs::lock_token.is_null())
        .execute(conn)
}

/// How many jobs of one kind are in one state: `queued` (waiting, due or
/// scheduled), `running` (claimed, lease alive) or `failed` (buried).
#[derive(Debug, QueryableByName)]
pub struct KindCount {
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Text)]
    pub state: String,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

/// The queue's contents by kind and state, by the database's clock: the
/// same answer from every replica.
pub fn counts(conn: &mut DbConnection) -> QueryResult<Vec<KindCount>> {
    let now = match conn {
        DbConnection::Postgresql(_) => NOW_PG,
        DbConnection::Sqlite(_) => NOW_SQLITE,
    };
    let sql = format!(
        "SELECT kind, CASE WHEN state = 'failed' THEN 'failed' \
                           WHEN lock_token IS NOT NULL AND run_at > {now} THEN 'running' \
                           ELSE 'queued' END AS state, \
                COUNT(*) AS n \
         FROM jobs GROUP BY 1, 2"
    );
    per_backend!(conn, |c| diesel::sql_query(&sql).load(c))
}

#[derive(QueryableByName)]
struct Age {
    #[diesel(sql_type = Nullable<Double>)]
    seconds: Option<f64>,
}

/// Seconds the longest-waiting due job has waited past its time (a claim
/// whose lease ran out counts: nobody runs it); `None` when nothing is due.
pub fn oldest_ready_age_seconds(conn: &mut DbConnection) -> QueryResult<Option<f64>> {
    let row: Age = match conn {
        DbConnection::Postgresql(c) => diesel::sql_query(format!(
            "SELECT CAST(EXTRACT(EPOCH FROM ({NOW_PG} - MIN(run_at))) AS DOUBLE PRECISION) AS seconds \
             FROM jobs WHERE state = 'queued' AND run_at <= {NOW_PG}"
        ))
        .get_result(c)?,
        DbConnection::Sqlite(c) => diesel::sql_query(
            "SELECT (julianday('now') - julianday(MIN(run_at))) * 86400.0 AS seconds \
             FROM jobs WHERE state = 'queued' AND run_at <= strftime('%Y-%m-%d %H:%M:%f', 'now')",
        )
        .get_result(c)?,
    };
    Ok(row.seconds)
}
