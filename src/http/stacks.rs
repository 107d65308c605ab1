//! The stacks wing's routes (seed 000): `POST /stacks/request`, a
//! holder's heartbeat, commit and release (with `Greenlight-Lease`),
//! `GET /stacks` and `DELETE /stacks/last`.

use actix_web::{web, HttpRequest, HttpResponse};

use super::auth::Access;
use super::problem::ApiError;
#[allow(unused_imports)] // named in the OpenAPI attributes
use super::schemas::{StackCommitRequest, StackProblems, StackRequestBody};
use super::{parse_query, read_body, require_json, AppState};
use crate::domain::release::{fold, key_part, ParseError, MAX_TEAM_PROJECT};
use crate::domain::stack::{self, LeaseToken, StackRequest};
use crate::domain::{CommitSha, FieldError};
use crate::stacks::document::StackList;
use crate::stacks::{Project, StackDocument};

/// A stack request or a commit is a few short strings.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// The header a holder proves its lease with.
const LEASE_HEADER: &str = "greenlight-lease";

#[derive(Debug, serde::Deserialize)]
struct ProjectQuery {
    team_project: Option<String>,
}

/// The project a call concerns: the one named (which the key must see),
/// else a project key's own; an admin key (or none) must name one.
fn project(access: &Access, named: Option<String>) -> Result<Project, ApiError> {
    let mut errors = Vec::new();
    let named = named.and_then(|tp| key_part("team_project", &tp, MAX_TEAM_PROJECT, &mut errors));
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let project = match (named, access.project()) {
        (Some(name), _) => Project {
            key: fold(&name),
            name,
        },
        (None, Some(own)) => Project {
            name: own.to_owned(),
            key: own.to_owned(),
        },
        (None, None) => {
            return Err(ApiError::Validation(vec![FieldError::new(
                "team_project",
                "is required with an admin key",
            )]))
        }
    };
    access.check(&project.key)?;
    Ok(project)
}

fn query_project(req: &HttpRequest, access: &Access) -> Result<Project, ApiError> {
    let query: ProjectQuery = parse_query(req)?;
    project(access, query.team_project)
}

/// The `Greenlight-Lease` token: 422 naming the header when it is missing
/// or not a token's shape.
fn lease_token(req: &HttpRequest) -> Result<LeaseToken, ApiError> {
    let invalid =
        |message: String| ApiError::Validation(vec![FieldError::new("Greenlight-Lease", message)]);
    let Some(value) = req.headers().get(LEASE_HEADER) else {
        return Err(invalid(
            "is required: the lease token the stack was granted with".to_owned(),
        ));
    };
    LeaseToken::parse(value.to_str().unwrap_or_default()).map_err(invalid)
}

/// A stack's name from the path; anything that cannot be one names no
/// stack (404) without a query.
fn stack_name(path: web::Path<String>) -> Result<String, ApiError> {
    let name = path.into_inner();
    match stack::stack_name(&name) {
        Some(_) => Ok(name),
        None => Err(ApiError::StackNotFound(format!(
            "no stack {} in this project",
            name.escape_debug()
        ))),
    }
}

/// `POST /stacks/request`: a stack for the branch, leased.
#[utoipa::path(post, operation_id = "requestStack", path = "/stacks/request", tag = "stacks",
    request_body(content = StackRequestBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The stack now leased, with `lease` (its token shown this once)", body = StackDocument),
        StackProblems,
    ),
    security((), ("api_key" = []), ("bearer" = []), ("basic" = [])))]
#[tracing::instrument(skip_all)]
pub async fn request(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let access = state.auth.authenticate(&state.db, &req).await?;
    require_json(&req)?;
    let body = read_body(&req, payload, MAX_BODY_BYTES).await?;
    let mut request = StackRequest::parse_json(&body)?;
    let project = project(&access, request.team_project.take())?;
    let granted = state
        .stacks
        .request(project, request, access.actor())
        .await?;
    tracing::info!(
        stack = %granted.stack.name,
        fence = granted.lease.fence,
        "stack leased"
    );
    let document =
        StackDocument::new(&granted.stack).with_lease(&granted.lease, Some(granted.token.as_str()));
    Ok(HttpResponse::Ok().json(document))
}

/// `POST /stacks/{stackName}/heartbeat`: the lease lasts `stack_lease_ttl`
/// from now.
#[utoipa::path(post, operation_id = "heartbeatStack", path = "/stacks/{stackName}/heartbeat", tag = "stacks",
    params(
        ("stackName" = String, Path, min_length = 1, max_length = 160),
        ("team_project" = Option<String>, Query, min_length = 1, max_length = 140, description = "Required with an admin key"),
        ("Greenlight-Lease" = String, Header, description = "The lease token the stack was granted with"),
    ),
    responses(
        (status = 200, description = "The stack with its lease's new end (no token)", body = StackDocument),
        StackProblems,
    ),
    security((), ("api_key" = []), ("bearer" = []), ("basic" = [])))]
