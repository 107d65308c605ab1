//! Releases and their approvals.
//!
//! Every write transaction here starts with a write. On SQLite that takes
//! the write lock up front (a transaction that reads first and writes later
//! can fail with SQLITE_BUSY instead of waiting); on PostgreSQL, updating
//! the release row first locks it, so two approvers deciding at the same
//! instant are counted one after the other.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::jobs::{self, JobKind};
use super::models::{Approval, ClaimedJob, NewApprovalRow, NewReleaseRow, Release};
use super::schema::{approvals, releases};
use super::{per_backend, DbConnection, DbError};
use crate::domain::policy::{decide, Decision, ReleaseStatus, Tally};
use crate::domain::{NewRelease, ReleaseKey};

/// A release with its approvals, as the status document shows it.
#[derive(Debug, Clone)]
pub struct ReleaseView {
    pub release: Release,
    pub approvals: Vec<Approval>,
}

impl ReleaseView {
    /// A release just created: nobody to ask about it yet.
    pub fn created(release: Release) -> Self {
        Self {
            release,
            approvals: Vec::new(),
        }
    }

    pub fn tally(&self) -> Tally {
        tally(&self.release, &self.approvals)
    }
}

fn tally(release: &Release, approvals: &[Approval]) -> Tally {
    Tally::from_decisions(
        release.required_approvals.map(|n| n.max(0) as u32),
        approvals.iter().map(|a| a.decision.as_deref()),
    )
}

pub fn find(conn: &mut DbConnection, key: &ReleaseKey) -> QueryResult<Option<Release>> {
    releases::table
        .filter(releases::team_project.eq(key.team_project()))
        .filter(releases::release_id.eq(key.release_id()))
        .select(Release::as_select())
        .first(conn)
        .optional()
}

pub fn by_pk(conn: &mut DbConnection, pk: i64) -> QueryResult<Release> {
    releases::table
        .find(pk)
        .select(Release::as_select())
        .first(conn)
}

pub fn approvals_of(conn: &mut DbConnection, release_pk: i64) -> QueryResult<Vec<Approval>> {
    approvals::table
        .filter(approvals::release_pk.eq(release_pk))
        .order(approvals::id)
        .select(Approval::as_select())
        .load(conn)
}

pub fn approval_by_token_id(
    conn: &mut DbConnection,
    token_id: &str,
) -> QueryResult<Option<Approval>> {
    approvals::table
        .filter(approvals::token_id.eq(token_id))
        .select(Approval::as_select())
        .first(conn)
        .optional()
}

pub fn approval_by_pk(conn: &mut DbConnection, pk: i64) -> QueryResult<Approval> {
    approvals::table
        .find(pk)
        .select(Approval::as_select())
        .first(conn)
}

/// Loads a release with its approvals, first settling a deadline that has
/// passed (a pending release past `expires_at` becomes `expired`).
pub fn view(
    conn: &mut DbConnection,
    release: Release,
    now: NaiveDateTime,
) -> QueryResult<ReleaseView> {
    let approvals = approvals_of(conn, release.id)?;
    let current = release.status();
    let next = decide(
        current,
        &tally(&release, &approvals),
        now,
        release.expires_at,
    );
    if next == current {
        return Ok(ReleaseView { release, approvals });
    }
    // Another request may settle it at the same time: only a pending row is
    // changed, and what is stored afterwards is what we show.
    settle(conn, release.id, next, None, release.expires_at.min(now))?;
    Ok(ReleaseView {
        release: by_pk(conn, release.id)?,
        approvals,
    })
}

