//! Small key/value settings kept in the database (the generated signing
//! secret), shared by every replica.

use diesel::prelude::*;

use super::schema::settings;
use super::{per_backend, DbConnection};

/// The generated signing secret's key.
pub const SIGNING_SECRET: &str = "signing_secret";

/// Returns the stored value of `key`, storing `candidate` first if there is
/// none. Replicas starting together agree on one value: the first insert wins.
pub fn get_or_insert(conn: &mut DbConnection, key: &str, candidate: &str) -> QueryResult<String> {
    per_backend!(conn, |c| diesel::insert_into(settings::table)
        .values((settings::key.eq(key), settings::value.eq(candidate)))
        .on_conflict(settings::key)
        .do_nothing()
        .execute(c))?;
    settings::table
        .find(key)
        .select(settings::value)
        .first(conn)
}

/// The stored value of `key`, if any.
pub fn get(conn: &mut DbConnection, key: &str) -> QueryResult<Option<String>> {
    settings::table
        .find(key)
        .select(settings::value)
        .first(conn)
        .optional()
}

/// Replaces the stored value of `key`.
pub fn set(conn: &mut DbConnection, key: &str, value: &str) -> QueryResult<usize> {
    diesel::update(settings::table.find(key))
        .set(settings::value.eq(value))
        .execute(conn)
}

/// Removes `key`; true if it was stored.
pub fn remove(conn: &mut DbConnection, key: &str) -> QueryResult<bool> {
    Ok(diesel::delete(settings::table.find(key)).execute(conn)? > 0)
}
