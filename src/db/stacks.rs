//! Test stacks, their leases and the queue of requests waiting for one:
//! queries only. Which stack a request gets, and when, is decided in
//! `crate::stacks::service`, under `lock_project`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::Text;

use super::schema::{stack_leases, stack_waiters, stacks};
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = stacks)]
pub struct Stack {
    pub pk: i64,
    pub team_project: String,
    pub team_project_key: String,
    pub number: i64,
    pub name: String,
    pub branch: String,
    pub last_deployed_commit: Option<String>,
    pub is_available: bool,
    pub fence: i64,
    pub last_requested_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub modified_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = stacks)]
pub struct NewStackRow<'a> {
    pub team_project: &'a str,
    pub team_project_key: &'a str,
    pub number: i64,
    pub name: &'a str,
    pub branch: &'a str,
    pub is_available: bool,
    pub fence: i64,
    pub last_requested_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub modified_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = stack_leases)]
pub struct Lease {
    pub pk: i64,
    pub stack_pk: i64,
    pub team_project_key: String,
    pub stack_name: String,
    pub fence: i64,
    pub token_hash: String,
    pub branch: String,
    pub holder: Option<String>,
    pub granted_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub ended_at: Option<NaiveDateTime>,
    pub end_reason: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = stack_leases)]
pub struct NewLeaseRow<'a> {
    pub stack_pk: i64,
    pub team_project_key: &'a str,
    pub stack_name: &'a str,
    pub fence: i64,
    pub token_hash: &'a str,
    pub branch: &'a str,
    pub holder: Option<&'a str>,
    pub granted_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = stack_waiters)]
