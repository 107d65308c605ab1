//! The API keys' queries. Only keyed hashes are stored (see
//! `crate::api_key`); this module never sees a key in clear.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::api_keys;
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_keys)]
pub struct ApiKeyRow {
    pub id: i64,
    pub key_hash: String,
    /// As the operator typed it; `None` for an admin key.
    pub team_project: Option<String>,
    /// Folded like a release's project, for comparisons.
    pub team_project_key: Option<String>,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = api_keys)]
pub struct NewApiKeyRow<'a> {
    pub key_hash: &'a str,
    pub team_project: Option<&'a str>,
    pub team_project_key: Option<&'a str>,
    pub created_at: NaiveDateTime,
}

/// Stores a key; returns its id.
pub fn insert(conn: &mut DbConnection, row: &NewApiKeyRow<'_>) -> QueryResult<i64> {
    diesel::insert_into(api_keys::table)
        .values(row)
        .returning(api_keys::id)
        .get_result(conn)
}

/// The key with this hash, revoked or not.
pub fn by_hash(conn: &mut DbConnection, key_hash: &str) -> QueryResult<Option<ApiKeyRow>> {
    api_keys::table
        .filter(api_keys::key_hash.eq(key_hash))
        .select(ApiKeyRow::as_select())
        .first(conn)
        .optional()
}

/// Every key, oldest first.
pub fn list(conn: &mut DbConnection) -> QueryResult<Vec<ApiKeyRow>> {
    api_keys::table
        .order(api_keys::id)
        .select(ApiKeyRow::as_select())
        .load(conn)
}

/// Revokes a key; false if there is no such key or it was revoked already.
pub fn revoke(conn: &mut DbConnection, id: i64, now: NaiveDateTime) -> QueryResult<bool> {
    let n = diesel::update(api_keys::table)
        .filter(api_keys::id.eq(id).and(api_keys::revoked_at.is_null()))
        .set(api_keys::revoked_at.eq(now))
        .execute(conn)?;
    Ok(n == 1)
}

/// Records a use, unless one was recorded since `stale_before` (so a busy
/// pipeline costs one write a minute, not one per request).
pub fn touch(
    conn: &mut DbConnection,
    id: i64,
    now: NaiveDateTime,
    stale_before: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(api_keys::table)
        .filter(
            api_keys::id.eq(id).and(
                api_keys::last_used_at
                    .is_null()
                    .or(api_keys::last_used_at.lt(stale_before)),
            ),
        )
        .set(api_keys::last_used_at.eq(now))
        .execute(conn)?;
    Ok(())
}
