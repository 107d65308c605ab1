//! `POST /release` and `GET /releases/{team_project}/{release_id}`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::problem::{ApiError, Problem};
#[allow(unused_imports)] // named in the OpenAPI attributes
use super::schemas::{ReleasePath, ReleaseReadProblems, ReleaseRequest};
use super::{parse_query, read_body, require_json, AppState};
use crate::db;
use crate::db::releases::ListFilter;
use crate::domain::{FieldError, NewRelease, ReleaseKey, ReleaseStatus};
use crate::integrations::azure_devops::{host_allowed, AzureCallback};
use crate::releases::document::{EventList, ReleaseList};
use crate::releases::lifecycle;
use crate::releases::subscriber::Subscriber;
use crate::releases::{StatusDocument, Subscription, Waiter};

/// A release request is three short strings; 64 KiB leaves room for
/// pipelines that send more fields than we read.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// How long an Azure DevOps job's AuthToken lives: a release in callback
/// mode expires within it.
const AZURE_TOKEN_LIFE: chrono::Duration = chrono::Duration::hours(48);

/// Creates the release (202) or answers its current status (200). No
/// network call happens here: the worker does the slow part.
#[utoipa::path(post, operation_id = "createOrPollRelease", path = "/release", tag = "pipelines",
    request_body(content = ReleaseRequest, content_type = "application/json"),
    params(
        CompletionQuery,
        ("PlanUrl" = Option<String>, Header, description = "Azure DevOps callback mode (with ?completion=callback only): with ProjectId, HubName, PlanId, JobId, TaskInstanceId and AuthToken, Greenlight completes the task when the release is decided"),
        ("ProjectId" = Option<String>, Header, description = "Azure DevOps callback mode"),
        ("HubName" = Option<String>, Header, description = "Azure DevOps callback mode"),
        ("PlanId" = Option<String>, Header, description = "Azure DevOps callback mode"),
        ("JobId" = Option<String>, Header, description = "Azure DevOps callback mode"),
        ("TaskInstanceId" = Option<String>, Header, description = "Azure DevOps callback mode"),
        ("AuthToken" = Option<String>, Header, description = "Azure DevOps callback mode: the job's token, never shown back"),
        ("TimelineId" = Option<String>, Header, description = "Azure DevOps callback mode (optional)"),
    ),
    responses(
        (status = 202, description = "Created: pending until the approvers decide", body = StatusDocument),
        (status = 200, description = "Known already: its current status", body = StatusDocument),
        (status = 400, description = "Not a JSON object", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "An API key is required, or this one is not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key is for another project", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The release exists with another ReleaseName or RequestedForEmail: nothing changed", body = Problem, content_type = "application/problem+json"),
        (status = 408, description = "The body did not arrive within GREENLIGHT_BODY_TIMEOUT", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a JSON Content-Type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (each named in `errors`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong keys from this client", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("api_key" = []), ("bearer" = []), ("basic" = [])))]
#[tracing::instrument(skip_all)]
pub async fn create_or_poll(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let access = state.auth.authenticate(&state.db, &req).await?;
    require_json(&req)?;
    let body = read_body(&req, payload, MAX_BODY_BYTES).await?;
    let new = NewRelease::parse_json(&body)?;
    access.check(&new.key.team_project_key())?;
    // Azure DevOps sends its task's headers in the polling mode too: they
    // are read only when the task asked for a callback.
    let callback = if callback_asked(&req)? {
        AzureCallback::from_headers(|name| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .map_err(ApiError::Validation)?
    } else {
        None
    };
    if let Some((callback, _)) = &callback {
        if !host_allowed(&state.azure_devops_hosts, &callback.plan_url) {
            return Err(ApiError::Validation(vec![FieldError::new(
                "PlanUrl",
                "must be on an Azure DevOps host this Greenlight trusts (GREENLIGHT_AZURE_DEVOPS_HOSTS)",
            )]));
        }
    }
    // The task waiting in callback mode, told once the release is decided;
    // its AuthToken lives 48 hours, so a later decision could not be told.
    let waiter = callback.map(|(callback, token)| Waiter {
        subscription: Subscription {
            subscriber: Subscriber::AzureDevops(callback),
            credential: Some(token),
        },
        ttl_cap: Some(AZURE_TOKEN_LIFE),
    });
    let (created, view) = state.releases.create_or_join(new, waiter).await?;
    let status = if created {
        tracing::info!(
            team_project = %view.release.team_project,
            release_id = %view.release.release_id,
            "release accepted"
        );
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(StatusDocument::from(&view)))
}

/// `POST /release?completion=callback`: the caller (an Azure DevOps task
/// with the completion event Callback) waits to be told.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CompletionQuery {
    /// `callback`: complete the Azure DevOps task named by its headers
    /// once the release is decided (else they are ignored)
    #[param(pattern = "^callback$")]
    completion: Option<String>,
}

fn callback_asked(req: &HttpRequest) -> Result<bool, ApiError> {
    let query: CompletionQuery = parse_query(req)?;
    match query.completion.as_deref() {
        None => Ok(false),
        Some("callback") => Ok(true),
        Some(_) => Err(ApiError::Validation(vec![FieldError::new(
            "completion",
            "must be callback (or left out to poll)",
        )])),
    }
}

/// `?environment=E` on the `GET` routes (default `production`).
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EnvironmentQuery {
    /// Default `production`
    #[param(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    environment: Option<String>,
}

/// The release a `GET /releases/{team_project}/{release_id}...` route names,
/// and the 404 to answer if there is none; 401/403 unless the caller's key
/// may see it.
async fn path_key(
    state: &AppState,
    req: &HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<(ReleaseKey, ApiError), ApiError> {
    let access = state.auth.authenticate(&state.db, req).await?;
    let (team_project, release_id) = path.into_inner();
    let query: EnvironmentQuery = parse_query(req)?;
    let key = ReleaseKey::parse(&team_project, query.environment.as_deref(), &release_id)
        .map_err(ApiError::Validation)?;
    access.check(&key.team_project_key())?;
    let not_found = ApiError::ReleaseNotFound {
        team_project,
        environment: key.environment().to_owned(),
        release_id,
    };
    Ok((key, not_found))
}

/// `GET /releases/{team_project}/{release_id}`: one release's status.
#[utoipa::path(get, operation_id = "getRelease", path = "/releases/{team_project}/{release_id}", tag = "pipelines",
    params(
        ReleasePath,
        EnvironmentQuery,
    ),
    responses(
        (status = 200, description = "The release's status", body = StatusDocument),
        ReleaseReadProblems,
    ),
    security((), ("api_key" = []), ("bearer" = []), ("basic" = [])))]
#[tracing::instrument(skip_all)]
pub async fn show(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (key, not_found) = path_key(&state, &req, path).await?;
    let view = state
        .db
        .read(move |conn| Ok(lifecycle::find(conn, &key, db::now())?))
        .await?
        .ok_or(not_found)?;
    Ok(HttpResponse::Ok().json(StatusDocument::from(&view)))
}

/// `GET /releases/{team_project}/{release_id}/events`: the audit trail.
#[utoipa::path(get, operation_id = "getReleaseEvents", path = "/releases/{team_project}/{release_id}/events", tag = "pipelines",
    params(
        ReleasePath,
        EnvironmentQuery,
    ),
    responses(
        (status = 200, description = "The audit trail, oldest first", body = EventList),
        ReleaseReadProblems,
    ),
    security((), ("api_key" = []), ("bearer" = []), ("basic" = [])))]
#[tracing::instrument(skip_all)]
pub async fn events(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (key, not_found) = path_key(&state, &req, path).await?;
    let (_, trail) = state
        .db
        .read(move |conn| Ok(lifecycle::events_of(conn, &key)?))
        .await?
        .ok_or(not_found)?;
    let events = trail.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(EventList { events }))
}

