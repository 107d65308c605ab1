//! The queries of `subscribers`: who is told of a release's decision.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::subscribers;
use super::{per_backend, DbConnection};
use crate::domain::SubscriberKind;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = subscribers)]
pub struct SubscriberRow {
    pub id: i64,
    pub release_pk: i64,
    pub kind: SubscriberKind,
    pub target: String,
    pub credential: Option<String>,
    pub dedupe_key: String,
    pub max_attempts: i32,
    pub created_at: NaiveDateTime,
    pub notified_at: Option<NaiveDateTime>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = subscribers)]
pub struct NewSubscriberRow<'a> {
    pub release_pk: i64,
    pub kind: SubscriberKind,
    pub target: &'a str,
    pub credential: Option<&'a str>,
    pub dedupe_key: &'a str,
    pub max_attempts: i32,
    pub created_at: NaiveDateTime,
}

/// Stores a subscriber unless the same one (kind and dedupe key) is
/// there; returns the new row's id, `None` if it existed.
pub fn insert_new(conn: &mut DbConnection, row: &NewSubscriberRow<'_>) -> QueryResult<Option<i64>> {
    per_backend!(conn, |c| diesel::insert_into(subscribers::table)
        .values(row)
        .on_conflict((
            subscribers::release_pk,
            subscribers::kind,
            subscribers::dedupe_key
        ))
        .do_nothing()
        .returning(subscribers::id)
        .get_result(c)
        .optional())
}

pub fn by_pk(conn: &mut DbConnection, id: i64) -> QueryResult<SubscriberRow> {
    subscribers::table
        .find(id)
        .select(SubscriberRow::as_select())
        .first(conn)
}

/// A release's subscribers not told yet.
pub fn waiting(conn: &mut DbConnection, release_pk: i64) -> QueryResult<Vec<SubscriberRow>> {
    subscribers::table
        .filter(subscribers::release_pk.eq(release_pk))
        .filter(subscribers::notified_at.is_null())
        .order(subscribers::id)
        .select(SubscriberRow::as_select())
        .load(conn)
}

/// Marks a subscriber told; false if it was already.
pub fn mark_notified(conn: &mut DbConnection, id: i64, at: NaiveDateTime) -> QueryResult<bool> {
    let n = diesel::update(subscribers::table)
        .filter(
            subscribers::id
                .eq(id)
                .and(subscribers::notified_at.is_null()),
        )
        .set(subscribers::notified_at.eq(at))
        .execute(conn)?;
    Ok(n == 1)
}

/// Every stored credential, by subscriber id (a key rotation re-seals them).
pub fn credentials(conn: &mut DbConnection) -> QueryResult<Vec<(i64, String)>> {
    subscribers::table
        .filter(subscribers::credential.is_not_null())
        .select((subscribers::id, subscribers::credential.assume_not_null()))
        .order(subscribers::id)
        .load(conn)
}

pub fn set_credential(conn: &mut DbConnection, id: i64, credential: &str) -> QueryResult<usize> {
    diesel::update(subscribers::table.find(id))
        .set(subscribers::credential.eq(credential))
        .execute(conn)
}
