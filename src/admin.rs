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
use crate::domain::variable::{VariableChange, VariableName, VariableValue};
use crate::environments::variables::{self, Level};
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
/// AuthTokens, the variables' secrets) under the current `GREENLIGHT_ENCRYPTION_KEY`, opening what
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
        resealed += variables::reseal(conn, sealer).context("re-sealing the variables' secrets")?;
        Ok(resealed)
    })
}

/// The audit trail's actor of `greenlight vars`.
const CLI_ACTOR: &str = "cli";

/// What `greenlight vars` does to one variable.
#[derive(Debug)]
pub enum VarsChange {
    /// `vars set`: the value read from standard input.
    Set { value: String, secret: bool },
    /// `vars unset --environment E`: hide the project's value in E.
    Unset,
    /// `vars delete`: remove the entry of that level.
    Delete,
}

fn level(environment: Option<&str>) -> Level {
    environment.map_or(Level::Project, |e| Level::Environment(e.to_owned()))
}

/// `greenlight vars set|unset|delete`: one change, with its event (actor
/// `cli`), by the same rules as the API.
pub fn change_variable(
    database_url: &str,
    sealer: &Sealer,
    team_project: &str,
    environment: Option<&str>,
    name: &str,
    change: VarsChange,
) -> anyhow::Result<()> {
    let name = VariableName::parse(name).map_err(|m| anyhow::anyhow!("NAME {m}"))?;
    let level = level(environment);
    let mut conn = connect(database_url)?;
    conn.transaction(|conn| {
        match change {
            VarsChange::Set { value, secret } => {
                let value = VariableValue::parse(value).map_err(|m| anyhow::anyhow!("the value {m}"))?;
                let change = VariableChange::Set { value, secret };
                variables::set(conn, sealer, team_project, &level, &name, change, Some(CLI_ACTOR))?;
            }
            VarsChange::Unset => {
                anyhow::ensure!(
                    matches!(level, Level::Environment(_)),
                    "unset hides the project's value in one environment: name it with --environment (or `vars delete` the project's entry)"
                );
                variables::set(conn, sealer, team_project, &level, &name, VariableChange::Unset, Some(CLI_ACTOR))?;
            }
            VarsChange::Delete => variables::delete(conn, team_project, &level, &name, Some(CLI_ACTOR))?,
        }
        Ok(())
    })
}

/// `greenlight vars list`: with an environment its merged variables
/// (`NAME`, where from, value), else every entry as stored (level, `NAME`,
/// value). A secret shows as `(secret)`, never its value.
pub fn list_variables(
    database_url: &str,
    team_project: &str,
    environment: Option<&str>,
) -> anyhow::Result<Vec<[String; 3]>> {
    let mut conn = connect(database_url)?;
    let shown = |value: Option<String>, secret: bool, unset: bool| {
        if secret {
            "(secret)".to_owned()
        } else if unset {
            "(unset)".to_owned()
        } else {
            value.unwrap_or_default()
        }
    };
    if let Some(environment) = environment {
        let merged = variables::merged(&mut conn, team_project, environment)?;
        return Ok(merged
            .into_iter()
            .map(|(name, e)| {
                [
                    name,
                    e.from.as_str().to_owned(),
                    shown(e.value, e.secret, false),
                ]
            })
            .collect());
    }
    let stored = variables::stored(&mut conn, team_project)?;
    let mut lines: Vec<[String; 3]> = stored
        .project
        .into_iter()
        .map(|(name, e)| {
            [
                "project".to_owned(),
                name,
                shown(e.value, e.secret, e.unset),
            ]
        })
        .collect();
    for (env, vars) in stored.environments {
        lines.extend(vars.into_iter().map(|(name, e)| {
            [
                format!("environment {env}"),
                name,
                shown(e.value, e.secret, e.unset),
            ]
        }));
    }
    Ok(lines)
}