/// The `GET /releases` query, parsed once here (the dashboard's too).
#[derive(Debug, serde::Deserialize)]
pub struct ListQuery {
    pub(super) team_project: Option<String>,
    pub(super) environment: Option<String>,
    pub(super) status: Option<String>,
    pub(super) limit: Option<String>,
    pub(super) cursor: Option<String>,
}

const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 200;

/// The cursor is opaque to clients: `c` and the last id shown, in hex.
pub(super) fn encode_cursor(id: i64) -> String {
    format!("c{id:x}")
}

pub(super) fn decode_cursor(cursor: &str) -> Option<i64> {
    let hex = cursor.strip_prefix('c')?;
    (!hex.is_empty() && hex.len() <= 16)
        .then(|| i64::from_str_radix(hex, 16).ok())
        .flatten()
        .filter(|id| *id > 0)
}

impl ListQuery {
    pub(super) fn parse(self) -> Result<ListFilter, ApiError> {
        let mut errors = Vec::new();
        // Project and environment follow the rules of a release's own, and
        // match as a release's do: folded.
        let team_project_key = self.team_project.and_then(|tp| {
            ReleaseKey::parse(&tp, None, "-")
                .map(|k| k.team_project_key())
                .map_err(|e| errors.extend(e))
                .ok()
        });
        let environment_key = self.environment.and_then(|env| {
            ReleaseKey::parse("-", Some(&env), "-")
                .map(|k| k.environment_key())
                .map_err(|e| errors.extend(e))
                .ok()
        });
        let mut refuse = |field: &'static str, message: &str| {
            errors.push(FieldError {
                field,
                message: message.to_owned(),
            })
        };
        let status = self.status.and_then(|s| {
            s.parse::<ReleaseStatus>()
                .map_err(|_| {
                    refuse(
                        "status",
                        "must be pending, approved, rejected, expired or failed",
                    )
                })
                .ok()
        });
        let limit = match self.limit.map(|l| l.parse::<i64>()) {
            None => DEFAULT_PAGE,
            Some(Ok(n)) if (1..=MAX_PAGE).contains(&n) => n,
            Some(_) => {
                refuse("limit", "must be a whole number from 1 to 200");
                DEFAULT_PAGE
            }
        };
        let before = self.cursor.and_then(|c| {
            let id = decode_cursor(&c);
            if id.is_none() {
                refuse("cursor", "is not a cursor this service gave out");
            }
            id
        });
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        Ok(ListFilter {
            team_project_key,
            environment_key,
            status,
            before,
            limit,
        })
    }
}

