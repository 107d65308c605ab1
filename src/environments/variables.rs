//! Variables per environment (DESIGN "Variables per environment", seed
//! 002): a project level and one level per environment, merged key by key,
//! the environment winning, an environment's `unset` hiding the project's
//! value there. Each write is one transaction with its audit events
//! (`variable.set`, `variable.unset`, `variable.deleted`: names, never
//! values). Secrets are sealed (`crate::sealed`) before they reach a row,
//! answered to people as `null`, and opened only by `released_to_runner`.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use serde_json::json;

use crate::db::events;
use crate::db::variables::{self as rows, MergeRow, NewVariableRow, VariableRow, PROJECT_LEVEL};
use crate::db::{self, Db, DbConnection, DbError};
use crate::domain::release::{fold, FieldError};
use crate::domain::variable::{VariableChange, VariableName, MAX_PER_LEVEL};
use crate::domain::EventKind;
use crate::integrations::chalice::{self, ChaliceConfig};
use crate::sealed::{SealError, Sealer};

/// Where an entry lives in a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Level {
    Project,
    /// An environment, as named (matched case-insensitively).
    Environment(String),
}

impl Level {
    fn key(&self) -> String {
        match self {
            Self::Project => PROJECT_LEVEL.to_owned(),
            Self::Environment(name) => fold(name),
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Project => "the project's level".to_owned(),
            Self::Environment(name) => format!("environment {name}"),
        }
    }
}

/// Which level a merged value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Project,
    Environment,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Project => "project",
            Self::Environment => "environment",
        }
    }
}

/// An entry as people may read it: a secret's value is never there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    /// None for a secret and for an unset entry.
    pub value: Option<String>,
    pub secret: bool,
    pub unset: bool,
}

impl From<&VariableRow> for StoredEntry {
    fn from(row: &VariableRow) -> Self {
        Self {
            value: if row.secret { None } else { row.value.clone() },
            secret: row.secret,
            unset: row.unset,
        }
    }
}

/// A value of the merged result, as people may read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergedEntry {
    /// None for a secret.
    pub value: Option<String>,
    pub secret: bool,
    pub from: Origin,
}

/// A project's entries as stored: its level, and each environment's (by
/// the environment's name as first given).
#[derive(Debug, Clone, Default)]
pub struct StoredVariables {
    pub project: BTreeMap<String, StoredEntry>,
    pub environments: BTreeMap<String, BTreeMap<String, StoredEntry>>,
}

/// What a Chalice import changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Entries written (new or changed).
    pub set: usize,
    /// Entries the file did not name, removed.
    pub deleted: usize,
    pub unchanged: usize,
    /// Secrets the file did not name, kept.
    pub secrets_kept: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum VariableError {
    #[error("no variable {name} at {level}")]
    NotFound { name: String, level: String },
    #[error("{level} already holds {MAX_PER_LEVEL} variables, the most a level may")]
    TooMany { level: String },
    #[error("a secret cannot be stored without an encryption key: set GREENLIGHT_ENCRYPTION_KEY to 32 random bytes in base64 (`openssl rand -base64 32`) and restart")]
    NoEncryptionKey,
    /// An import that would break a level's limits (with the secrets it
    /// keeps).
    #[error("the file cannot be imported")]
    Invalid(Vec<FieldError>),
    #[error(transparent)]
    Sealed(#[from] SealError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for VariableError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e.into())
    }
}

type Refusable<T> = Result<T, VariableError>;

/// The variables' use cases, as the HTTP edge holds them.
#[derive(Clone)]
pub struct Variables {
    db: Db,
    sealer: Sealer,
}

impl Variables {
    pub fn new(db: Db, sealer: Sealer) -> Self {
        Self { db, sealer }
    }

    /// Sets (or, at an environment's level, unsets) `name`.
    pub async fn set(
        &self,
        team_project: &str,
        level: Level,
        name: VariableName,
        change: VariableChange,
        actor: Option<String>,
    ) -> Refusable<StoredEntry> {
        let (sealer, team_project) = (self.sealer.clone(), team_project.to_owned());
        self.db
            .write(move |conn| {
                refused_or_failed(set(
                    conn,
                    &sealer,
                    &team_project,
                    &level,
                    &name,
                    change,
                    actor.as_deref(),
                ))
            })
            .await?
    }

    /// Removes `name`'s entry at `level`.
    pub async fn delete(
        &self,
        team_project: &str,
        level: Level,
        name: VariableName,
        actor: Option<String>,
    ) -> Refusable<()> {
        let team_project = team_project.to_owned();
        self.db
            .write(move |conn| {
                refused_or_failed(delete(conn, &team_project, &level, &name, actor.as_deref()))
            })
            .await?
    }

