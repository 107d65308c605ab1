//! The deployments wing's routes: `POST /deployments` (and the seed's
//! `POST /deploy`), `GET /deployments`, one deployment, its statuses,
//! cancel, its log, `GET /environments` and a project's control-plane
//! events.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::auth::Access;
use super::problem::ApiError;
use super::release::{decode_cursor, encode_cursor};
#[allow(unused_imports)] // named in the OpenAPI attributes
use super::schemas::{
    DeploymentPath, DeploymentReadProblems, DeploymentRequest, DeploymentStatusRequest,
    DeploymentWriteProblems,
};
use super::{parse_query, read_body, require_json, AppState};
use crate::db::deployments::ListFilter;
use crate::db::events::ProjectFilter;
use crate::deployments::document::{
    DeploymentList, EnvironmentEntry, EnvironmentList, LogAppended, ProjectEventList,
};
use crate::deployments::{Actor, DeploymentDocument};
use crate::domain::deployment::MAX_REPOSITORY_URL;
use crate::domain::release::{fold, key_part, MAX_ENVIRONMENT, MAX_TEAM_PROJECT};
use crate::domain::{DeploymentState, FieldError, NewDeployment, RepositoryUrl, StatusUpdate};

/// A deployment request is a few short strings; 64 KiB leaves room for
/// clients that send more fields than we read (all kept as received).
const MAX_BODY_BYTES: usize = 64 * 1024;

/// One log chunk: a runner posts its output as it comes, a few KiB at a
/// time; the whole log is capped apart (`GREENLIGHT_DEPLOYMENT_LOG_LIMIT`).
const MAX_LOG_CHUNK: usize = 1024 * 1024;

/// An `Idempotency-Key` is a client's token (a UUID, a build id): visible
/// ASCII, up to 255 characters.
const MAX_IDEMPOTENCY_KEY: usize = 255;

const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 200;

/// The caller as the wing sees it.
pub(super) fn actor(access: &Access) -> Actor {
    Actor {
        name: access.actor(),
        project: access.project().map(str::to_owned),
    }
}

fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().map(str::trim).unwrap_or_default();
    if key.is_empty()
        || key.len() > MAX_IDEMPOTENCY_KEY
        || !key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(ApiError::Validation(vec![FieldError::new(
            "Idempotency-Key",
            "must be 1 to 255 visible ASCII characters",
        )]));
    }
    Ok(Some(key.to_owned()))
}

/// The deployment id a path names: `dpl_` and a ULID. Anything else names
/// no deployment (404) without a query: a NUL byte, say, is not even text
/// PostgreSQL can compare.
pub(super) fn deployment_id(path: web::Path<String>) -> Result<String, ApiError> {
    parse_deployment_id(path.into_inner())
}

pub(super) fn parse_deployment_id(id: String) -> Result<String, ApiError> {
    let well_formed = id
        .strip_prefix("dpl_")
        .is_some_and(|ulid| ulid.len() == 26 && ulid.bytes().all(|b| b.is_ascii_alphanumeric()));
    if well_formed {
        Ok(id)
    } else {
        Err(ApiError::DeploymentNotFound(id.escape_debug().to_string()))
    }
}

/// Records a deployment (201), or answers the one an `Idempotency-Key`
/// already made (200).
#[utoipa::path(post, operation_id = "createDeployment", path = "/deployments", tag = "deployments",
    request_body(content = DeploymentRequest, content_type = "application/json"),
    params(
        ("Idempotency-Key" = Option<String>, Header, max_length = 255, description = "A repeat with the same key (per project) answers the first deployment with 200 instead of creating another"),
    ),
    responses(
        (status = 201, description = "Recorded, `queued`", body = DeploymentDocument),
        (status = 200, description = "The deployment this Idempotency-Key created before", body = DeploymentDocument),
        DeploymentWriteProblems,
    ),
    security((), ("api_key" = []), ("bearer" = []), ("basic" = [])))]
