//! The operator's commands (`greenlight api-key ...`,
//! `retire-generated-secret`, `rotate-encryption-key`): each opens one
//! connection, migrating first so they work on a new database.

use anyhow::Context;
use chrono::NaiveDateTime;
use diesel::Connection;

use crate::api_key::{self, KeyHasher};
use crate::db::{self, api_keys, DbConnection, Manager};
use crate::db::{settings, subscribers};
use crate::domain::release::fold;
use crate::sealed::Sealer;

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
pub fn create_key(
    database_url: &str,
    sealer: &Sealer,
    team_project: Option<&str>,
) -> anyhow::Result<(i64, String)> {
    let mut conn = connect(database_url)?;
    let stored = settings::get_or_insert(
        &mut conn,
        api_key::PEPPER_SETTING,
        &sealer.seal(&api_key::new_pepper()),
    )?;
    let pepper = sealer.open(&stored).context("opening the API key pepper")?;
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

/// Removes the signing secret Greenlight generated before
/// `GREENLIGHT_SECRET` was set: links it signed stop working (on each
/// replica once it restarts). False if there was none.
pub fn retire_generated_secret(database_url: &str) -> anyhow::Result<bool> {
    let mut conn = connect(database_url)?;
    Ok(settings::remove(&mut conn, settings::SIGNING_SECRET)?)
}

/// Seals every stored credential (the generated secrets, Azure DevOps
/// AuthTokens) under the current `GREENLIGHT_ENCRYPTION_KEY`, opening what
/// the previous key (or no key) wrote. Returns how many were re-sealed.
pub fn rotate_encryption_key(database_url: &str, sealer: &Sealer) -> anyhow::Result<usize> {
    anyhow::ensure!(
        sealer.seals(),
        "GREENLIGHT_ENCRYPTION_KEY is not set: there is no key to seal with"
    );
    let mut conn = connect(database_url)?;
    conn.transaction(|conn| {
        let mut resealed = 0;
        for name in [settings::SIGNING_SECRET, api_key::PEPPER_SETTING] {
            if let Some(stored) = settings::get(conn, name)? {
                if sealer.needs_reseal(&stored) {
                    let plain = sealer
                        .open(&stored)
                        .with_context(|| format!("opening {name}"))?;
                    settings::set(conn, name, &sealer.seal(&plain))?;
                    resealed += 1;
                }
            }
        }
        for (id, stored) in subscribers::credentials(conn)? {
            if sealer.needs_reseal(&stored) {
                let plain = sealer
                    .open(&stored)
                    .with_context(|| format!("opening subscriber {id}'s credential"))?;
                subscribers::set_credential(conn, id, &sealer.seal(&plain))?;
                resealed += 1;
            }
        }
        Ok(resealed)
    })
}