/// `GET /releases`: status documents, newest first, a page at a time.
#[utoipa::path(get, operation_id = "listReleases", path = "/releases", tag = "pipelines",
    params(
        ("team_project" = Option<String>, Query, min_length = 1, max_length = 140, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$", description = "Only this project's (a project key sees its own only)"),
        ("environment" = Option<String>, Query, min_length = 1, max_length = 128, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"),
        ("status" = Option<ReleaseStatus>, Query),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 200, description = "Default 50"),
        ("cursor" = Option<String>, Query, pattern = r"^c[0-9a-f]{1,16}$", description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of releases, newest first", body = ReleaseList),
        (status = 400, description = "The query string is not valid", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "An API key is required, or this one is not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key is for another project", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid filters (each named in `errors`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong keys from this client", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("api_key" = []), ("bearer" = []), ("basic" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let access = state.auth.authenticate(&state.db, &req).await?;
    let mut filter = parse_query::<ListQuery>(&req)?.parse()?;
    access.scope(&mut filter.team_project_key)?;
    let limit = filter.limit;
    let page = state
        .db
        .read(move |conn| Ok(lifecycle::list(conn, &filter, db::now())?))
        .await?;
    let next_cursor = (page.len() as i64 == limit)
        .then(|| page.last().map(|v| encode_cursor(v.release.id)))
        .flatten();
    let releases = page.iter().map(StatusDocument::from).collect();
    Ok(HttpResponse::Ok().json(ReleaseList {
        releases,
        next_cursor,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        for id in [1, 255, i64::MAX] {
            assert_eq!(decode_cursor(&encode_cursor(id)), Some(id));
        }
        for bad in [
            "",
            "c",
            "cz",
            "12",
            "c-1",
            "c0",
            "c10000000000000000",
            "C1f",
        ] {
            assert_eq!(decode_cursor(bad), None, "{bad}");
        }
    }
}
