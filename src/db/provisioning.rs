//! Provisioned versions and their instances: queries only. What a write
//! does, and which event it appends, is decided in
//! `crate::inventory::service`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::upsert::excluded;

use super::schema::{provisioned_instances, provisioned_versions};
use super::{per_backend, DbConnection};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = provisioned_versions)]
pub struct VersionRow {
    pub pk: i64,
    pub id: String,
    pub team_project: String,
    pub team_project_key: String,
    pub stack_name: String,
    pub stack_name_key: String,
    pub version: String,
    pub environment: String,
    pub environment_key: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = provisioned_versions)]
pub struct NewVersionRow<'a> {
    pub id: &'a str,
    pub team_project: &'a str,
    pub team_project_key: &'a str,
    pub stack_name: &'a str,
    pub stack_name_key: &'a str,
    pub version: &'a str,
    pub environment: &'a str,
    pub environment_key: &'a str,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = provisioned_instances)]
pub struct InstanceRow {
    pub pk: i64,
    pub id: String,
    pub version_pk: i64,
    pub instance_type: String,
    pub instance_id: String,
    pub resource_id: String,
    pub properties: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = provisioned_instances)]
pub struct NewInstanceRow<'a> {
    pub id: String,
    pub version_pk: i64,
    pub instance_type: &'a str,
    pub instance_id: &'a str,
    pub resource_id: &'a str,
    pub properties: &'a str,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Inserts a version. `None` if its project has one of that stack and
/// environment already: the unique key decides between racing requests.
pub fn insert(conn: &mut DbConnection, row: &NewVersionRow<'_>) -> QueryResult<Option<VersionRow>> {
    per_backend!(conn, |c| diesel::insert_into(provisioned_versions::table)
        .values(row)
        .on_conflict((
            provisioned_versions::team_project_key,
            provisioned_versions::stack_name_key,
            provisioned_versions::environment_key,
        ))
        .do_nothing()
        .returning(provisioned_versions::all_columns)
        .get_result(c)
        .optional())
}

pub fn by_id(conn: &mut DbConnection, id: &str) -> QueryResult<Option<VersionRow>> {
    provisioned_versions::table
        .filter(provisioned_versions::id.eq(id))
        .select(VersionRow::as_select())
        .first(conn)
        .optional()
}

/// The entry of a project's stack in an environment (folded keys).
pub fn at_place(
    conn: &mut DbConnection,
    team_project_key: &str,
    stack_name_key: &str,
    environment_key: &str,
) -> QueryResult<Option<VersionRow>> {
    provisioned_versions::table
        .filter(provisioned_versions::team_project_key.eq(team_project_key))
        .filter(provisioned_versions::stack_name_key.eq(stack_name_key))
        .filter(provisioned_versions::environment_key.eq(environment_key))
        .select(VersionRow::as_select())
        .first(conn)
        .optional()
}

/// Takes the version's row lock (PostgreSQL) or the write lock (SQLite)
/// before it is read, so that writes to one version run one after the
/// other. False if it is gone.
pub fn lock(conn: &mut DbConnection, pk: i64) -> QueryResult<bool> {
    let n = diesel::update(provisioned_versions::table.find(pk))
        .set(provisioned_versions::pk.eq(provisioned_versions::pk))
        .execute(conn)?;
    Ok(n == 1)
}

