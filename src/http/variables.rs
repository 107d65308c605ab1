//! The variables' routes (DESIGN "Variables per environment"): one entry
//! set or deleted at a project's level or an environment's, the merged
//! result of an environment (for people, or `dotenv`/`json` for
//! pipelines), a project's entries as stored, and Chalice's config file in
//! and out. Secrets are answered as `"value": null, "secret": true`, and
//! left out of the pipeline formats: only a runner's claim carries them.

use std::collections::BTreeMap;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Access;
use super::problem::ApiError;
#[allow(unused_imports)] // named in the OpenAPI attributes
use super::schemas::{
    ChaliceFile, EnvironmentVariablePath, FileFormat, PipelineFormat, VariablePath,
    VariableReadProblems, VariableRequest, VariableWriteProblems,
};
use super::{parse_query, read_body, require_json, AppState};
use crate::domain::release::{fold, key_part, MAX_ENVIRONMENT, MAX_TEAM_PROJECT};
use crate::domain::variable::{VariableChange, VariableName};
use crate::domain::FieldError;
use crate::environments::variables::{Level, MergedEntry, Origin, StoredEntry};
use crate::integrations::chalice::ChaliceConfig;

/// One variable's body: a value up to 64 KiB, JSON-escaped (up to six
/// bytes a character), with room to spare.
const MAX_VARIABLE_BODY: usize = 512 * 1024;
/// A Chalice config: up to 1,000 variables a level, over a few stages.
const MAX_FILE_BODY: usize = 16 * 1024 * 1024;

/// One entry, as written.
#[derive(Debug, Serialize, ToSchema)]
pub struct VariableAnswer {
    pub name: String,
    /// The environment it is set in; null at the project's level.
    pub environment: Option<String>,
    /// Null for a secret (never answered) and an unset entry.
    pub value: Option<String>,
    pub secret: bool,
    pub unset: bool,
}

/// Which level a merged value came from.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum VariableOrigin {
    Project,
    Environment,
}

/// A merged value.
#[derive(Debug, Serialize, ToSchema)]
pub struct MergedVariable {
    /// Null for a secret: released only to a runner's claim.
    pub value: Option<String>,
    pub secret: bool,
    pub from: VariableOrigin,
}

/// An environment's variables, merged key by key (the environment's entry
/// winning, its `unset` hiding the project's).
#[derive(Debug, Serialize, ToSchema)]
pub struct MergedVariables {
    pub variables: BTreeMap<String, MergedVariable>,
}

/// `GET …/environments/{environment}/variables` in JSON: merged (by
/// default) or, with `?format=json`, a flat object name → value without
/// the secrets.
#[derive(ToSchema)]
#[allow(dead_code)]
#[serde(untagged)]
pub enum EnvironmentVariablesAnswer {
    Merged(MergedVariables),
    Flat(BTreeMap<String, String>),
}

/// An entry as stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct StoredVariable {
    /// Null for a secret and an unset entry.
    pub value: Option<String>,
    pub secret: bool,
    /// An environment's entry that hides the project's value there.
    pub unset: bool,
}

/// A project's entries as stored: its level, and each environment's.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectVariables {
    pub team_project: String,
    /// The project's level.
    pub variables: BTreeMap<String, StoredVariable>,
    /// Each environment's level, by environment.
    pub environments: BTreeMap<String, BTreeMap<String, StoredVariable>>,
}

/// `GET /projects/{team_project}/variables`: as stored, or with
/// `?format=chalice` a Chalice config.
#[derive(ToSchema)]
#[allow(dead_code)]
#[serde(untagged)]
pub enum ProjectVariablesAnswer {
    Stored(ProjectVariables),
    Chalice(ChaliceFile),
}

/// What a Chalice import changed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChaliceImported {
    /// Entries written (new or changed).
    pub set: usize,
    /// Entries the file does not name, removed.
    pub deleted: usize,
    pub unchanged: usize,
    /// Secrets the file does not name, kept.
    pub secrets_kept: usize,
}

#[derive(Debug, serde::Deserialize)]
struct FormatQuery {
    format: Option<String>,
}