pub struct Waiter {
    pub pk: i64,
    pub team_project_key: String,
    pub request_id: String,
    pub branch: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

/// Serialises a project's stack changes: on PostgreSQL a transaction-level
/// advisory lock on the project (every replica's requests queue on it). On
/// SQLite a process's writes run one at a time through its writer, and a
/// write statement first takes the file's write lock, waiting for another
/// process's: reading first would leave a snapshot that SQLite refuses to
/// upgrade once another process has written (busy at once, no wait).
pub fn lock_project(conn: &mut DbConnection, team_project_key: &str) -> QueryResult<()> {
    match conn {
        DbConnection::Postgresql(c) => {
            diesel::sql_query(
                "SELECT 1 FROM (SELECT pg_advisory_xact_lock(hashtextextended($1, 24))) AS locked",
            )
            .bind::<Text, _>(team_project_key)
            .execute(c)?;
        }
        DbConnection::Sqlite(c) => {
            diesel::sql_query("DELETE FROM stack_waiters WHERE 0").execute(c)?;
        }
    }
    Ok(())
}

/// A project's stacks, by number.
pub fn of_project(conn: &mut DbConnection, team_project_key: &str) -> QueryResult<Vec<Stack>> {
    stacks::table
        .filter(stacks::team_project_key.eq(team_project_key))
        .order(stacks::number)
        .select(Stack::as_select())
        .load(conn)
}

pub fn by_name(
    conn: &mut DbConnection,
    team_project_key: &str,
    name: &str,
) -> QueryResult<Option<Stack>> {
    stacks::table
        .filter(stacks::team_project_key.eq(team_project_key))
        .filter(stacks::name.eq(name))
        .select(Stack::as_select())
        .first(conn)
        .optional()
}

pub fn by_pk(conn: &mut DbConnection, pk: i64) -> QueryResult<Option<Stack>> {
    stacks::table
        .find(pk)
        .select(Stack::as_select())
        .first(conn)
        .optional()
}

/// Inserts a stack; the unique (project, number) refuses a second one.
pub fn insert(conn: &mut DbConnection, row: &NewStackRow<'_>) -> QueryResult<Stack> {
    diesel::insert_into(stacks::table)
        .values(row)
        .execute(conn)?;
    stacks::table
        .filter(stacks::team_project_key.eq(row.team_project_key))
        .filter(stacks::number.eq(row.number))
        .select(Stack::as_select())
        .first(conn)
}

/// Marks a stack leased to `branch` with its new fence.
pub fn set_leased(
    conn: &mut DbConnection,
    pk: i64,
    branch: &str,
    fence: i64,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(stacks::table.find(pk))
        .set((
            stacks::is_available.eq(false),
            stacks::branch.eq(branch),
            stacks::fence.eq(fence),
            stacks::last_requested_at.eq(now),
            stacks::modified_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn set_available(conn: &mut DbConnection, pk: i64, now: NaiveDateTime) -> QueryResult<()> {
    diesel::update(stacks::table.find(pk))
        .set((stacks::is_available.eq(true), stacks::modified_at.eq(now)))
        .execute(conn)?;
    Ok(())
}

pub fn set_commit(
    conn: &mut DbConnection,
    pk: i64,
    commit: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(stacks::table.find(pk))
        .set((
            stacks::last_deployed_commit.eq(commit),
            stacks::modified_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn delete(conn: &mut DbConnection, pk: i64) -> QueryResult<()> {
    diesel::delete(stacks::table.find(pk)).execute(conn)?;
    Ok(())
}

/// The highest fence a stack of this name was ever granted with (a
/// deleted one's included), so a recreated stack's fences go on growing.
pub fn last_fence(conn: &mut DbConnection, team_project_key: &str, name: &str) -> QueryResult<i64> {
    let max: Option<i64> = stack_leases::table
        .filter(stack_leases::team_project_key.eq(team_project_key))
        .filter(stack_leases::stack_name.eq(name))
        .select(diesel::dsl::max(stack_leases::fence))
        .first(conn)?;
    Ok(max.unwrap_or(0))
}

/// How many stacks are available and leased, in every project.
pub fn counts(conn: &mut DbConnection) -> QueryResult<(i64, i64)> {
    let rows: Vec<(bool, i64)> = stacks::table
        .group_by(stacks::is_available)
        .select((stacks::is_available, diesel::dsl::count_star()))
        .load(conn)?;
    let of = |available: bool| {
        rows.iter()
            .find(|(a, _)| *a == available)
            .map_or(0, |(_, n)| *n)
    };
    Ok((of(true), of(false)))
}

// ------------------------------------------------------------------ leases

pub fn insert_lease(conn: &mut DbConnection, row: &NewLeaseRow<'_>) -> QueryResult<Lease> {
    diesel::insert_into(stack_leases::table)
        .values(row)
        .execute(conn)?;
    stack_leases::table
        .filter(stack_leases::token_hash.eq(row.token_hash))
        .select(Lease::as_select())
        .first(conn)
}

pub fn lease_by_pk(conn: &mut DbConnection, pk: i64) -> QueryResult<Option<Lease>> {
    stack_leases::table
        .find(pk)
        .select(Lease::as_select())
        .first(conn)
        .optional()
}

/// The open lease of a stack, if it is leased.
pub fn open_lease(conn: &mut DbConnection, stack_pk: i64) -> QueryResult<Option<Lease>> {
    stack_leases::table
        .filter(stack_leases::stack_pk.eq(stack_pk))
        .filter(stack_leases::ended_at.is_null())
        .select(Lease::as_select())
        .first(conn)
        .optional()
}

/// A lease of this project's stack `name` by its token's hash, open or
/// ended.
pub fn lease_by_hash(
    conn: &mut DbConnection,
    team_project_key: &str,
    name: &str,
    token_hash: &str,
) -> QueryResult<Option<Lease>> {
    stack_leases::table
        .filter(stack_leases::token_hash.eq(token_hash))
        .filter(stack_leases::team_project_key.eq(team_project_key))
        .filter(stack_leases::stack_name.eq(name))
        .select(Lease::as_select())
        .first(conn)
        .optional()
}

/// The project's open leases that lapsed by `now`.
pub fn lapsed(
    conn: &mut DbConnection,
    team_project_key: &str,
    now: NaiveDateTime,
) -> QueryResult<Vec<Lease>> {
    stack_leases::table
        .filter(stack_leases::team_project_key.eq(team_project_key))
        .filter(stack_leases::ended_at.is_null())
        .filter(stack_leases::expires_at.le(now))
        .select(Lease::as_select())
        .load(conn)
}

pub fn extend_lease(
    conn: &mut DbConnection,
    pk: i64,
    expires_at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(stack_leases::table.find(pk))
        .set(stack_leases::expires_at.eq(expires_at))
        .execute(conn)?;
    Ok(())
}

/// Ends an open lease (`released` or `expired`).
pub fn end_lease(
    conn: &mut DbConnection,
    pk: i64,
    reason: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(stack_leases::table.find(pk))
        .filter(stack_leases::ended_at.is_null())
        .set((
            stack_leases::ended_at.eq(now),
            stack_leases::end_reason.eq(reason),
        ))
        .execute(conn)?;
    Ok(())
}

// ----------------------------------------------------------------- waiters

/// Forgets the waiters of a project that stopped asking.
pub fn forget_gone_waiters(
    conn: &mut DbConnection,
    team_project_key: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::delete(
        stack_waiters::table
            .filter(stack_waiters::team_project_key.eq(team_project_key))
            .filter(stack_waiters::expires_at.lt(now)),
    )
    .execute(conn)?;
    Ok(())
}

pub fn waiter(
    conn: &mut DbConnection,
    team_project_key: &str,
    request_id: &str,
) -> QueryResult<Option<Waiter>> {
    stack_waiters::table
        .filter(stack_waiters::team_project_key.eq(team_project_key))
        .filter(stack_waiters::request_id.eq(request_id))
        .select(Waiter::as_select())
        .first(conn)
        .optional()
}

/// How many of the project's waiters came before `pk` (all of them for
/// `None`: a newcomer).
pub fn waiters_before(
    conn: &mut DbConnection,
    team_project_key: &str,
    pk: Option<i64>,
) -> QueryResult<i64> {
    let mut query = stack_waiters::table
        .filter(stack_waiters::team_project_key.eq(team_project_key))
        .into_boxed();
    if let Some(pk) = pk {
        query = query.filter(stack_waiters::pk.lt(pk));
    }
    query.count().get_result(conn)
}

pub fn insert_waiter(
    conn: &mut DbConnection,
    team_project_key: &str,
    request_id: &str,
    branch: &str,
    now: NaiveDateTime,
    expires_at: NaiveDateTime,
) -> QueryResult<Waiter> {
    diesel::insert_into(stack_waiters::table)
        .values((
            stack_waiters::team_project_key.eq(team_project_key),
            stack_waiters::request_id.eq(request_id),
            stack_waiters::branch.eq(branch),
            stack_waiters::created_at.eq(now),
            stack_waiters::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    waiter(conn, team_project_key, request_id)?.ok_or(diesel::result::Error::NotFound)
}

pub fn keep_waiter(conn: &mut DbConnection, pk: i64, expires_at: NaiveDateTime) -> QueryResult<()> {
    diesel::update(stack_waiters::table.find(pk))
        .set(stack_waiters::expires_at.eq(expires_at))
        .execute(conn)?;
    Ok(())
}

pub fn delete_waiter(conn: &mut DbConnection, pk: i64) -> QueryResult<()> {
    diesel::delete(stack_waiters::table.find(pk)).execute(conn)?;
    Ok(())
}

/// Requests waiting for a stack, in every project.
pub fn waiting(conn: &mut DbConnection) -> QueryResult<i64> {
    stack_waiters::table.count().get_result(conn)
}