#[tracing::instrument(skip_all)]
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let access = state.auth.authenticate(&state.db, &req).await?;
    require_json(&req)?;
    let key = idempotency_key(&req)?;
    let body = read_body(&req, payload, MAX_BODY_BYTES).await?;
    let new = NewDeployment::parse_json(&body)?;
    access.check(&new.team_project_key())?;
    // It parsed as JSON, so it is UTF-8.
    let original = String::from_utf8(body)
        .map_err(|_| ApiError::MalformedBody("the body is not UTF-8".to_owned()))?;
    let (created, view) = state
        .deployments
        .create(new, original, key, actor(&access))
        .await?;
    let document = DeploymentDocument::new(&view, &state.public_url);
    if !created {
        return Ok(HttpResponse::Ok().json(document));
    }
    tracing::info!(
        deployment = %document.id,
        team_project = %document.team_project,
        environment = %document.environment,
        "deployment recorded"
    );
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/deployments/{}", document.id)))
        .json(document))
}

/// The seed's `POST /deploy`: the same as `POST /deployments`.
#[utoipa::path(post, operation_id = "deploy", path = "/deploy", tag = "deployments",
    request_body(content = DeploymentRequest, content_type = "application/json"),
    params(
        ("Idempotency-Key" = Option<String>, Header, max_length = 255, description = "A repeat with the same key (per project) answers the first deployment with 200 instead of creating another"),
    ),
    responses(
        (status = 201, description = "Recorded, `queued`", body = DeploymentDocument),
        (status = 200, description = "The deployment this Idempotency-Key created before", body = DeploymentDocument),
        DeploymentWriteProblems,
    ),
    security((), ("api_key" = []), ("bearer" = []), ("basic" = [])))]
pub async fn deploy(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    create(state, req, payload).await
}

/// `GET /deployments/{id}`.
#[utoipa::path(get, operation_id = "getDeployment", path = "/deployments/{id}", tag = "deployments",
    params(DeploymentPath),
    responses(
        (status = 200, description = "The deployment with its statuses", body = DeploymentDocument),
        DeploymentReadProblems,
    ),
    security((), ("api_key" = []), ("bearer" = []), ("basic" = [])))]
#[tracing::instrument(skip_all)]
pub async fn show(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let access = state.auth.authenticate(&state.db, &req).await?;
    let view = state
        .deployments
        .show(deployment_id(path)?, actor(&access))
        .await?;
    Ok(HttpResponse::Ok().json(DeploymentDocument::new(&view, &state.public_url)))
}

/// `POST /deployments/{id}/statuses`: appends a status, forward only.
#[utoipa::path(post, operation_id = "postDeploymentStatus", path = "/deployments/{id}/statuses", tag = "deployments",
    params(DeploymentPath,
        ("Greenlight-Claim" = Option<String>, Header, description = "A runner's claim token: must be this deployment's and current (409 otherwise); renews the claim"),
    ),
    request_body(content = DeploymentStatusRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Appended: the deployment as it is now", body = DeploymentDocument),
        DeploymentWriteProblems,
    ),
    security((), ("api_key" = []), ("bearer" = []), ("basic" = [])))]
#[tracing::instrument(skip_all)]
pub async fn post_status(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let access = state.auth.authenticate(&state.db, &req).await?;
    require_json(&req)?;
    let body = read_body(&req, payload, MAX_BODY_BYTES).await?;
    let update = StatusUpdate::parse_json(&body)?;
    let view = state
        .deployments
        .post_status(
            deployment_id(path)?,
            update,
            super::runners::claim_token(&req),
            actor(&access),
        )
        .await?;
    Ok(HttpResponse::Created().json(DeploymentDocument::new(&view, &state.public_url)))
}

