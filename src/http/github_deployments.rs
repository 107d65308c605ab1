//! GitHub as a deployment provider at the HTTP edge: the `deployment`
//! event of `POST /integrations/github` (its signature already checked),
//! and the seed's scoped reads `GET /github/{owner}/{repo}/deployments`,
//! `GET /github/{owner}/{repo}/deployment/{id}` and `.../logs`: the same
//! documents as `/deployments`, for that repository only, with the
//! request a GitHub event was mapped to.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::deployments::{actor, parse_deployment_id as deployment_id, ListQuery};
use super::problem::ApiError;
use super::release::encode_cursor;
#[allow(unused_imports)] // named in the OpenAPI attributes
use super::schemas::DeploymentReadProblems;
use super::{parse_query, AppState};
use crate::deployments::github::{
    repository_key, GithubDeploymentDocument, GithubDeploymentList, GithubOrigin,
};
use crate::domain::release::ParseError;
use crate::domain::{FieldError, NewDeployment};
use crate::integrations::github_deployments::{valid_owner, valid_repo, DeploymentEvent};

/// Where a field of the mapped request came from in GitHub's event, so
/// that a refusal names what GitHub sent.
fn event_field(mapped: &'static str) -> &'static str {
    match mapped {
        "repository_url" | "team_project" => "repository.full_name",
        "commit_sha" => "deployment.sha",
        "environment" => "deployment.environment",
        "ref" => "deployment.ref",
        "stack_name" => "deployment.payload.stack_name",
        "version" => "deployment.payload.version",
        other => other,
    }
}

fn invalid(field: &'static str, message: &str) -> ApiError {
    ApiError::Validation(vec![FieldError::new(field, message)])
}

/// A signed `deployment` event. Action `created` records the deployment
/// (201), or answers the one recorded for that GitHub deployment (200);
/// another action is acknowledged and ignored. A payload that is not a
/// deployment event is a 400, one whose values a deployment cannot have
/// (a sha that is not hex) a 422 naming the event's field; either
/// records nothing.
pub(super) async fn deployment_event(
    state: &AppState,
    body: Vec<u8>,
) -> Result<HttpResponse, ApiError> {
    #[derive(serde::Deserialize)]
    struct Action {
        action: Option<String>,
    }
    let action: Action = serde_json::from_slice(&body)
        .map_err(|e| ApiError::MalformedBody(format!("not a deployment event: {e}")))?;
    if action.action.as_deref() != Some("created") {
        return Ok(super::github::ignored("not a created deployment"));
    }
    let event: DeploymentEvent = serde_json::from_slice(&body)
        .map_err(|e| ApiError::MalformedBody(format!("not a deployment event: {e}")))?;
    let installation_id = event.installation.as_ref().map(|i| i.id).ok_or_else(|| {
        invalid(
            "installation.id",
            "is required: the App's installation reports the statuses",
        )
    })?;
    if event.owner_and_repo().is_none() {
        return Err(invalid(
            "repository.full_name",
            "must be owner/repo as GitHub names them",
        ));
    }
    let full_name = event.repository.full_name.clone();
    // The repository's full name, unless the operator mapped it.
    let team_project = state
        .github_projects
        .iter()
        .find(|(repository, _)| full_name.eq_ignore_ascii_case(repository))
        .map_or(full_name.as_str(), |(_, project)| project.as_str());
    let mapped = event.mapped_request(team_project);
    let mapped_text = mapped.to_string();
    let new = NewDeployment::parse_json(mapped_text.as_bytes()).map_err(|e| match e {
        ParseError::Malformed(m) => ApiError::MalformedBody(m),
        ParseError::Invalid(errors) => ApiError::Validation(
            errors
                .into_iter()
                .map(|f| FieldError::new(event_field(f.field), f.message))
                .collect(),
        ),
    })?;
    // It parsed as JSON, so it is UTF-8.
    let original = String::from_utf8(body)
        .map_err(|_| ApiError::MalformedBody("the body is not UTF-8".to_owned()))?;
    let origin = GithubOrigin {
        github_id: event.deployment.id,
        repository: full_name,
        installation_id,
    };
    let (created, found) = state
        .deployments
        .record_from_github(new, original, mapped_text, origin)
        .await?;
    let document = GithubDeploymentDocument::new(&found, &state.public_url);
    if !created {
        return Ok(HttpResponse::Ok().json(document));
    }
    // Its first status is queued for GitHub: the worker need not wait.
    state.wake.notify_one();
    tracing::info!(
        deployment = %document.deployment.id,
        github_deployment = event.deployment.id,
        environment = %document.deployment.environment,
        "deployment recorded from GitHub"
    );
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/deployments/{}", document.deployment.id),
        ))
        .json(document))
}