/// Sets the final status of a pending release. False if it was decided
/// already.
fn settle(
    conn: &mut DbConnection,
    pk: i64,
    status: ReleaseStatus,
    reason: Option<&str>,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    let n = diesel::update(releases::table)
        .filter(releases::id.eq(pk))
        .filter(releases::status.eq(ReleaseStatus::Pending.as_str()))
        .set((
            releases::status.eq(status.as_str()),
            releases::reason.eq(reason),
            releases::decided_at.eq(at),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Stores a new release together with the job that processes it, in one
/// transaction. `None` if the release exists: the database's unique key
/// decides between racing requests, not a read before the write.
pub fn insert_with_job(
    conn: &mut DbConnection,
    new: &NewRelease,
    now: NaiveDateTime,
    expires_at: NaiveDateTime,
    max_attempts: i32,
) -> QueryResult<Option<Release>> {
    let row = NewReleaseRow {
        team_project: new.key.team_project(),
        release_id: new.key.release_id(),
        release_name: &new.name,
        status: ReleaseStatus::Pending.as_str(),
        created_at: now,
        expires_at,
    };
    conn.transaction(|conn| {
        let inserted: Option<Release> =
            per_backend!(conn, |c| diesel::insert_into(releases::table)
                .values(&row)
                .on_conflict((releases::team_project, releases::release_id))
                .do_nothing()
                .returning(releases::all_columns)
                .get_result(c)
                .optional())?;
        if let Some(release) = &inserted {
            jobs::enqueue(
                conn,
                JobKind::ProcessRelease,
                release.id,
                None,
                max_attempts,
                now,
            )?;
        }
        Ok(inserted)
    })
}

/// Completes a release's processing job: stores its approvers and queues
/// one email job per approver, all in one transaction. Returns how many
/// emails were queued, or `None` if the job's lease was lost (another
/// worker owns it now and nothing was written).
pub fn store_approvers(
    conn: &mut DbConnection,
    job: &ClaimedJob,
    rows: Vec<NewApprovalRow>,
    max_attempts: i32,
    now: NaiveDateTime,
) -> QueryResult<Option<usize>> {
    conn.transaction(|conn| {
        if !jobs::complete(conn, job)? {
            return Ok(None);
        }
        let required = i32::try_from(rows.len()).unwrap_or(i32::MAX);
        let updated = diesel::update(releases::table)
            .filter(releases::id.eq(job.release_pk))
            .filter(releases::status.eq(ReleaseStatus::Pending.as_str()))
            .filter(releases::required_approvals.is_null())
            .set(releases::required_approvals.eq(required))
            .execute(conn)?;
        if updated == 0 {
            // Decided meanwhile (expired, say): nobody needs an email.
            return Ok(Some(0));
        }
        let count = rows.len();
        for row in rows {
            let approval_pk: i64 = diesel::insert_into(approvals::table)
                .values(&row)
                .returning(approvals::id)
                .get_result(conn)?;
            jobs::enqueue(
                conn,
                JobKind::SendApprovalEmail,
                job.release_pk,
                Some(approval_pk),
                max_attempts,
                now,
            )?;
        }
        Ok(Some(count))
    })
}

/// Records that the SMTP server accepted an approval email, and completes
/// its job.
pub fn mark_email_sent(
    conn: &mut DbConnection,
    job: &ClaimedJob,
    approval_pk: i64,
    now: NaiveDateTime,
) -> QueryResult<()> {
    conn.transaction(|conn| {
        diesel::update(approvals::table)
            .filter(approvals::id.eq(approval_pk))
            .filter(approvals::email_sent_at.is_null())
            .set(approvals::email_sent_at.eq(now))
            .execute(conn)?;
        jobs::complete(conn, job)?;
        Ok(())
    })
}

/// Buries a job that cannot succeed and fails its release with `reason`.
pub fn fail_with_job(
    conn: &mut DbConnection,
    job: &ClaimedJob,
    reason: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    conn.transaction(|conn| {
        if !jobs::bury(conn, job, reason)? {
            return Ok(false);
        }
        settle(
            conn,
            job.release_pk,
            ReleaseStatus::Failed,
            Some(reason),
            now,
        )
    })
}

/// What recording a decision did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionOutcome {
    /// The decision was stored.
    Recorded,
    /// This approver had decided already; nothing changed.
    AlreadyDecided(Decision),
    /// The release was decided (or expired) before this approver acted.
    ReleaseClosed,
}

pub fn record_decision(
    conn: &mut DbConnection,
    approval: &Approval,
    decision: Decision,
    comment: Option<&str>,
    now: NaiveDateTime,
) -> Result<(DecisionOutcome, ReleaseView), DbError> {
    Ok(conn.transaction::<_, diesel::result::Error, _>(|conn| {
        // Lock the release row first (see the module's comment).
        diesel::update(releases::table.find(approval.release_pk))
            .set(releases::status.eq(releases::status))
            .execute(conn)?;
        let release = by_pk(conn, approval.release_pk)?;
        let mut approvals = approvals_of(conn, release.id)?;
        let Some(mine) = approvals.iter().position(|a| a.id == approval.id) else {
            return Err(diesel::result::Error::NotFound);
        };
        if let Some(previous) = approvals[mine]
            .decision
            .as_deref()
            .and_then(|d| d.parse().ok())
        {
            let view = view(conn, release, now)?;
            return Ok((DecisionOutcome::AlreadyDecided(previous), view));
        }
        let current = release.status();
        if decide(
            current,
            &tally(&release, &approvals),
            now,
            release.expires_at,
        )
        .is_decided()
        {
            let view = view(conn, release, now)?;
            return Ok((DecisionOutcome::ReleaseClosed, view));
        }
        diesel::update(approvals::table.find(approval.id))
            .set((
                approvals::decision.eq(decision.as_str()),
                approvals::comment.eq(comment),
                approvals::decided_at.eq(now),
            ))
            .execute(conn)?;
        approvals[mine].decision = Some(decision.as_str().to_owned());
        let next = decide(
            current,
            &tally(&release, &approvals),
            now,
            release.expires_at,
        );
        if next != current {
            settle(conn, release.id, next, None, now)?;
        }
        let release = by_pk(conn, release.id)?;
        Ok((DecisionOutcome::Recorded, view(conn, release, now)?))
    })?)
}