/// `POST /deployments/{id}/cancel`: cancels one that has not finished (a
/// body, if any, is ignored).
#[utoipa::path(post, operation_id = "cancelDeployment", path = "/deployments/{id}/cancel", tag = "deployments",
    params(DeploymentPath),
    responses(
        (status = 200, description = "Canceled: the deployment as it is now", body = DeploymentDocument),
        DeploymentWriteProblems,
    ),
    security((), ("api_key" = []), ("bearer" = []), ("basic" = [])))]
#[tracing::instrument(skip_all)]
pub async fn cancel(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let access = state.auth.authenticate(&state.db, &req).await?;
    let view = state
        .deployments
        .cancel(deployment_id(path)?, actor(&access))
        .await?;
    Ok(HttpResponse::Ok().json(DeploymentDocument::new(&view, &state.public_url)))
}

/// `POST /deployments/{id}/logs`: appends the body (any bytes, any
/// `Content-Type`: `curl --data-binary` labels it a form) to the log.
#[utoipa::path(post, operation_id = "appendDeploymentLog", path = "/deployments/{id}/logs", tag = "deployments",
    params(DeploymentPath,
        ("Greenlight-Claim" = Option<String>, Header, description = "A runner's claim token: must be this deployment's and current (409 otherwise); renews the claim"),
    ),
    request_body(content = String, content_type = "text/plain", description = "A chunk of log, up to 1 MiB: any bytes, kept in order"),
    responses(
        (status = 200, description = "Appended (what would pass GREENLIGHT_DEPLOYMENT_LOG_LIMIT is dropped and counted)", body = LogAppended),
        DeploymentWriteProblems,
    ),
    security((), ("api_key" = []), ("bearer" = []), ("basic" = [])))]
#[tracing::instrument(skip_all)]
pub async fn append_log(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let access = state.auth.authenticate(&state.db, &req).await?;
    let chunk = read_body(&req, payload, MAX_LOG_CHUNK).await?;
    if chunk.is_empty() {
        return Err(ApiError::Validation(vec![FieldError::new(
            "body",
            "must not be empty: it is the chunk of log to append",
        )]));
    }
    let totals = state
        .deployments
        .append_log(
            deployment_id(path)?,
            chunk,
            super::runners::claim_token(&req),
            actor(&access),
        )
        .await?;
    Ok(HttpResponse::Ok().json(LogAppended::from(totals)))
}

/// The `GET /deployments/{id}/logs` query.
#[derive(Debug, serde::Deserialize)]
struct LogQuery {
    follow: Option<String>,
}

/// `follow`: `true` or `false` (also `1`, `0`); absent is false.
fn follow_flag(req: &HttpRequest) -> Result<bool, ApiError> {
    let query: LogQuery = parse_query(req)?;
    match query.follow.as_deref().map(str::trim) {
        None | Some("false" | "0") => Ok(false),
        Some("true" | "1") => Ok(true),
        Some(_) => Err(ApiError::Validation(vec![FieldError::new(
            "follow",
            "must be true or false",
        )])),
    }
}

/// `GET /deployments/{id}/logs`: the whole log, as appended; with
/// `?follow=true` streamed until the deployment is final.
#[utoipa::path(get, operation_id = "getDeploymentLog", path = "/deployments/{id}/logs", tag = "deployments",
    params(
        DeploymentPath,
        ("follow" = Option<bool>, Query, description = "Stream the log: what is stored, then each chunk as it is appended on any replica, until the deployment is final. With `Accept: text/event-stream`, as server-sent events: one `data:` per line, `event: end` (its data the final state) at the end, a comment every 15 s to keep the connection open"),
    ),
    responses(
        (status = 200, description = "The log, chunks in the order appended; past the limit, a last line says how many bytes were dropped. Followed: chunked `text/plain`, or `text/event-stream`", content_type = "text/plain", body = String),
        DeploymentReadProblems,
    ),
    security((), ("api_key" = []), ("bearer" = []), ("basic" = [])))]
