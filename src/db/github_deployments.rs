//! The queries of `github_deployments`: which GitHub deployment a
//! deployment is, the request its event was mapped to, and the newest
//! status reported back.

use diesel::prelude::*;

use super::schema::{deployment_statuses, github_deployments};
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = github_deployments)]
pub struct GithubDeploymentRow {
    pub deployment_pk: i64,
    pub github_id: i64,
    /// `owner/repo`, as GitHub named it.
    pub repository: String,
    pub installation_id: i64,
    pub original_mapped_request: String,
    pub reported_status_id: i64,
}

pub fn insert(conn: &mut DbConnection, row: &GithubDeploymentRow) -> QueryResult<()> {
    diesel::insert_into(github_deployments::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn by_github_id(
    conn: &mut DbConnection,
    github_id: i64,
) -> QueryResult<Option<GithubDeploymentRow>> {
    github_deployments::table
        .filter(github_deployments::github_id.eq(github_id))
        .select(GithubDeploymentRow::as_select())
        .first(conn)
        .optional()
}

pub fn of_deployment(
    conn: &mut DbConnection,
    deployment_pk: i64,
) -> QueryResult<Option<GithubDeploymentRow>> {
    github_deployments::table
        .find(deployment_pk)
        .select(GithubDeploymentRow::as_select())
        .first(conn)
        .optional()
}

pub fn of_deployments(
    conn: &mut DbConnection,
    deployment_pks: &[i64],
) -> QueryResult<Vec<GithubDeploymentRow>> {
    github_deployments::table
        .filter(github_deployments::deployment_pk.eq_any(deployment_pks))
        .select(GithubDeploymentRow::as_select())
        .load(conn)
}

/// The id of a deployment's newest status.
pub fn latest_status_id(conn: &mut DbConnection, deployment_pk: i64) -> QueryResult<Option<i64>> {
    deployment_statuses::table
        .filter(deployment_statuses::deployment_pk.eq(deployment_pk))
        .select(diesel::dsl::max(deployment_statuses::id))
        .first(conn)
}

/// Records that status `status_id` reached GitHub, unless a newer one
/// already did. False if one had.
pub fn mark_reported(
    conn: &mut DbConnection,
    deployment_pk: i64,
    status_id: i64,
) -> QueryResult<bool> {
    let n = diesel::update(github_deployments::table.find(deployment_pk))
        .filter(github_deployments::reported_status_id.lt(status_id))
        .set(github_deployments::reported_status_id.eq(status_id))
        .execute(conn)?;
    Ok(n == 1)
}

/// One status of a deployment, by its id.
pub fn status(
    conn: &mut DbConnection,
    status_id: i64,
) -> QueryResult<Option<super::deployments::StatusRow>> {
    deployment_statuses::table
        .find(status_id)
        .select(super::deployments::StatusRow::as_select())
        .first(conn)
        .optional()
}
