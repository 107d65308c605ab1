//! Deployments, their statuses and their log chunks: queries only. What a
//! status post or a log append does, and in which order, is decided in
//! `crate::deployments::service`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{deployment_log_chunks, deployment_statuses, deployments};
use super::{per_backend, DbConnection};
use crate::domain::DeploymentState;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = deployments)]
pub struct Deployment {
    pub pk: i64,
    pub id: String,
    pub team_project: String,
    pub team_project_key: String,
    pub environment: String,
    pub environment_key: String,
    pub repository_url: String,
    pub repository_key: String,
    pub commit_sha: String,
    pub git_ref: Option<String>,
    pub stack_name: Option<String>,
    pub version: Option<String>,
    pub status: DeploymentState,
    pub release_pk: Option<i64>,
    pub original_request: String,
    pub idempotency_key: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
    pub environment_url: Option<String>,
    pub claim_token_hash: Option<String>,
    pub claim_expires_at: Option<NaiveDateTime>,
    pub log_bytes: i64,
    pub log_dropped: i64,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = deployments)]
pub struct NewDeploymentRow<'a> {
    pub id: &'a str,
    pub team_project: &'a str,
    pub team_project_key: &'a str,
    pub environment: &'a str,
    pub environment_key: &'a str,
    pub repository_url: &'a str,
    pub repository_key: &'a str,
    pub commit_sha: &'a str,
    pub git_ref: Option<&'a str>,
    pub stack_name: Option<&'a str>,
    pub version: Option<&'a str>,
    pub status: DeploymentState,
    pub original_request: &'a str,
    pub idempotency_key: Option<&'a str>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = deployment_statuses)]
pub struct StatusRow {
    pub id: i64,
    pub deployment_pk: i64,
    pub state: DeploymentState,
    pub description: Option<String>,
    pub log_url: Option<String>,
    pub environment_url: Option<String>,
    pub actor: Option<String>,
    pub at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = deployment_statuses)]
pub struct NewStatusRow<'a> {
    pub deployment_pk: i64,
    pub state: DeploymentState,
    pub description: Option<&'a str>,
    pub log_url: Option<&'a str>,
    pub environment_url: Option<&'a str>,
    pub actor: Option<&'a str>,
    pub at: NaiveDateTime,
}

/// Inserts a deployment. `None` if its project has one with the same
/// idempotency key: the unique key decides between racing requests.
pub fn insert(
    conn: &mut DbConnection,
    row: &NewDeploymentRow<'_>,
) -> QueryResult<Option<Deployment>> {
    per_backend!(conn, |c| diesel::insert_into(deployments::table)
        .values(row)
        .on_conflict((deployments::team_project_key, deployments::idempotency_key))
        .do_nothing()
        .returning(deployments::all_columns)
        .get_result(c)
        .optional())
}