#[tracing::instrument(skip_all)]
pub async fn read_log(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let access = state.auth.authenticate(&state.db, &req).await?;
    if follow_flag(&req)? {
        let events = state
            .deployments
            .follow(deployment_id(path)?, actor(&access))
            .await?;
        let mut answer = HttpResponse::Ok();
        // Proxies (nginx) must pass each chunk on as it comes.
        answer
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header(("x-accel-buffering", "no"));
        return Ok(if super::log_stream::wants_events(&req) {
            answer
                .content_type("text/event-stream")
                .streaming(super::log_stream::events(events))
        } else {
            answer
                .content_type("text/plain; charset=utf-8")
                .streaming(super::log_stream::plain(events))
        });
    }
    let log = state
        .deployments
        .read_log(deployment_id(path)?, actor(&access))
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(log))
}

/// The `GET /deployments` query, parsed once here.
#[derive(Debug, serde::Deserialize)]
pub(super) struct ListQuery {
    team_project: Option<String>,
    environment: Option<String>,
    repository: Option<String>,
    sha: Option<String>,
    status: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// Which repositories a `repository` filter names: one (normalised as
/// stored), or a glob whose `*` matches any run of characters, as SQL
/// `LIKE` on the lowercased repository.
fn repository_filter(raw: &str) -> Result<(Option<String>, Option<String>), String> {
    if !raw.contains('*') {
        return RepositoryUrl::parse(raw).map(|r| (Some(r.key()), None));
    }
    let text = raw.trim();
    if text.chars().count() > MAX_REPOSITORY_URL
        || text.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(format!(
            "must be at most {MAX_REPOSITORY_URL} characters, without spaces or control characters"
        ));
    }
    let lower = text.to_lowercase();
    let bare = ["https://", "http://", "ssh://", "git://"]
        .iter()
        .find_map(|scheme| lower.strip_prefix(scheme))
        .unwrap_or(&lower);
    let bare = bare.trim_end_matches('/');
    let bare = bare.strip_suffix(".git").unwrap_or(bare);
    let mut pattern = String::with_capacity(bare.len() + 4);
    for c in bare.chars() {
        match c {
            '*' => pattern.push('%'),
            '%' | '_' | '\\' => {
                pattern.push('\\');
                pattern.push(c);
            }
            c => pattern.push(c),
        }
    }
    Ok((None, Some(pattern)))
}

fn time(text: &str) -> Option<chrono::NaiveDateTime> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.naive_utc())
}

fn limit(raw: Option<String>, errors: &mut Vec<FieldError>) -> i64 {
    match raw.map(|l| l.parse::<i64>()) {
        None => DEFAULT_PAGE,
        Some(Ok(n)) if (1..=MAX_PAGE).contains(&n) => n,
        Some(_) => {
            errors.push(FieldError::new(
                "limit",
                "must be a whole number from 1 to 200",
            ));
            DEFAULT_PAGE
        }
    }
}

fn cursor(raw: Option<String>, errors: &mut Vec<FieldError>) -> Option<i64> {
    raw.and_then(|c| {
        let id = decode_cursor(&c);
        if id.is_none() {
            errors.push(FieldError::new(
                "cursor",
                "is not a cursor this service gave out",
            ));
        }
        id
    })
}