    /// The merged variables of one environment, secrets without values.
    pub async fn merged(
        &self,
        team_project: &str,
        environment: &str,
    ) -> Refusable<BTreeMap<String, MergedEntry>> {
        let (team_project, environment) = (team_project.to_owned(), environment.to_owned());
        self.db
            .read(move |conn| refused_or_failed(merged(conn, &team_project, &environment)))
            .await?
    }

    /// Every entry of a project, as stored (secrets without values).
    pub async fn stored(&self, team_project: &str) -> Refusable<StoredVariables> {
        let team_project = team_project.to_owned();
        self.db
            .read(move |conn| refused_or_failed(stored(conn, &team_project)))
            .await?
    }

    /// The project's variables as a Chalice config: secrets and unset
    /// entries left out (Chalice has neither).
    pub async fn export_chalice(&self, team_project: &str) -> Refusable<ChaliceConfig> {
        let project_key = fold(team_project);
        let rows = self
            .db
            .read(move |conn| Ok(rows::of_project(conn, &project_key)?))
            .await?;
        let mut config = ChaliceConfig {
            app_name: Some(team_project.to_owned()),
            ..ChaliceConfig::default()
        };
        let shown = environment_names(&rows);
        for row in rows {
            let level = if row.environment_key == PROJECT_LEVEL {
                &mut config.environment_variables
            } else {
                config
                    .stages
                    .entry(shown[&row.environment_key].clone())
                    .or_default()
            };
            if row.secret || row.unset {
                continue;
            }
            // Stored values were parsed on the way in.
            let (Ok(name), Some(Ok(value))) = (
                VariableName::parse(&row.name),
                row.value.map(crate::domain::variable::VariableValue::parse),
            ) else {
                continue;
            };
            level.insert(name, value);
        }
        Ok(config)
    }

    /// Replaces the project's variables with a Chalice config's, in one
    /// transaction: what the file does not name is removed, but secrets
    /// (which a file in git never holds) are kept unless it names them.
    pub async fn import_chalice(
        &self,
        team_project: &str,
        config: ChaliceConfig,
        actor: Option<String>,
    ) -> Refusable<ImportSummary> {
        let project_key = fold(team_project);
        // The file's levels, by level key: (level, its variables).
        let mut wanted: BTreeMap<String, (Level, chalice::Level)> = BTreeMap::new();
        wanted.insert(
            PROJECT_LEVEL.to_owned(),
            (Level::Project, config.environment_variables),
        );
        for (stage, variables) in config.stages {
            let level = Level::Environment(stage);
            wanted.insert(level.key(), (level, variables));
        }
        self.db
            .write(move |conn| {
                let existing = rows::of_project(conn, &project_key)?;
                let named = |row: &VariableRow| {
                    wanted
                        .get(&row.environment_key)
                        .and_then(|(_, vars)| {
                            VariableName::parse(&row.name)
                                .ok()
                                .and_then(|name| vars.get(&name))
                        })
                };
                // Limits first: a refusal writes nothing.
                let mut errors = Vec::new();
                for (key, (level, vars)) in &wanted {
                    let kept = existing
                        .iter()
                        .filter(|r| &r.environment_key == key && r.secret && named(r).is_none())
                        .count();
                    if vars.len() + kept > MAX_PER_LEVEL {
                        errors.push(FieldError::new(
                            if matches!(level, Level::Project) {
                                "environment_variables"
                            } else {
                                "stages"
                            },
                            format!(
                                "{} would hold {} variables (with {kept} secrets kept); a level holds at most {MAX_PER_LEVEL}",
                                level.describe(),
                                vars.len() + kept
                            ),
                        ));
                    }
                }
                if !errors.is_empty() {
                    return Ok(Err(VariableError::Invalid(errors)));
                }
                let now = db::now();
                let actor = actor.as_deref();
                let mut summary = ImportSummary::default();
                let mut removed = Vec::new();
                for row in &existing {
                    if named(row).is_some() {
                        continue;
                    }
                    let level = if row.environment_key == PROJECT_LEVEL {
                        Level::Project
                    } else {
                        Level::Environment(row.environment.clone())
                    };
                    if row.secret {
                        summary.secrets_kept += 1;
                        continue;
                    }
                    removed.push(row.id);
                    if let Ok(name) = VariableName::parse(&row.name) {
                        record(conn, &project_key, EventKind::VariableDeleted, actor, &name, &level, false, now)?;
                    }
                }
                summary.deleted = rows::delete_ids(conn, &removed)?;
                for (key, (level, vars)) in &wanted {
                    let environment = match level {
                        Level::Project => "",
                        Level::Environment(name) => name.as_str(),
                    };
                    for (name, value) in vars {
                        let same = existing.iter().any(|r| {
                            &r.environment_key == key
                                && r.name == name.as_str()
                                && !r.secret
                                && !r.unset
                                && r.value.as_deref() == Some(value.as_str())
                        });
                        if same {
                            summary.unchanged += 1;
                            continue;
                        }
                        rows::upsert(
                            conn,
                            &NewVariableRow {
                                team_project_key: &project_key,
                                environment_key: key,
                                environment,
                                name: name.as_str(),
                                value: Some(value.as_str()),
                                secret: false,
                                unset: false,
                                updated_at: now,
                            },
                        )?;
                        record(conn, &project_key, EventKind::VariableSet, actor, name, level, false, now)?;
                        summary.set += 1;
                    }
                }
                Ok(Ok(summary))
            })
            .await?
    }
}