pub fn by_id(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Deployment>> {
    deployments::table
        .filter(deployments::id.eq(id))
        .select(Deployment::as_select())
        .first(conn)
        .optional()
}

pub fn by_pk(conn: &mut DbConnection, pk: i64) -> QueryResult<Deployment> {
    deployments::table
        .find(pk)
        .select(Deployment::as_select())
        .first(conn)
}

pub fn by_idempotency_key(
    conn: &mut DbConnection,
    team_project_key: &str,
    key: &str,
) -> QueryResult<Option<Deployment>> {
    deployments::table
        .filter(deployments::team_project_key.eq(team_project_key))
        .filter(deployments::idempotency_key.eq(key))
        .select(Deployment::as_select())
        .first(conn)
        .optional()
}

/// Takes the deployment row's lock (PostgreSQL) or the write lock
/// (SQLite) before it is read, so that status posts and log appends to
/// one deployment run one after the other.
pub fn lock(conn: &mut DbConnection, pk: i64) -> QueryResult<()> {
    diesel::update(deployments::table.find(pk))
        .set(deployments::status.eq(deployments::status))
        .execute(conn)?;
    Ok(())
}

/// Sets a deployment's state, if it is still `from`; its environment URL
/// when given; `finished_at` when given. False if it moved meanwhile.
pub fn set_status(
    conn: &mut DbConnection,
    pk: i64,
    from: DeploymentState,
    to: DeploymentState,
    environment_url: Option<&str>,
    finished_at: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let target = deployments::table
        .filter(deployments::pk.eq(pk))
        .filter(deployments::status.eq(from));
    let n = match (environment_url, finished_at) {
        (Some(url), Some(at)) => diesel::update(target)
            .set((
                deployments::status.eq(to),
                deployments::updated_at.eq(now),
                deployments::environment_url.eq(url),
                deployments::finished_at.eq(at),
            ))
            .execute(conn)?,
        (Some(url), None) => diesel::update(target)
            .set((
                deployments::status.eq(to),
                deployments::updated_at.eq(now),
                deployments::environment_url.eq(url),
            ))
            .execute(conn)?,
        (None, Some(at)) => diesel::update(target)
            .set((
                deployments::status.eq(to),
                deployments::updated_at.eq(now),
                deployments::finished_at.eq(at),
            ))
            .execute(conn)?,
        (None, None) => diesel::update(target)
            .set((deployments::status.eq(to), deployments::updated_at.eq(now)))
            .execute(conn)?,
    };
    Ok(n == 1)
}

pub fn insert_status(conn: &mut DbConnection, row: &NewStatusRow<'_>) -> QueryResult<()> {
    diesel::insert_into(deployment_statuses::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// The statuses of these deployments, oldest first.
pub fn statuses_of(conn: &mut DbConnection, pks: &[i64]) -> QueryResult<Vec<StatusRow>> {
    deployment_statuses::table
        .filter(deployment_statuses::deployment_pk.eq_any(pks))
        .order(deployment_statuses::id)
        .select(StatusRow::as_select())
        .load(conn)
}

/// The deployments of a project and environment in `state` but `except`.
pub fn in_state_at(
    conn: &mut DbConnection,
    team_project_key: &str,
    environment_key: &str,
    state: DeploymentState,
    except: i64,
) -> QueryResult<Vec<Deployment>> {
    deployments::table
        .filter(deployments::team_project_key.eq(team_project_key))
        .filter(deployments::environment_key.eq(environment_key))
        .filter(deployments::status.eq(state))
        .filter(deployments::pk.ne(except))
        .order(deployments::pk)
        .select(Deployment::as_select())
        .load(conn)
}

/// Which deployments a list shows: folded project, environment and
/// repository keys, a repository pattern (SQL `LIKE`, escaped with `\`), a
/// sha prefix, a state, a window of `created_at`, and pks below `before`
/// (the cursor), newest first.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub team_project_key: Option<String>,
    pub environment_key: Option<String>,
    pub repository_key: Option<String>,
    pub repository_like: Option<String>,
    pub sha_prefix: Option<String>,
    pub status: Option<DeploymentState>,
    pub since: Option<NaiveDateTime>,
    pub until: Option<NaiveDateTime>,
    pub before: Option<i64>,
    pub limit: i64,
}

pub fn list(conn: &mut DbConnection, filter: &ListFilter) -> QueryResult<Vec<Deployment>> {
    let mut query = deployments::table
        .select(Deployment::as_select())
        .order(deployments::pk.desc())
        .limit(filter.limit)
        .into_boxed();
    if let Some(key) = &filter.team_project_key {
        query = query.filter(deployments::team_project_key.eq(key));
    }
    if let Some(key) = &filter.environment_key {
        query = query.filter(deployments::environment_key.eq(key));
    }
    if let Some(key) = &filter.repository_key {
        query = query.filter(deployments::repository_key.eq(key));
    }
    if let Some(pattern) = &filter.repository_like {
        query = query.filter(deployments::repository_key.like(pattern).escape('\\'));
    }
    if let Some(prefix) = &filter.sha_prefix {
        // Hex digits only: nothing in it is a LIKE wildcard.
        query = query.filter(deployments::commit_sha.like(format!("{prefix}%")));
    }
    if let Some(status) = filter.status {
        query = query.filter(deployments::status.eq(status));
    }
    if let Some(since) = filter.since {
        query = query.filter(deployments::created_at.ge(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(deployments::created_at.le(until));
    }
    if let Some(before) = filter.before {
        query = query.filter(deployments::pk.lt(before));
    }
    query.load(conn)
}

/// Environments (folded keys), each with the pk of one deployment.
pub type PerEnvironment = Vec<(String, Option<i64>)>;

/// Per environment of a project (its folded key), the pk of its latest
/// deployment, and of its latest in `state` (if any).
pub fn latest_per_environment(
    conn: &mut DbConnection,
    team_project_key: &str,
    state: DeploymentState,
) -> QueryResult<(PerEnvironment, PerEnvironment)> {
    use diesel::dsl::max;
    let latest = deployments::table
        .filter(deployments::team_project_key.eq(team_project_key))
        .group_by(deployments::environment_key)
        .select((deployments::environment_key, max(deployments::pk)))
        .order(deployments::environment_key)
        .load(conn)?;
    let in_state = deployments::table
        .filter(deployments::team_project_key.eq(team_project_key))
        .filter(deployments::status.eq(state))
        .group_by(deployments::environment_key)
        .select((deployments::environment_key, max(deployments::pk)))
        .load(conn)?;
    Ok((latest, in_state))
}

pub fn by_pks(conn: &mut DbConnection, pks: &[i64]) -> QueryResult<Vec<Deployment>> {
    deployments::table
        .filter(deployments::pk.eq_any(pks))
        .select(Deployment::as_select())
        .load(conn)
}

/// Appends a chunk of log (after the ones before it) and counts what was
/// kept and dropped.
pub fn append_log(
    conn: &mut DbConnection,
    pk: i64,
    kept: &[u8],
    dropped: i64,
    now: NaiveDateTime,
) -> QueryResult<()> {
    if !kept.is_empty() {
        diesel::insert_into(deployment_log_chunks::table)
            .values((
                deployment_log_chunks::deployment_pk.eq(pk),
                deployment_log_chunks::data.eq(kept),
                deployment_log_chunks::at.eq(now),
            ))
            .execute(conn)?;
    }
    diesel::update(deployments::table.find(pk))
        .set((
            deployments::log_bytes.eq(deployments::log_bytes + kept.len() as i64),
            deployments::log_dropped.eq(deployments::log_dropped + dropped),
            deployments::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// A deployment's log chunks, in the order they were appended.
pub fn log_of(conn: &mut DbConnection, pk: i64) -> QueryResult<Vec<Vec<u8>>> {
    deployment_log_chunks::table
        .filter(deployment_log_chunks::deployment_pk.eq(pk))
        .order(deployment_log_chunks::id)
        .select(deployment_log_chunks::data)
        .load(conn)
}

/// Makes the transaction's writes to one project and environment run one
/// after the other (PostgreSQL: an advisory lock held until commit; on
/// SQLite the one writer does that already).
pub fn lock_place(
    conn: &mut DbConnection,
    team_project_key: &str,
    environment_key: &str,
) -> QueryResult<()> {
    use diesel::sql_types::Text;
    if let DbConnection::Postgresql(c) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind::<Text, _>(format!(
                "deployment-place\n{team_project_key}\n{environment_key}"
            ))
            .execute(c)?;
    }
    Ok(())
}

/// The oldest `queued` deployments of these environments (and projects,
/// when given; folded keys), at most `limit`, by pk. With `lock` on
/// PostgreSQL their rows are locked, skipping rows another claim holds, so
/// that runners on every replica take different ones; SQLite's one writer
/// does that already.
pub fn queued_for(
    conn: &mut DbConnection,
    environment_keys: &[String],
    team_project_keys: Option<&[String]>,
    limit: i64,
    lock: bool,
) -> QueryResult<Vec<i64>> {
    let oldest = deployments::table
        .filter(deployments::status.eq(DeploymentState::Queued))
        .filter(deployments::environment_key.eq_any(environment_keys))
        .order(deployments::pk)
        .select(deployments::pk)
        .limit(limit);
    let of_project = deployments::team_project_key.eq_any(team_project_keys.unwrap_or_default());
    match conn {
        DbConnection::Postgresql(c) if lock => match team_project_keys {
            Some(_) => oldest.filter(of_project).for_update().skip_locked().load(c),
            None => oldest.for_update().skip_locked().load(c),
        },
        conn => match team_project_keys {
            Some(_) => oldest.filter(of_project).load(conn),
            None => oldest.load(conn),
        },
    }
}

/// Moves a deployment from `queued` to `in_progress` under a runner's
/// claim (its token's hash, its expiry). False if it is no longer
/// `queued`: another claim took it first, whichever replica it came to.
pub fn take(
    conn: &mut DbConnection,
    pk: i64,
    claim_token_hash: &str,
    claim_expires_at: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let n = diesel::update(
        deployments::table
            .filter(deployments::pk.eq(pk))
            .filter(deployments::status.eq(DeploymentState::Queued)),
    )
    .set((
        deployments::status.eq(DeploymentState::InProgress),
        deployments::claim_token_hash.eq(claim_token_hash),
        deployments::claim_expires_at.eq(claim_expires_at),
        deployments::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Moves a claim's expiry (a renewal).
pub fn renew_claim(
    conn: &mut DbConnection,
    pk: i64,
    claim_expires_at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(deployments::table.find(pk))
        .set(deployments::claim_expires_at.eq(claim_expires_at))
        .execute(conn)?;
    Ok(())
}
/// The log chunks of a deployment appended after chunk `after` (0: all),
/// with their ids, in order. Chunk ids grow in commit order per
/// deployment (appends take the deployment's row lock first), so a reader
/// that asks again after the last id it saw misses and repeats nothing.
pub fn chunks_after(
    conn: &mut DbConnection,
    pk: i64,
    after: i64,
) -> QueryResult<Vec<(i64, Vec<u8>)>> {
    deployment_log_chunks::table
        .filter(deployment_log_chunks::deployment_pk.eq(pk))
        .filter(deployment_log_chunks::id.gt(after))
        .order(deployment_log_chunks::id)
        .select((deployment_log_chunks::id, deployment_log_chunks::data))
        .load(conn)
}

/// The last chunks of a deployment's log, newest first, until they hold at
/// least `bytes` (or the log ends), and whether older ones are left out.
pub fn log_tail(
    conn: &mut DbConnection,
    pk: i64,
    bytes: usize,
) -> QueryResult<(Vec<Vec<u8>>, bool)> {
    let mut tail = Vec::new();
    let (mut held, mut before) = (0usize, i64::MAX);
    loop {
        let page: Vec<(i64, Vec<u8>)> = deployment_log_chunks::table
            .filter(deployment_log_chunks::deployment_pk.eq(pk))
            .filter(deployment_log_chunks::id.lt(before))
            .order(deployment_log_chunks::id.desc())
            .limit(32)
            .select((deployment_log_chunks::id, deployment_log_chunks::data))
            .load(conn)?;
        let last_page = page.len() < 32;
        for (id, data) in page {
            if held >= bytes {
                return Ok((tail, true));
            }
            held += data.len();
            before = id;
            tail.push(data);
        }
        if last_page {
            return Ok((tail, false));
        }
    }
}

/// Links a deployment to the release that gates it.
pub fn set_release(conn: &mut DbConnection, pk: i64, release_pk: i64) -> QueryResult<()> {
    diesel::update(deployments::table.find(pk))
        .set(deployments::release_pk.eq(release_pk))
        .execute(conn)?;
    Ok(())
}

/// The deployments still waiting for this release's decision.
pub fn waiting_on(conn: &mut DbConnection, release_pk: i64) -> QueryResult<Vec<Deployment>> {
    deployments::table
        .filter(deployments::release_pk.eq(release_pk))
        .filter(deployments::status.eq(DeploymentState::Waiting))
        .order(deployments::pk)
        .select(Deployment::as_select())
        .load(conn)
}

/// The last status appended to a deployment (its id).
pub fn last_status_id(conn: &mut DbConnection, pk: i64) -> QueryResult<i64> {
    deployment_statuses::table
        .filter(deployment_statuses::deployment_pk.eq(pk))
        .order(deployment_statuses::id.desc())
        .select(deployment_statuses::id)
        .first(conn)
}