pub fn set_version(
    conn: &mut DbConnection,
    pk: i64,
    version: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(provisioned_versions::table.find(pk))
        .set((
            provisioned_versions::version.eq(version),
            provisioned_versions::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn touch(conn: &mut DbConnection, pk: i64, now: NaiveDateTime) -> QueryResult<()> {
    diesel::update(provisioned_versions::table.find(pk))
        .set(provisioned_versions::updated_at.eq(now))
        .execute(conn)?;
    Ok(())
}

/// Deletes a version and its instances.
pub fn delete(conn: &mut DbConnection, pk: i64) -> QueryResult<()> {
    diesel::delete(provisioned_instances::table.filter(provisioned_instances::version_pk.eq(pk)))
        .execute(conn)?;
    diesel::delete(provisioned_versions::table.find(pk)).execute(conn)?;
    Ok(())
}

/// Inserts instances, or updates the one of the same resource in the
/// version (its id and creation time kept). The rows name distinct
/// resources.
pub fn upsert_instances(conn: &mut DbConnection, rows: &[NewInstanceRow<'_>]) -> QueryResult<()> {
    use provisioned_instances as pi;
    if rows.is_empty() {
        return Ok(());
    }
    macro_rules! upsert {
        ($c:expr, $values:expr) => {
            diesel::insert_into(pi::table)
                .values($values)
                .on_conflict((pi::version_pk, pi::resource_id))
                .do_update()
                .set((
                    pi::instance_type.eq(excluded(pi::instance_type)),
                    pi::instance_id.eq(excluded(pi::instance_id)),
                    pi::properties.eq(excluded(pi::properties)),
                    pi::updated_at.eq(excluded(pi::updated_at)),
                ))
                .execute($c)
        };
    }
    match conn {
        // One statement for the batch.
        DbConnection::Postgresql(c) => {
            upsert!(c, rows)?;
        }
        // Diesel has no multi-row upsert for SQLite; in the writer's
        // transaction a row at a time costs microseconds.
        DbConnection::Sqlite(c) => {
            for row in rows {
                upsert!(c, row)?;
            }
        }
    }
    Ok(())
}

/// The resources of these (of one version) that it already has.
pub fn existing_resources(
    conn: &mut DbConnection,
    version_pk: i64,
    resource_ids: &[&str],
) -> QueryResult<Vec<String>> {
    provisioned_instances::table
        .filter(provisioned_instances::version_pk.eq(version_pk))
        .filter(provisioned_instances::resource_id.eq_any(resource_ids))
        .select(provisioned_instances::resource_id)
        .load(conn)
}

/// Deletes one instance of a version; the row if there was one.
pub fn delete_instance(
    conn: &mut DbConnection,
    version_pk: i64,
    id: &str,
) -> QueryResult<Option<InstanceRow>> {
    let found = provisioned_instances::table
        .filter(provisioned_instances::version_pk.eq(version_pk))
        .filter(provisioned_instances::id.eq(id))
        .select(InstanceRow::as_select())
        .first(conn)
        .optional()?;
    if let Some(row) = &found {
        diesel::delete(provisioned_instances::table.find(row.pk)).execute(conn)?;
    }
    Ok(found)
}

/// The instances of these versions, in the order they were first stored.
pub fn instances_of(conn: &mut DbConnection, version_pks: &[i64]) -> QueryResult<Vec<InstanceRow>> {
    provisioned_instances::table
        .filter(provisioned_instances::version_pk.eq_any(version_pks))
        .order(provisioned_instances::pk)
        .select(InstanceRow::as_select())
        .load(conn)
}

/// Which versions a list shows: folded project, environment and stack
/// keys, pks below `before` (the cursor), newest first.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub team_project_key: Option<String>,
    pub environment_key: Option<String>,
    pub stack_name_key: Option<String>,
    pub before: Option<i64>,
    pub limit: i64,
}

pub fn list(conn: &mut DbConnection, filter: &ListFilter) -> QueryResult<Vec<VersionRow>> {
    let mut query = provisioned_versions::table
        .select(VersionRow::as_select())
        .order(provisioned_versions::pk.desc())
        .limit(filter.limit)
        .into_boxed();
    if let Some(key) = &filter.team_project_key {
        query = query.filter(provisioned_versions::team_project_key.eq(key));
    }
    if let Some(key) = &filter.environment_key {
        query = query.filter(provisioned_versions::environment_key.eq(key));
    }
    if let Some(key) = &filter.stack_name_key {
        query = query.filter(provisioned_versions::stack_name_key.eq(key));
    }
    if let Some(before) = filter.before {
        query = query.filter(provisioned_versions::pk.lt(before));
    }
    query.load(conn)
}
