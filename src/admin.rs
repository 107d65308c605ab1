//! The operator's commands on API keys (`greenlight api-key ...`): each
//! opens one connection, migrating first so they work on a new database.

use anyhow::Context;
use chrono::NaiveDateTime;

use crate::api_key::{self, KeyHasher};
use crate::db::{self, api_keys, DbConnection, Manager};
use crate::domain::release::fold;

/// A key as `api-key list` shows it (never the key itself).
#[derive(Debug, Clone)]
pub struct KeyInfo {
    pub id: i64,
    /// `None`: an admin key.
    pub team_project: Option<String>,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

fn connect(database_url: &str) -> anyhow::Result<DbConnection> {
    db::migrate(database_url).context("migrating the database")?;
    Manager::new(database_url)
        .establish()
        .context("connecting to the database")
}

/// Creates a key for `team_project` (or an admin key for `None`): its id
/// and the key in clear, which exists nowhere else afterwards.
pub fn create_key(database_url: &str, team_project: Option<&str>) -> anyhow::Result<(i64, String)> {
    let mut conn = connect(database_url)?;
    let pepper =
        db::settings::get_or_insert(&mut conn, api_key::PEPPER_SETTING, &api_key::new_pepper())?;
    let key = api_key::generate();
    let hash = KeyHasher::new(pepper.as_bytes()).hash(&key);
    let project_key = team_project.map(fold);
    let id = api_keys::insert(
        &mut conn,
        &api_keys::NewApiKeyRow {
            key_hash: &hash,
            team_project,
            team_project_key: project_key.as_deref(),
            created_at: db::now(),
        },
    )?;
    Ok((id, key))
}

pub fn list_keys(database_url: &str) -> anyhow::Result<Vec<KeyInfo>> {
    let mut conn = connect(database_url)?;
    Ok(api_keys::list(&mut conn)?
        .into_iter()
        .map(|row| KeyInfo {
            id: row.id,
            team_project: row.team_project,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
        })
        .collect())
}

/// Revokes key `id`: refused from the next request on. False if there is
/// no such key, or it was revoked already.
pub fn revoke_key(database_url: &str, id: i64) -> anyhow::Result<bool> {
    let mut conn = connect(database_url)?;
    Ok(api_keys::revoke(&mut conn, id, db::now())?)
}