/// A refusal (made before anything was written) is the answer; a database
/// error fails the transaction, so that it rolls back.
fn refused_or_failed<T>(result: Refusable<T>) -> Result<Refusable<T>, DbError> {
    match result {
        Err(VariableError::Db(e)) => Err(e),
        other => Ok(other),
    }
}

/// Sets (or unsets) `name` at `level` with its event, in the caller's
/// transaction (the HTTP edge's, or the CLI's). Refusals write nothing.
pub fn set(
    conn: &mut DbConnection,
    sealer: &Sealer,
    team_project: &str,
    level: &Level,
    name: &VariableName,
    change: VariableChange,
    actor: Option<&str>,
) -> Refusable<StoredEntry> {
    let (value, secret, unset) = match change {
        VariableChange::Set { secret: true, .. } if !sealer.seals() => {
            return Err(VariableError::NoEncryptionKey)
        }
        VariableChange::Set { value, secret } => {
            let stored = if secret {
                sealer.seal(value.as_str())
            } else {
                value.into_string()
            };
            (Some(stored), secret, false)
        }
        VariableChange::Unset => (None, false, true),
    };
    let (project_key, level_key) = (fold(team_project), level.key());
    let exists = rows::find(conn, &project_key, &level_key, name.as_str())?.is_some();
    if !exists && rows::count(conn, &project_key, &level_key)? >= MAX_PER_LEVEL as i64 {
        return Err(VariableError::TooMany {
            level: level.describe(),
        });
    }
    let now = db::now();
    let environment = match level {
        Level::Project => "",
        Level::Environment(name) => name.as_str(),
    };
    rows::upsert(
        conn,
        &NewVariableRow {
            team_project_key: &project_key,
            environment_key: &level_key,
            environment,
            name: name.as_str(),
            value: value.as_deref(),
            secret,
            unset,
            updated_at: now,
        },
    )?;
    let kind = if unset {
        EventKind::VariableUnset
    } else {
        EventKind::VariableSet
    };
    record(conn, &project_key, kind, actor, name, level, secret, now)?;
    Ok(StoredEntry {
        value: if secret { None } else { value },
        secret,
        unset,
    })
}

/// Removes `name`'s entry at `level` with its event, in the caller's
/// transaction.
pub fn delete(
    conn: &mut DbConnection,
    team_project: &str,
    level: &Level,
    name: &VariableName,
    actor: Option<&str>,
) -> Refusable<()> {
    let (project_key, level_key) = (fold(team_project), level.key());
    let Some(found) = rows::find(conn, &project_key, &level_key, name.as_str())? else {
        return Err(VariableError::NotFound {
            name: name.to_string(),
            level: level.describe(),
        });
    };
    rows::delete_ids(conn, &[found.id])?;
    let now = db::now();
    record(
        conn,
        &project_key,
        EventKind::VariableDeleted,
        actor,
        name,
        level,
        found.secret,
        now,
    )?;
    Ok(())
}

/// An environment's merged variables as people may read them (secrets
/// without values), by name.
pub fn merged(
    conn: &mut DbConnection,
    team_project: &str,
    environment: &str,
) -> Refusable<BTreeMap<String, MergedEntry>> {
    let rows = rows::of_environment(conn, &fold(team_project), &fold(environment))?;
    Ok(merge(rows)
        .into_iter()
        .map(|(name, (row, from))| {
            let entry = MergedEntry {
                value: if row.secret { None } else { row.value },
                secret: row.secret,
                from,
            };
            (name, entry)
        })
        .collect())
}

/// A project's entries as stored (secrets without values).
pub fn stored(conn: &mut DbConnection, team_project: &str) -> Refusable<StoredVariables> {
    let rows = rows::of_project(conn, &fold(team_project))?;
    let shown = environment_names(&rows);
    let mut stored = StoredVariables::default();
    for row in &rows {
        let level = if row.environment_key == PROJECT_LEVEL {
            &mut stored.project
        } else {
            stored
                .environments
                .entry(shown[&row.environment_key].clone())
                .or_default()
        };
        level.insert(row.name.clone(), StoredEntry::from(row));
    }
    Ok(stored)
}

