//! The job queue's queries. Every change to a claimed job names its lock
//! token, so a worker whose lease ran out (and whose job was claimed again
//! elsewhere) cannot complete or reschedule it a second time.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Text, Timestamp};

use super::models::{ClaimedJob, NewJobRow};
use super::schema::jobs;
use super::{per_backend, DbConnection};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// Fetch the approvers of a release, mint their tokens, queue their emails.
    ProcessRelease,
    /// Send one approver the approval email.
    SendApprovalEmail,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProcessRelease => "process_release",
            Self::SendApprovalEmail => "send_approval_email",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "process_release" => Some(Self::ProcessRelease),
            "send_approval_email" => Some(Self::SendApprovalEmail),
            _ => None,
        }
    }
}

pub fn enqueue(
    conn: &mut DbConnection,
    kind: JobKind,
    release_pk: i64,
    approval_pk: Option<i64>,
    max_attempts: i32,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(jobs::table)
        .values(&NewJobRow {
            kind: kind.as_str(),
            release_pk,
            approval_pk,
            max_attempts,
            run_at: now,
            created_at: now,
        })
        .execute(conn)?;
    Ok(())
}

const CLAIM_POSTGRES: &str =
    "UPDATE jobs SET run_at = $1, lock_token = $2, attempts = attempts + 1 \
     WHERE id = (SELECT id FROM jobs WHERE state = 'queued' AND run_at <= $3 \
                 ORDER BY run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
     RETURNING id, kind, release_pk, approval_pk, attempts, max_attempts, last_error, lock_token";

// SQLite runs one writer at a time, so a single UPDATE is already exclusive.
const CLAIM_SQLITE: &str = "UPDATE jobs SET run_at = ?, lock_token = ?, attempts = attempts + 1 \
     WHERE id = (SELECT id FROM jobs WHERE state = 'queued' AND run_at <= ? \
                 ORDER BY run_at, id LIMIT 1) \
     RETURNING id, kind, release_pk, approval_pk, attempts, max_attempts, last_error, lock_token";

/// Claims the job that is due first, leasing it until `lease_until`: if the
/// worker dies, the job becomes due again then. The attempt is counted at
/// claim time, so a job that kills its worker still runs out of attempts.
pub fn claim(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    lock_token: &str,
) -> QueryResult<Option<ClaimedJob>> {
    let sql = match conn {
        DbConnection::Postgresql(_) => CLAIM_POSTGRES,
        DbConnection::Sqlite(_) => CLAIM_SQLITE,
    };
    per_backend!(conn, |c| diesel::sql_query(sql)
        .bind::<Timestamp, _>(lease_until)
        .bind::<Text, _>(lock_token)
        .bind::<Timestamp, _>(now)
        .get_result::<ClaimedJob>(c)
        .optional())
}

fn lock_token(job: &ClaimedJob) -> &str {
    job.lock_token.as_deref().unwrap_or_default()
}

/// Extends the lease of a job that is still running. False if it was lost.
pub fn extend_lease(
    conn: &mut DbConnection,
    job: &ClaimedJob,
    lease_until: NaiveDateTime,
) -> QueryResult<bool> {
    let n = diesel::update(jobs::table)
        .filter(jobs::id.eq(job.id))
        .filter(jobs::lock_token.eq(lock_token(job)))
        .set(jobs::run_at.eq(lease_until))
        .execute(conn)?;
    Ok(n == 1)
}

/// Deletes a finished job. False if the lease was lost.
pub fn complete(conn: &mut DbConnection, job: &ClaimedJob) -> QueryResult<bool> {
    let n = diesel::delete(jobs::table)
        .filter(jobs::id.eq(job.id))
        .filter(jobs::lock_token.eq(lock_token(job)))
        .execute(conn)?;
    Ok(n == 1)
}

/// Puts a failed job back in the queue, due at `run_at`.
pub fn reschedule(
    conn: &mut DbConnection,
    job: &ClaimedJob,
    error: &str,
    run_at: NaiveDateTime,
) -> QueryResult<bool> {
    let n = diesel::update(jobs::table)
        .filter(jobs::id.eq(job.id))
        .filter(jobs::lock_token.eq(lock_token(job)))
        .set((
            jobs::run_at.eq(run_at),
            jobs::lock_token.eq(None::<String>),
            jobs::last_error.eq(error),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Marks a job as failed for good; the row stays for the operator.
pub fn bury(conn: &mut DbConnection, job: &ClaimedJob, error: &str) -> QueryResult<bool> {
    let n = diesel::update(jobs::table)
        .filter(jobs::id.eq(job.id))
        .filter(jobs::lock_token.eq(lock_token(job)))
        .set((
            jobs::state.eq("failed"),
            jobs::lock_token.eq(None::<String>),
            jobs::last_error.eq(error),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Jobs still queued (due or not), for readiness and tests.
pub fn queued_count(conn: &mut DbConnection) -> QueryResult<i64> {
    jobs::table
        .filter(jobs::state.eq("queued"))
        .count()
        .get_result(conn)
}