#[tracing::instrument(skip_all)]
pub async fn heartbeat(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let access = state.auth.authenticate(&state.db, &req).await?;
    let project = query_project(&req, &access)?;
    let token = lease_token(&req)?;
    let name = stack_name(path)?;
    let (stack, lease) = state
        .stacks
        .heartbeat(project, name, token, access.actor())
        .await?;
    Ok(HttpResponse::Ok().json(StackDocument::new(&stack).with_lease(&lease, None)))
}

/// `PUT /stacks/{stackName}/commit`: the commit the holder deployed.
#[utoipa::path(put, operation_id = "setStackCommit", path = "/stacks/{stackName}/commit", tag = "stacks",
    params(
        ("stackName" = String, Path, min_length = 1, max_length = 160),
        ("team_project" = Option<String>, Query, min_length = 1, max_length = 140, description = "Required with an admin key"),
        ("Greenlight-Lease" = String, Header, description = "The lease token the stack was granted with"),
    ),
    request_body(content = StackCommitRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The stack with its last deployed commit", body = StackDocument),
        StackProblems,
    ),
    security((), ("api_key" = []), ("bearer" = []), ("basic" = [])))]
#[tracing::instrument(skip_all)]
pub async fn commit(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let access = state.auth.authenticate(&state.db, &req).await?;
    require_json(&req)?;
    let body = read_body(&req, payload, MAX_BODY_BYTES).await?;
    let commit = parse_commit(&body)?;
    let project = query_project(&req, &access)?;
    let token = lease_token(&req)?;
    let name = stack_name(path)?;
    let (stack, _) = state
        .stacks
        .set_commit(project, name, token, commit, access.actor())
        .await?;
    Ok(HttpResponse::Ok().json(StackDocument::new(&stack)))
}

/// `{"commit": "<hex>"}`.
fn parse_commit(body: &[u8]) -> Result<String, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ParseError::Malformed(format!("the body is not valid JSON: {e}")))?;
    let Some(object) = value.as_object() else {
        return Err(ParseError::Malformed("the body must be a JSON object".to_owned()).into());
    };
    let invalid = |m: &str| ApiError::Validation(vec![FieldError::new("commit", m)]);
    match object.get("commit") {
        Some(serde_json::Value::String(s)) => CommitSha::parse(s)
            .map(|c| c.as_str().to_owned())
            .map_err(|e| invalid(&e)),
        None | Some(serde_json::Value::Null) => Err(invalid("is required")),
        Some(_) => Err(invalid("must be a string of 4 to 64 hex digits")),
    }
}

/// `POST /stacks/{stackName}/release`: available again.
#[utoipa::path(post, operation_id = "releaseStack", path = "/stacks/{stackName}/release", tag = "stacks",
    params(
        ("stackName" = String, Path, min_length = 1, max_length = 160),
        ("team_project" = Option<String>, Query, min_length = 1, max_length = 140, description = "Required with an admin key"),
        ("Greenlight-Lease" = String, Header, description = "The lease token the stack was granted with"),
    ),
    responses(
        (status = 200, description = "The stack, available", body = StackDocument),
        StackProblems,
    ),
    security((), ("api_key" = []), ("bearer" = []), ("basic" = [])))]
#[tracing::instrument(skip_all)]
pub async fn release(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let access = state.auth.authenticate(&state.db, &req).await?;
    let project = query_project(&req, &access)?;
    let token = lease_token(&req)?;
    let name = stack_name(path)?;
    let stack = state
        .stacks
        .release(project, name, token, access.actor())
        .await?;
    Ok(HttpResponse::Ok().json(StackDocument::new(&stack)))
}

/// `GET /stacks?team_project=P`: the project's stacks, by number.
#[utoipa::path(get, operation_id = "listStacks", path = "/stacks", tag = "stacks",
    params(
        ("team_project" = Option<String>, Query, min_length = 1, max_length = 140, description = "Required with an admin key"),
    ),
    responses(
        (status = 200, description = "The project's stacks (no lease tokens)", body = StackList),
        StackProblems,
    ),
    security((), ("api_key" = []), ("bearer" = []), ("basic" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let access = state.auth.authenticate(&state.db, &req).await?;
    let project = query_project(&req, &access)?;
    let stacks = state.stacks.list(project.key).await?;
    Ok(HttpResponse::Ok().json(StackList(stacks.iter().map(StackDocument::new).collect())))
}

/// `DELETE /stacks/last`: removes the highest-numbered stack if available.
#[utoipa::path(delete, operation_id = "deleteLastStack", path = "/stacks/last", tag = "stacks",
    params(
        ("team_project" = Option<String>, Query, min_length = 1, max_length = 140, description = "Required with an admin key"),
    ),
    responses(
        (status = 200, description = "The stack deleted", body = StackDocument),
        StackProblems,
    ),
    security((), ("api_key" = []), ("bearer" = []), ("basic" = [])))]
#[tracing::instrument(skip_all)]
pub async fn delete_last(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let access = state.auth.authenticate(&state.db, &req).await?;
    let project = query_project(&req, &access)?;
    let stack = state.stacks.delete_last(project, access.actor()).await?;
    Ok(HttpResponse::Ok().json(StackDocument::new(&stack)))
}