fn stored(entry: StoredEntry) -> StoredVariable {
    StoredVariable {
        value: entry.value,
        secret: entry.secret,
        unset: entry.unset,
    }
}

fn merged(entry: MergedEntry) -> MergedVariable {
    MergedVariable {
        value: entry.value,
        secret: entry.secret,
        from: match entry.from {
            Origin::Project => VariableOrigin::Project,
            Origin::Environment => VariableOrigin::Environment,
        },
    }
}

/// The parts of a variable's path, each parsed (422 naming each bad one),
/// then the caller's right to the project (403).
struct Place {
    team_project: String,
    level: Level,
    name: Option<VariableName>,
}

fn place(
    access: &Access,
    team_project: &str,
    environment: Option<&str>,
    name: Option<&str>,
) -> Result<Place, ApiError> {
    let mut errors = Vec::new();
    let project = key_part("team_project", team_project, MAX_TEAM_PROJECT, &mut errors);
    let level = match environment {
        None => Some(Level::Project),
        Some(env) => {
            key_part("environment", env, MAX_ENVIRONMENT, &mut errors).map(Level::Environment)
        }
    };
    let name = name.map(|raw| {
        VariableName::parse(raw)
            .map_err(|message| errors.push(FieldError::new("name", message)))
            .ok()
    });
    match (project, level, name) {
        (Some(team_project), Some(level), name) if errors.is_empty() => {
            access.check(&fold(&team_project))?;
            Ok(Place {
                team_project,
                level,
                name: name.flatten(),
            })
        }
        _ => Err(ApiError::Validation(errors)),
    }
}

/// The one format a route takes, if any was asked for.
fn format(req: &HttpRequest, allowed: &[&'static str]) -> Result<Option<&'static str>, ApiError> {
    let query: FormatQuery = parse_query(req)?;
    match query.format {
        None => Ok(None),
        Some(asked) => allowed
            .iter()
            .find(|f| **f == asked)
            .map(|f| Some(*f))
            .ok_or_else(|| {
                ApiError::Validation(vec![FieldError::new(
                    "format",
                    format!("must be one of: {}", allowed.join(", ")),
                )])
            }),
    }
}

async fn put(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
    team_project: String,
    environment: Option<String>,
    name: String,
) -> Result<HttpResponse, ApiError> {
    let access = state.auth.authenticate(&state.db, &req).await?;
    let place = place(&access, &team_project, environment.as_deref(), Some(&name))?;
    require_json(&req)?;
    let body = read_body(&req, payload, MAX_VARIABLE_BODY).await?;
    let change = VariableChange::parse_json(&body, matches!(place.level, Level::Environment(_)))?;
    let name = place.name.expect("a name was parsed");
    let environment = match &place.level {
        Level::Project => None,
        Level::Environment(env) => Some(env.clone()),
    };
    let entry = state
        .variables
        .set(
            &place.team_project,
            place.level,
            name.clone(),
            change,
            access.actor(),
        )
        .await?;
    Ok(HttpResponse::Ok().json(VariableAnswer {
        name: name.to_string(),
        environment,
        value: entry.value,
        secret: entry.secret,
        unset: entry.unset,
    }))
}

async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    team_project: String,
    environment: Option<String>,
    name: String,
) -> Result<HttpResponse, ApiError> {
    let access = state.auth.authenticate(&state.db, &req).await?;
    let place = place(&access, &team_project, environment.as_deref(), Some(&name))?;
    let name = place.name.expect("a name was parsed");
    state
        .variables
        .delete(&place.team_project, place.level, name, access.actor())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `PUT /projects/{team_project}/variables/{name}`: sets a project-level
/// variable (every environment sees it unless it sets or unsets its own).
#[utoipa::path(put, operation_id = "putProjectVariable", path = "/projects/{team_project}/variables/{name}", tag = "variables",
    params(VariablePath),
    request_body(content = VariableRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Set (a secret's value is not answered)", body = VariableAnswer),
        VariableWriteProblems,
    ),
    security((), ("api_key" = []), ("bearer" = []), ("basic" = [])))]
#[tracing::instrument(skip_all)]
pub async fn put_project(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (team_project, name) = path.into_inner();
    put(state, req, payload, team_project, None, name).await
}

/// `DELETE /projects/{team_project}/variables/{name}`.
#[utoipa::path(delete, operation_id = "deleteProjectVariable", path = "/projects/{team_project}/variables/{name}", tag = "variables",
    params(VariablePath),
    responses(
        (status = 204, description = "Removed"),
        VariableWriteProblems,
    ),
    security((), ("api_key" = []), ("bearer" = []), ("basic" = [])))]
