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
    pub release_pk: i64,
    pub at: NaiveDateTime,
    pub kind: String,
    pub actor: Option<String>,
    pub detail: String,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = events)]
pub struct NewEventRow<'a> {
    pub release_pk: i64,
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

/// A release's events, oldest first.
pub fn of_release(conn: &mut DbConnection, release_pk: i64) -> QueryResult<Vec<EventRow>> {
    events::table
        .filter(events::release_pk.eq(release_pk))
        .order(events::id)
        .select(EventRow::as_select())
        .load(conn)
}
