//! A project's variables: one row per entry, at the project level
//! (`environment_key` empty) or at one environment's. Values of secrets
//! arrive here sealed; this file never sees them in clear.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::variables;
use super::{per_backend, DbConnection};

/// The project level's `environment_key`.
pub const PROJECT_LEVEL: &str = "";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = variables)]
pub struct VariableRow {
    pub id: i64,
    pub team_project_key: String,
    pub environment_key: String,
    pub environment: String,
    pub name: String,
    /// None when `unset`; sealed when `secret`.
    pub value: Option<String>,
    pub secret: bool,
    pub unset: bool,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = variables)]
pub struct NewVariableRow<'a> {
    pub team_project_key: &'a str,
    pub environment_key: &'a str,
    pub environment: &'a str,
    pub name: &'a str,
    pub value: Option<&'a str>,
    pub secret: bool,
    pub unset: bool,
    pub updated_at: NaiveDateTime,
}

/// Inserts the entry or replaces the one of the same level and name.
pub fn upsert(conn: &mut DbConnection, row: &NewVariableRow<'_>) -> QueryResult<()> {
    per_backend!(conn, |c| diesel::insert_into(variables::table)
        .values(row)
        .on_conflict((
            variables::team_project_key,
            variables::environment_key,
            variables::name,
        ))
        .do_update()
        .set((
            variables::value.eq(row.value),
            variables::secret.eq(row.secret),
            variables::unset.eq(row.unset),
            variables::updated_at.eq(row.updated_at),
        ))
        .execute(c))?;
    Ok(())
}

/// One entry of a level.
pub fn find(
    conn: &mut DbConnection,
    team_project_key: &str,
    environment_key: &str,
    name: &str,
) -> QueryResult<Option<VariableRow>> {
    variables::table
        .filter(variables::team_project_key.eq(team_project_key))
        .filter(variables::environment_key.eq(environment_key))
        .filter(variables::name.eq(name))
        .select(VariableRow::as_select())
        .first(conn)
        .optional()
}

/// How many entries a level holds.
pub fn count(
    conn: &mut DbConnection,
    team_project_key: &str,
    environment_key: &str,
) -> QueryResult<i64> {
    variables::table
        .filter(variables::team_project_key.eq(team_project_key))
        .filter(variables::environment_key.eq(environment_key))
        .count()
        .get_result(conn)
}

/// Removes one entry; true if it was there.
pub fn delete(
    conn: &mut DbConnection,
    team_project_key: &str,
    environment_key: &str,
    name: &str,
) -> QueryResult<bool> {
    let deleted = diesel::delete(
        variables::table
            .filter(variables::team_project_key.eq(team_project_key))
            .filter(variables::environment_key.eq(environment_key))
            .filter(variables::name.eq(name)),
    )
    .execute(conn)?;
    Ok(deleted > 0)
}

/// Removes entries by id.
pub fn delete_ids(conn: &mut DbConnection, ids: &[i64]) -> QueryResult<usize> {
    let mut deleted = 0;
    // Bounded batches: SQLite limits the parameters of one statement.
    for batch in ids.chunks(500) {
        deleted +=
            diesel::delete(variables::table.filter(variables::id.eq_any(batch))).execute(conn)?;
    }
    Ok(deleted)
}

/// What a merge reads of an entry: no more (a pipeline's read of 1,000
/// variables parses no timestamps and copies no keys).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = variables)]
pub struct MergeRow {
    pub environment_key: String,
    pub name: String,
    pub value: Option<String>,
    pub secret: bool,
    pub unset: bool,
}

/// The project level's and one environment's entries.
pub fn of_environment(
    conn: &mut DbConnection,
    team_project_key: &str,
    environment_key: &str,
) -> QueryResult<Vec<MergeRow>> {
    variables::table
        .filter(variables::team_project_key.eq(team_project_key))
        .filter(variables::environment_key.eq_any([PROJECT_LEVEL, environment_key]))
        .select(MergeRow::as_select())
        .load(conn)
}

/// Every entry of a project, by level and name.
pub fn of_project(
    conn: &mut DbConnection,
    team_project_key: &str,
) -> QueryResult<Vec<VariableRow>> {
    variables::table
        .filter(variables::team_project_key.eq(team_project_key))
        .order((variables::environment_key, variables::name))
        .select(VariableRow::as_select())
        .load(conn)
}

/// Every secret's stored value, by id (a key rotation re-seals them).
pub fn secrets(conn: &mut DbConnection) -> QueryResult<Vec<(i64, String)>> {
    variables::table
        .filter(variables::secret.eq(true))
        .filter(variables::value.is_not_null())
        .order(variables::id)
        .select((variables::id, variables::value.assume_not_null()))
        .load(conn)
}

/// Replaces a secret's stored value (re-sealed).
pub fn set_value(conn: &mut DbConnection, id: i64, value: &str) -> QueryResult<usize> {
    diesel::update(variables::table.find(id))
        .set(variables::value.eq(value))
        .execute(conn)
}