impl ListQuery {
    pub(super) fn parse(self) -> Result<ListFilter, ApiError> {
        let mut errors = Vec::new();
        let team_project_key = self
            .team_project
            .and_then(|tp| key_part("team_project", &tp, MAX_TEAM_PROJECT, &mut errors))
            .map(|tp| fold(&tp));
        let environment_key = self
            .environment
            .and_then(|env| key_part("environment", &env, MAX_ENVIRONMENT, &mut errors))
            .map(|env| fold(&env));
        let (repository_key, repository_like) =
            match self.repository.as_deref().map(repository_filter) {
                None => (None, None),
                Some(Ok(found)) => found,
                Some(Err(e)) => {
                    errors.push(FieldError::new("repository", e));
                    (None, None)
                }
            };
        let sha_prefix = self.sha.and_then(|sha| {
            let sha = sha.trim().to_ascii_lowercase();
            if (1..=64).contains(&sha.len()) && sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                Some(sha)
            } else {
                errors.push(FieldError::new(
                    "sha",
                    "must be 1 to 64 hex digits (a prefix of the commit)",
                ));
                None
            }
        });
        let status = self.status.and_then(|s| {
            s.parse::<DeploymentState>()
                .map_err(|()| {
                    errors.push(FieldError::new(
                        "status",
                        format!(
                            "must be one of {}",
                            crate::domain::deployment::state_names()
                        ),
                    ))
                })
                .ok()
        });
        let mut when = |name: &'static str, raw: Option<String>| {
            raw.and_then(|t| {
                let parsed = time(&t);
                if parsed.is_none() {
                    errors.push(FieldError::new(
                        name,
                        "must be an RFC 3339 time, e.g. 2026-11-23T10:15:02Z",
                    ));
                }
                parsed
            })
        };
        let since = when("since", self.since);
        let until = when("until", self.until);
        let limit = limit(self.limit, &mut errors);
        let before = cursor(self.cursor, &mut errors);
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        Ok(ListFilter {
            team_project_key,
            environment_key,
            repository_key,
            repository_like,
            sha_prefix,
            status,
            since,
            until,
            before,
            limit,
        })
    }
}