#[tracing::instrument(skip_all)]
pub async fn delete_project(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (team_project, name) = path.into_inner();
    delete(state, req, team_project, None, name).await
}

/// `PUT /projects/{team_project}/environments/{environment}/variables/{name}`:
/// sets the environment's own value, or `{"unset": true}` hides the
/// project's there.
#[utoipa::path(put, operation_id = "putEnvironmentVariable", path = "/projects/{team_project}/environments/{environment}/variables/{name}", tag = "variables",
    params(EnvironmentVariablePath),
    request_body(content = VariableRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Set or unset (a secret's value is not answered)", body = VariableAnswer),
        VariableWriteProblems,
    ),
    security((), ("api_key" = []), ("bearer" = []), ("basic" = [])))]
#[tracing::instrument(skip_all)]
pub async fn put_environment(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (team_project, environment, name) = path.into_inner();
    put(state, req, payload, team_project, Some(environment), name).await
}

/// `DELETE /projects/{team_project}/environments/{environment}/variables/{name}`:
/// removes the environment's entry (the project's value shows again).
#[utoipa::path(delete, operation_id = "deleteEnvironmentVariable", path = "/projects/{team_project}/environments/{environment}/variables/{name}", tag = "variables",
    params(EnvironmentVariablePath),
    responses(
        (status = 204, description = "Removed"),
        VariableWriteProblems,
    ),
    security((), ("api_key" = []), ("bearer" = []), ("basic" = [])))]
#[tracing::instrument(skip_all)]
pub async fn delete_environment(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (team_project, environment, name) = path.into_inner();
    delete(state, req, team_project, Some(environment), name).await
}

/// `NAME='value'` lines: inside single quotes a shell expands and runs
/// nothing (`$`, backticks, `\`, newlines are themselves); a quote closes,
/// is escaped, and reopens (`'\''`).
pub fn dotenv(variables: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for (name, value) in variables {
        out.push_str(name);
        out.push_str("='");
        out.push_str(&value.replace('\'', r"'\''"));
        out.push_str("'\n");
    }
    out
}

/// `GET /projects/{team_project}/environments/{environment}/variables`.
#[utoipa::path(get, operation_id = "getEnvironmentVariables", path = "/projects/{team_project}/environments/{environment}/variables", tag = "variables",
    params(
        ("team_project" = String, Path, min_length = 1, max_length = 140, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$", description = "Matched case-insensitively"),
        ("environment" = String, Path, min_length = 1, max_length = 128, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$", description = "Matched case-insensitively"),
        ("format" = Option<PipelineFormat>, Query, description = "For pipelines: `dotenv` (text, `NAME='value'` lines a shell can `source`) or `json` (a flat object); both leave secrets out"),
    ),
    responses(
        (status = 200, description = "The merged variables (`from` says which level each comes from; secrets without values), or the pipeline format asked for",
            content((EnvironmentVariablesAnswer = "application/json"), (String = "text/plain"))),
        VariableReadProblems,
    ),
    security((), ("api_key" = []), ("bearer" = []), ("basic" = [])))]
#[tracing::instrument(skip_all)]
pub async fn get_environment(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let access = state.auth.authenticate(&state.db, &req).await?;
    let (team_project, environment) = path.into_inner();
    let format = format(&req, &["dotenv", "json"])?;
    let place = place(&access, &team_project, Some(&environment), None)?;
    let Level::Environment(environment) = place.level else {
        unreachable!("an environment was named");
    };
    let variables = state
        .variables
        .merged(&place.team_project, &environment)
        .await?;
    let plain = || -> BTreeMap<String, String> {
        variables
            .iter()
            .filter_map(|(name, entry)| Some((name.clone(), entry.value.clone()?)))
            .collect()
    };
    Ok(match format {
        Some("dotenv") => HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body(dotenv(&plain())),
        Some(_) => HttpResponse::Ok().json(plain()),
        None => HttpResponse::Ok().json(MergedVariables {
            variables: variables
                .into_iter()
                .map(|(name, entry)| (name, merged(entry)))
                .collect(),
        }),
    })
}

