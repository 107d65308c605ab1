//! The audit trail's queries: append, and read in order. There is no
//! update or delete here, and the database refuses both.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::events;
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = events)]
pub struct EventRow {
    pub id: i64,
    /// The release it concerns; none for a control-plane event.
    pub release_pk: Option<i64>,
    pub at: NaiveDateTime,
    pub kind: String,
    pub actor: Option<String>,
    pub detail: String,
    /// The project (folded) of a control-plane event.
    pub team_project_key: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = events)]
pub struct NewEventRow<'a> {
    pub release_pk: Option<i64>,
    pub team_project_key: Option<&'a str>,
    pub at: NaiveDateTime,
    pub kind: &'a str,
    pub actor: Option<&'a str>,
    pub detail: &'a str,
}

pub fn append(conn: &mut DbConnection, row: &NewEventRow<'_>) -> QueryResult<()> {
    diesel::insert_into(events::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Appends a control-plane event of a project (folded key): one of a
/// deployment, a variable, an inventory entry or a stack.
pub fn append_to_project(
    conn: &mut DbConnection,
    team_project_key: &str,
    kind: &str,
    actor: Option<&str>,
    detail: &serde_json::Value,
    at: NaiveDateTime,
) -> QueryResult<()> {
    append(
        conn,
        &NewEventRow {
            release_pk: None,
            team_project_key: Some(team_project_key),
            at,
            kind,
            actor,
            detail: &detail.to_string(),
        },
    )
}

/// A release's events, oldest first.
pub fn of_release(conn: &mut DbConnection, release_pk: i64) -> QueryResult<Vec<EventRow>> {
    events::table
        .filter(events::release_pk.eq(release_pk))
        .order(events::id)
        .select(EventRow::as_select())
        .load(conn)
}

/// Which of a project's control-plane events to read: of one type, after
/// the id `after` (the cursor), oldest first.
#[derive(Debug, Clone)]
pub struct ProjectFilter {
    pub team_project_key: String,
    pub kind: Option<String>,
    pub after: Option<i64>,
    pub limit: i64,
}

/// A page of a project's control-plane events, oldest first.
pub fn of_project(conn: &mut DbConnection, filter: &ProjectFilter) -> QueryResult<Vec<EventRow>> {
    let mut query = events::table
        .filter(events::team_project_key.eq(&filter.team_project_key))
        .order(events::id)
        .limit(filter.limit)
        .select(EventRow::as_select())
        .into_boxed();
    if let Some(kind) = &filter.kind {
        query = query.filter(events::kind.eq(kind));
    }
    if let Some(after) = filter.after {
        query = query.filter(events::id.gt(after));
    }
    query.load(conn)
}