/// `GET /deployments`: newest first, a page at a time.
#[utoipa::path(get, operation_id = "listDeployments", path = "/deployments", tag = "deployments",
    params(
        ("team_project" = Option<String>, Query, min_length = 1, max_length = 140, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$", description = "Only this project's (a project key sees its own only)"),
        ("environment" = Option<String>, Query, min_length = 1, max_length = 128, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"),
        ("repository" = Option<String>, Query, min_length = 1, max_length = 512, description = "One repository (`github.com/octo/app`, any URL form of it), or a glob: `github.com/octo/*`; case-insensitive"),
        ("sha" = Option<String>, Query, pattern = "^[0-9a-fA-F]{1,64}$", description = "A prefix of the commit"),
        ("status" = Option<DeploymentState>, Query),
        ("since" = Option<String>, Query, format = DateTime, description = "Created at or after (RFC 3339)"),
        ("until" = Option<String>, Query, format = DateTime, description = "Created at or before (RFC 3339)"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 200, description = "Default 50"),
        ("cursor" = Option<String>, Query, pattern = r"^c[0-9a-f]{1,16}$", description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of deployments, newest first", body = DeploymentList),
        DeploymentReadProblems,
    ),
    security((), ("api_key" = []), ("bearer" = []), ("basic" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let access = state.auth.authenticate(&state.db, &req).await?;
    let mut filter = parse_query::<ListQuery>(&req)?.parse()?;
    access.scope(&mut filter.team_project_key)?;
    let limit = filter.limit;
    let page = state.deployments.list(filter).await?;
    let next_cursor = (page.len() as i64 == limit)
        .then(|| page.last().map(|v| encode_cursor(v.deployment.pk)))
        .flatten();
    let deployments = page
        .iter()
        .map(|v| DeploymentDocument::new(v, &state.public_url))
        .collect();
    Ok(HttpResponse::Ok().json(DeploymentList {
        deployments,
        next_cursor,
    }))
}

#[derive(Debug, serde::Deserialize)]
struct EnvironmentsQuery {
    team_project: Option<String>,
}

/// `GET /environments?team_project=P`: what runs where.
#[utoipa::path(get, operation_id = "listEnvironments", path = "/environments", tag = "deployments",
    params(
        ("team_project" = Option<String>, Query, min_length = 1, max_length = 140, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$", description = "Required, but for a project key (its own project)"),
    ),
    responses(
        (status = 200, description = "Each environment of the project with its current success and its latest deployment", body = EnvironmentList),
        DeploymentReadProblems,
    ),
    security((), ("api_key" = []), ("bearer" = []), ("basic" = [])))]
#[tracing::instrument(skip_all)]
pub async fn environments(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let access = state.auth.authenticate(&state.db, &req).await?;
    let query: EnvironmentsQuery = parse_query(&req)?;
    let mut errors = Vec::new();
    let asked = query
        .team_project
        .and_then(|tp| key_part("team_project", &tp, MAX_TEAM_PROJECT, &mut errors));
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let (shown, key) = match (asked, access.project()) {
        (Some(asked), _) => {
            let key = fold(&asked);
            access.check(&key)?;
            (asked, key)
        }
        (None, Some(own)) => (own.to_owned(), own.to_owned()),
        (None, None) => {
            return Err(ApiError::Validation(vec![FieldError::new(
                "team_project",
                "is required",
            )]))
        }
    };
    let found = state.deployments.environments(key).await?;
    let environments = found
        .iter()
        .map(|e| EnvironmentEntry::new(e, &state.public_url))
        .collect();
    // Shown as the deployments name it (first given), else as asked.
    let team_project = found
        .first()
        .map_or(shown, |e| e.latest.deployment.team_project.clone());
    Ok(HttpResponse::Ok().json(EnvironmentList {
        team_project,
        environments,
    }))
}

#[derive(Debug, serde::Deserialize)]
struct EventsQuery {
    r#type: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// `GET /projects/{team_project}/events`: the project's control-plane
/// audit trail, oldest first.
#[utoipa::path(get, operation_id = "getProjectEvents", path = "/projects/{team_project}/events", tag = "deployments",
    params(
        ("team_project" = String, Path, min_length = 1, max_length = 140, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$", description = "Matched case-insensitively"),
        ("type" = Option<String>, Query, min_length = 1, max_length = 64, description = "Only events of this type (`deployment.created`, `deployment.status`...)"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 200, description = "Default 50"),
        ("cursor" = Option<String>, Query, pattern = r"^c[0-9a-f]{1,16}$", description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of the project's control-plane events, oldest first", body = ProjectEventList),
        DeploymentReadProblems,
    ),
    security((), ("api_key" = []), ("bearer" = []), ("basic" = [])))]
#[tracing::instrument(skip_all)]
pub async fn project_events(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let access = state.auth.authenticate(&state.db, &req).await?;
    let query: EventsQuery = parse_query(&req)?;
    let mut errors = Vec::new();
    let project = key_part(
        "team_project",
        &path.into_inner(),
        MAX_TEAM_PROJECT,
        &mut errors,
    );
    let kind = query
        .r#type
        .and_then(|t| crate::domain::release::check_text("type", &t, 64, &mut errors));
    let limit = limit(query.limit, &mut errors);
    let after = cursor(query.cursor, &mut errors);
    let Some(project) = project.filter(|_| errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let team_project_key = fold(&project);
    access.check(&team_project_key)?;
    let page = state
        .deployments
        .project_events(ProjectFilter {
            team_project_key,
            kind,
            after,
            limit,
        })
        .await?;
    let next_cursor = (page.len() as i64 == limit)
        .then(|| page.last().map(|e| encode_cursor(e.id)))
        .flatten();
    let events = page.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(ProjectEventList {
        events,
        next_cursor,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repository_filter_is_one_repository_or_an_escaped_glob() {
        assert_eq!(
            repository_filter("https://GitHub.com/Octo/App.git").unwrap(),
            (Some("github.com/octo/app".to_owned()), None)
        );
        assert_eq!(
            repository_filter("github.com/Octo/*").unwrap(),
            (None, Some("github.com/octo/%".to_owned()))
        );
        assert_eq!(
            repository_filter("https://github.com/my_org%/*/").unwrap(),
            (None, Some(r"github.com/my\_org\%/%".to_owned()))
        );
        assert!(repository_filter("github.com/octo/a pp*").is_err());
        assert!(repository_filter("https://u:p@github.com/octo/app").is_err());
    }
}