/// `GET /projects/{team_project}/variables`.
#[utoipa::path(get, operation_id = "getProjectVariables", path = "/projects/{team_project}/variables", tag = "variables",
    params(
        ("team_project" = String, Path, min_length = 1, max_length = 140, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$", description = "Matched case-insensitively"),
        ("format" = Option<FileFormat>, Query, description = "`chalice`: a `.chalice/config.json` (secrets and unset entries left out)"),
    ),
    responses(
        (status = 200, description = "The project's entries as stored, each level apart (secrets without values), or a Chalice config", body = ProjectVariablesAnswer),
        VariableReadProblems,
    ),
    security((), ("api_key" = []), ("bearer" = []), ("basic" = [])))]
#[tracing::instrument(skip_all)]
pub async fn get_project(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let access = state.auth.authenticate(&state.db, &req).await?;
    let format = format(&req, &["chalice"])?;
    let place = place(&access, &path.into_inner(), None, None)?;
    if format.is_some() {
        let config = state.variables.export_chalice(&place.team_project).await?;
        return Ok(HttpResponse::Ok().json(config.to_json()));
    }
    let all = state.variables.stored(&place.team_project).await?;
    Ok(HttpResponse::Ok().json(ProjectVariables {
        team_project: place.team_project,
        variables: all
            .project
            .into_iter()
            .map(|(n, e)| (n, stored(e)))
            .collect(),
        environments: all
            .environments
            .into_iter()
            .map(|(env, vars)| (env, vars.into_iter().map(|(n, e)| (n, stored(e))).collect()))
            .collect(),
    }))
}

/// `PUT /projects/{team_project}/variables?format=chalice`: replaces the
/// project's variables with a Chalice config's, in one transaction.
#[utoipa::path(put, operation_id = "putProjectVariablesFile", path = "/projects/{team_project}/variables", tag = "variables",
    params(
        ("team_project" = String, Path, min_length = 1, max_length = 140, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$", description = "Matched case-insensitively"),
        ("format" = FileFormat, Query, description = "The file's format: `chalice`"),
    ),
    request_body(content = ChaliceFile, content_type = "application/json"),
    responses(
        (status = 200, description = "Replaced: what the file does not name is removed, but secrets are kept unless it names them", body = ChaliceImported),
        VariableWriteProblems,
    ),
    security((), ("api_key" = []), ("bearer" = []), ("basic" = [])))]
#[tracing::instrument(skip_all)]
pub async fn put_project_file(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let access = state.auth.authenticate(&state.db, &req).await?;
    if format(&req, &["chalice"])?.is_none() {
        return Err(ApiError::Validation(vec![FieldError::new(
            "format",
            "is required: the file's format (chalice)",
        )]));
    }
    let place = place(&access, &path.into_inner(), None, None)?;
    require_json(&req)?;
    let body = read_body(&req, payload, MAX_FILE_BODY).await?;
    let config = ChaliceConfig::parse_json(&body)?;
    let summary = state
        .variables
        .import_chalice(&place.team_project, config, access.actor())
        .await?;
    Ok(HttpResponse::Ok().json(ChaliceImported {
        set: summary.set,
        deleted: summary.deleted,
        unchanged: summary.unchanged,
        secrets_kept: summary.secrets_kept,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_single_quotes_every_value() {
        let vars: BTreeMap<String, String> = [
            ("A".to_owned(), "it's".to_owned()),
            ("B".to_owned(), "$HOME `id` \\n".to_owned()),
        ]
        .into();
        assert_eq!(dotenv(&vars), "A='it'\\''s'\nB='$HOME `id` \\n'\n");
    }
}