/// Re-seals every secret under the sealer's current key (`greenlight
/// rotate-encryption-key`), in the caller's transaction: how many.
pub fn reseal(conn: &mut DbConnection, sealer: &Sealer) -> Refusable<usize> {
    let mut resealed = 0;
    for (id, value) in rows::secrets(conn)? {
        if sealer.needs_reseal(&value) {
            rows::set_value(conn, id, &sealer.seal(&sealer.open(&value)?))?;
            resealed += 1;
        }
    }
    Ok(resealed)
}

/// The variables a runner that claimed a deployment of `environment` is
/// given: the merged result with secrets opened. The deployments wing
/// calls it inside its claim transaction, once the deployment's release
/// (if its environment needs one) is approved; nothing else opens a
/// secret.
pub fn released_to_runner(
    conn: &mut DbConnection,
    sealer: &Sealer,
    team_project_key: &str,
    environment: &str,
) -> Result<BTreeMap<String, String>, VariableError> {
    let rows = rows::of_environment(conn, &fold(team_project_key), &fold(environment))?;
    merge(rows)
        .into_iter()
        .map(|(name, (row, _))| {
            let stored = row.value.unwrap_or_default();
            let value = if row.secret {
                sealer.open(&stored)?
            } else {
                stored
            };
            Ok((name, value))
        })
        .collect()
}

/// Each environment's name as first given (its oldest entry's): entries
/// written as `prod` and `Prod` are one environment, shown one way.
fn environment_names(rows: &[VariableRow]) -> std::collections::HashMap<String, String> {
    let mut oldest: std::collections::HashMap<String, (i64, String)> = Default::default();
    for row in rows {
        let entry = oldest
            .entry(row.environment_key.clone())
            .or_insert((row.id, row.environment.clone()));
        if row.id < entry.0 {
            *entry = (row.id, row.environment.clone());
        }
    }
    oldest
        .into_iter()
        .map(|(key, (_, name))| (key, name))
        .collect()
}

/// Merges a project's level and one environment's, key by key: the
/// environment's entry wins, its `unset` removes the name.
fn merge(rows: Vec<MergeRow>) -> BTreeMap<String, (MergeRow, Origin)> {
    let (project, environment): (Vec<_>, Vec<_>) = rows
        .into_iter()
        .partition(|r| r.environment_key == PROJECT_LEVEL);
    let mut merged: BTreeMap<String, (MergeRow, Origin)> = project
        .into_iter()
        .map(|r| (r.name.clone(), (r, Origin::Project)))
        .collect();
    for row in environment {
        if row.unset {
            merged.remove(&row.name);
        } else {
            merged.insert(row.name.clone(), (row, Origin::Environment));
        }
    }
    merged
}

/// Appends a variable's audit event: its name and level, whether it is a
/// secret; never its value.
#[allow(clippy::too_many_arguments)]
fn record(
    conn: &mut DbConnection,
    team_project_key: &str,
    kind: EventKind,
    actor: Option<&str>,
    name: &VariableName,
    level: &Level,
    secret: bool,
    at: NaiveDateTime,
) -> diesel::QueryResult<()> {
    let environment = match level {
        Level::Project => None,
        Level::Environment(name) => Some(name.as_str()),
    };
    let detail = json!({"name": name.as_str(), "environment": environment, "secret": secret});
    events::append_to_project(conn, team_project_key, kind.as_str(), actor, &detail, at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(environment_key: &str, name: &str, value: Option<&str>, unset: bool) -> MergeRow {
        MergeRow {
            environment_key: environment_key.into(),
            name: name.into(),
            value: value.map(str::to_owned),
            secret: false,
            unset,
        }
    }

    #[test]
    fn the_environment_wins_key_by_key_and_unset_hides() {
        let merged = merge(vec![
            row("", "A", Some("pa"), false),
            row("", "B", Some("pb"), false),
            row("", "C", Some("pc"), false),
            row("prod", "B", Some("eb"), false),
            row("prod", "C", None, true),
            row("prod", "D", None, true),
        ]);
        let seen: Vec<(&str, Option<&str>, Origin)> = merged
            .iter()
            .map(|(n, (r, o))| (n.as_str(), r.value.as_deref(), *o))
            .collect();
        assert_eq!(
            seen,
            [
                ("A", Some("pa"), Origin::Project),
                ("B", Some("eb"), Origin::Environment),
            ]
        );
    }
}
