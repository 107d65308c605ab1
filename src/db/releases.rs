//! Releases and their approvals: queries only. What a decision does, and
//! in which order, is decided in `crate::releases::lifecycle`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::models::{Approval, NewApprovalRow, NewReleaseRow, Release};
use super::schema::{approvals, release_limits, releases};
use super::{per_backend, DbConnection};
use crate::domain::policy::{Decision, ReleaseStatus};
use crate::domain::ReleaseKey;

pub fn find(conn: &mut DbConnection, key: &ReleaseKey) -> QueryResult<Option<Release>> {
    releases::table
        .filter(releases::team_project_key.eq(key.team_project_key()))
        .filter(releases::environment_key.eq(key.environment_key()))
        .filter(releases::release_id.eq(key.release_id()))
        .select(Release::as_select())
        .first(conn)
        .optional()
}

/// A release and its approvals in one statement (one round trip on
/// PostgreSQL, one read transaction on SQLite): what a poll reads.
pub fn find_with_approvals(
    conn: &mut DbConnection,
    key: &ReleaseKey,
) -> QueryResult<Option<(Release, Vec<Approval>)>> {
    let rows: Vec<(Release, Option<Approval>)> = releases::table
        .left_join(approvals::table)
        .filter(releases::team_project_key.eq(key.team_project_key()))
        .filter(releases::environment_key.eq(key.environment_key()))
        .filter(releases::release_id.eq(key.release_id()))
        .order(approvals::id)
        .select((Release::as_select(), Option::<Approval>::as_select()))
        .load(conn)?;
    let mut rows = rows.into_iter();
    let Some((release, first)) = rows.next() else {
        return Ok(None);
    };
    let approvals = first
        .into_iter()
        .chain(rows.filter_map(|(_, a)| a))
        .collect();
    Ok(Some((release, approvals)))
}

pub fn by_pk(conn: &mut DbConnection, pk: i64) -> QueryResult<Release> {
    releases::table
        .find(pk)
        .select(Release::as_select())
        .first(conn)
}

/// Which releases a list shows: folded project and environment keys, a
/// stored status, and ids below `before` (the cursor), newest first.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub team_project_key: Option<String>,
    pub environment_key: Option<String>,
    pub status: Option<ReleaseStatus>,
    pub before: Option<i64>,
    pub limit: i64,
}