/// `owner` and `repo` of a path, as GitHub names them; anything else is a
/// 400 naming the segment.
fn repository(owner: &str, repo: &str) -> Result<String, ApiError> {
    let mut errors = Vec::new();
    if !valid_owner(owner) {
        errors.push(FieldError::new(
            "owner",
            "must be a GitHub account: 1 to 39 letters, digits or -",
        ));
    }
    if !valid_repo(repo) {
        errors.push(FieldError::new(
            "repo",
            "must be a GitHub repository name: 1 to 100 letters, digits, ., - or _",
        ));
    }
    if errors.is_empty() {
        Ok(repository_key(owner, repo))
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// `GET /github/{owner}/{repo}/deployments`.
#[utoipa::path(get, operation_id = "listGithubDeployments", path = "/github/{owner}/{repo}/deployments", tag = "deployments",
    params(
        ("owner" = String, Path, pattern = "^[A-Za-z0-9-]{1,39}$", description = "The repository's owner on GitHub"),
        ("repo" = String, Path, pattern = r"^[A-Za-z0-9._-]{1,100}$", description = "The repository's name"),
        ("team_project" = Option<String>, Query, min_length = 1, max_length = 140, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$", description = "Only this project's (a project key sees its own only)"),
        ("environment" = Option<String>, Query, min_length = 1, max_length = 128, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"),
        ("sha" = Option<String>, Query, pattern = "^[0-9a-fA-F]{1,64}$", description = "A prefix of the commit"),
        ("status" = Option<crate::domain::DeploymentState>, Query),
        ("since" = Option<String>, Query, format = DateTime, description = "Created at or after (RFC 3339)"),
        ("until" = Option<String>, Query, format = DateTime, description = "Created at or before (RFC 3339)"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 200, description = "Default 50"),
        ("cursor" = Option<String>, Query, pattern = r"^c[0-9a-f]{1,16}$", description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of the repository's (`github.com/{owner}/{repo}`) deployments, newest first", body = GithubDeploymentList),
        DeploymentReadProblems,
    ),
    security((), ("api_key" = []), ("bearer" = []), ("basic" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let access = state.auth.authenticate(&state.db, &req).await?;
    let (owner, repo) = path.into_inner();
    let key = repository(&owner, &repo)?;
    let mut filter = parse_query::<ListQuery>(&req)?.parse()?;
    // The path names the repository; a `repository` query cannot widen it.
    filter.repository_key = Some(key);
    filter.repository_like = None;
    access.scope(&mut filter.team_project_key)?;
    let limit = filter.limit;
    let page = state.deployments.github_list(filter).await?;
    let next_cursor = (page.len() as i64 == limit)
        .then(|| page.last().map(|v| encode_cursor(v.view.deployment.pk)))
        .flatten();
    let deployments = page
        .iter()
        .map(|v| GithubDeploymentDocument::new(v, &state.public_url))
        .collect();
    Ok(HttpResponse::Ok().json(GithubDeploymentList {
        deployments,
        next_cursor,
    }))
}

/// `GET /github/{owner}/{repo}/deployment/{id}`.
#[utoipa::path(get, operation_id = "getGithubDeployment", path = "/github/{owner}/{repo}/deployment/{id}", tag = "deployments",
    params(
        ("owner" = String, Path, pattern = "^[A-Za-z0-9-]{1,39}$"),
        ("repo" = String, Path, pattern = r"^[A-Za-z0-9._-]{1,100}$"),
        ("id" = String, Path, max_length = 64, description = "`dpl_` and 26 characters"),
    ),
    responses(
        (status = 200, description = "The deployment with its statuses and the request GitHub's event was mapped to; another repository's is not found", body = GithubDeploymentDocument),
        DeploymentReadProblems,
    ),
    security((), ("api_key" = []), ("bearer" = []), ("basic" = [])))]
#[tracing::instrument(skip_all)]
pub async fn show(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let access = state.auth.authenticate(&state.db, &req).await?;
    let (owner, repo, id) = path.into_inner();
    let key = repository(&owner, &repo)?;
    let found = state
        .deployments
        .github_show(deployment_id(id)?, key, actor(&access))
        .await?;
    Ok(HttpResponse::Ok().json(GithubDeploymentDocument::new(&found, &state.public_url)))
}

/// `GET /github/{owner}/{repo}/deployment/{id}/logs`.
#[utoipa::path(get, operation_id = "getGithubDeploymentLog", path = "/github/{owner}/{repo}/deployment/{id}/logs", tag = "deployments",
    params(
        ("owner" = String, Path, pattern = "^[A-Za-z0-9-]{1,39}$"),
        ("repo" = String, Path, pattern = r"^[A-Za-z0-9._-]{1,100}$"),
        ("id" = String, Path, max_length = 64, description = "`dpl_` and 26 characters"),
    ),
    responses(
        (status = 200, description = "The log, as `GET /deployments/{id}/logs` answers it; another repository's deployment is not found", content_type = "text/plain", body = String),
        DeploymentReadProblems,
    ),
    security((), ("api_key" = []), ("bearer" = []), ("basic" = [])))]
#[tracing::instrument(skip_all)]
pub async fn read_log(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let access = state.auth.authenticate(&state.db, &req).await?;
    let (owner, repo, id) = path.into_inner();
    let key = repository(&owner, &repo)?;
    let id = deployment_id(id)?;
    state
        .deployments
        .github_show(id.clone(), key, actor(&access))
        .await?;
    let log = state.deployments.read_log(id, actor(&access)).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(log))
}