/// A page of releases, newest first, with their approvals. Ids only grow,
/// so a page that starts below the last id seen stays the same while new
/// releases arrive.
pub fn list(
    conn: &mut DbConnection,
    filter: &ListFilter,
) -> QueryResult<Vec<(Release, Vec<Approval>)>> {
    let mut query = releases::table
        .select(Release::as_select())
        .order(releases::id.desc())
        .limit(filter.limit)
        .into_boxed();
    if let Some(key) = &filter.team_project_key {
        query = query.filter(releases::team_project_key.eq(key));
    }
    if let Some(key) = &filter.environment_key {
        query = query.filter(releases::environment_key.eq(key));
    }
    if let Some(status) = filter.status {
        query = query.filter(releases::status.eq(status));
    }
    if let Some(before) = filter.before {
        query = query.filter(releases::id.lt(before));
    }
    let page: Vec<Release> = query.load(conn)?;
    let pks: Vec<i64> = page.iter().map(|r| r.id).collect();
    let mut approvals: Vec<Approval> = approvals::table
        .filter(approvals::release_pk.eq_any(&pks))
        .order(approvals::id)
        .select(Approval::as_select())
        .load(conn)?;
    Ok(page
        .into_iter()
        .map(|release| {
            let (mine, rest) = approvals
                .drain(..)
                .partition(|a| a.release_pk == release.id);
            approvals = rest;
            (release, mine)
        })
        .collect())
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

/// Inserts a release. `None` if it exists: the unique key decides between
/// racing requests, not a read before the write.
pub fn insert(conn: &mut DbConnection, row: &NewReleaseRow<'_>) -> QueryResult<Option<Release>> {
    per_backend!(conn, |c| diesel::insert_into(releases::table)
        .values(row)
        .on_conflict((
            releases::team_project_key,
            releases::environment_key,
            releases::release_id,
        ))
        .do_nothing()
        .returning(releases::all_columns)
        .get_result(c)
        .optional())
}

/// Takes the release row's lock (PostgreSQL) or the write lock (SQLite)
/// before anything is read, so that concurrent decisions on one release
/// run one after the other and each sees the ones before it.
pub fn lock(conn: &mut DbConnection, pk: i64) -> QueryResult<()> {
    diesel::update(releases::table.find(pk))
        .set(releases::status.eq(releases::status))
        .execute(conn)?;
    Ok(())
}

/// Keeps the latest a new release may expire by its policy.
pub fn insert_limit(conn: &mut DbConnection, pk: i64, at: NaiveDateTime) -> QueryResult<()> {
    diesel::insert_into(release_limits::table)
        .values((
            release_limits::release_pk.eq(pk),
            release_limits::ttl_expires_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// The latest `release` may expire: a waiter's cap moves `expires_at` up
/// to here, and approval links live this long. A release stored before
/// the limit was kept has its `expires_at` as the limit.
pub fn expiry_limit(conn: &mut DbConnection, release: &Release) -> QueryResult<NaiveDateTime> {
    Ok(release_limits::table
        .find(release.id)
        .select(release_limits::ttl_expires_at)
        .first(conn)
        .optional()?
        .unwrap_or(release.expires_at))
}

/// Moves a pending release's deadline. False if it was decided meanwhile.
pub fn set_expires_at(conn: &mut DbConnection, pk: i64, at: NaiveDateTime) -> QueryResult<bool> {
    let updated = diesel::update(releases::table)
        .filter(releases::id.eq(pk))
        .filter(releases::status.eq(ReleaseStatus::Pending))
        .set(releases::expires_at.eq(at))
        .execute(conn)?;
    Ok(updated == 1)
}

/// Records how many approvals a pending release needs, once. False if it
/// was decided meanwhile (or already set).
pub fn set_required_approvals(conn: &mut DbConnection, pk: i64, n: i32) -> QueryResult<bool> {
    let updated = diesel::update(releases::table)
        .filter(releases::id.eq(pk))
        .filter(releases::status.eq(ReleaseStatus::Pending))
        .filter(releases::required_approvals.is_null())
        .set(releases::required_approvals.eq(n))
        .execute(conn)?;
    Ok(updated == 1)
}

pub fn insert_approval(conn: &mut DbConnection, row: &NewApprovalRow) -> QueryResult<i64> {
    diesel::insert_into(approvals::table)
        .values(row)
        .returning(approvals::id)
        .get_result(conn)
}

pub fn set_decision(
    conn: &mut DbConnection,
    approval_pk: i64,
    decision: Decision,
    comment: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(approvals::table.find(approval_pk))
        .filter(approvals::decision.is_null())
        .set((
            approvals::decision.eq(decision),
            approvals::comment.eq(comment),
            approvals::decided_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Sets the final status of a pending release. False if it was decided
/// already.
pub fn settle(
    conn: &mut DbConnection,
    pk: i64,
    status: ReleaseStatus,
    reason: Option<&str>,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    let n = diesel::update(releases::table)
        .filter(releases::id.eq(pk))
        .filter(releases::status.eq(ReleaseStatus::Pending))
        .set((
            releases::status.eq(status),
            releases::reason.eq(reason),
            releases::decided_at.eq(at),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Records that an approver was reminded (once). False if they were
/// already.
pub fn mark_reminded(
    conn: &mut DbConnection,
    approval_pk: i64,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let n = diesel::update(approvals::table)
        .filter(approvals::id.eq(approval_pk))
        .filter(approvals::reminded_at.is_null())
        .set(approvals::reminded_at.eq(now))
        .execute(conn)?;
    Ok(n == 1)
}

/// Records that the mail server accepted an approval email (once). False
/// if it was recorded already.
pub fn mark_email_sent(
    conn: &mut DbConnection,
    approval_pk: i64,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let n = diesel::update(approvals::table)
        .filter(approvals::id.eq(approval_pk))
        .filter(approvals::email_sent_at.is_null())
        .set(approvals::email_sent_at.eq(now))
        .execute(conn)?;
    Ok(n == 1)
}
