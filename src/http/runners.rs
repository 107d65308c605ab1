//! Runners' routes: `POST /runners/claim` (long poll) and
//! `POST /deployments/{id}/heartbeat`; the `Greenlight-Claim` header the
//! other routes of a claimed deployment read.

use std::time::Instant;

use actix_web::{web, HttpRequest, HttpResponse};

use super::auth::Access;
use super::problem::ApiError;
#[allow(unused_imports)] // named in the OpenAPI attributes
use super::schemas::{ClaimProblems, ClaimRequestBody, DeploymentPath, HeartbeatProblems};
use super::{read_body, require_json, AppState};
use crate::deployments::document::{ClaimAnswer, HeartbeatAnswer};
use crate::deployments::Actor;
use crate::domain::{ClaimRequest, ClaimToken, FieldError};

/// The header a runner sends its claim token in.
pub const CLAIM_HEADER: &str = "greenlight-claim";

/// A claim request is a few names.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// The socket of a request's connection, kept at connect (see
/// `remember_socket`): a long poll asks it whether the client is still
/// there before it takes a deployment for it.
#[derive(Clone, Copy)]
pub struct ClientSocket(std::os::fd::RawFd);

/// `HttpServer::on_connect`: keeps each TCP connection's socket.
pub fn remember_socket(connection: &dyn std::any::Any, data: &mut actix_web::dev::Extensions) {
    use std::os::fd::AsRawFd;
    if let Some(tcp) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() {
        data.insert(ClientSocket(tcp.as_raw_fd()));
    }
}

impl ClientSocket {
    /// Whether the client closed its side: a peek (which consumes
    /// nothing) reads end-of-stream. While a request is being answered its
    /// connection, and so this descriptor, stays open.
    fn closed(self) -> bool {
        use std::os::fd::FromRawFd;
        // Borrowed, not owned: dropping it must not close the socket.
        let socket =
            std::mem::ManuallyDrop::new(unsafe { std::net::TcpStream::from_raw_fd(self.0) });
        let mut byte = [0u8; 1];
        // The socket is non-blocking (tokio's): no data yet is WouldBlock;
        // end-of-stream or a reset means the client is gone.
        match socket.peek(&mut byte) {
            Ok(n) => n == 0,
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
            ),
        }
    }
}

/// The claim token a request carries, if any.
pub fn claim_token(req: &HttpRequest) -> Option<ClaimToken> {
    req.headers()
        .get(CLAIM_HEADER)
        .map(|v| ClaimToken::from_header(v.to_str().unwrap_or_default()))
}

fn actor(access: &Access) -> Actor {
    Actor {
        name: access.actor(),
        project: access.project().map(str::to_owned),
    }
}

/// `POST /runners/claim`: the oldest `queued` deployment the runner may
/// take, waiting up to `wait` seconds for one.
#[utoipa::path(post, operation_id = "claimDeployment", path = "/runners/claim", tag = "deployments",
    request_body(content = ClaimRequestBody, content_type = "application/json"),
    responses(
        (status = 200, description = "A deployment, now `in_progress` under this runner's claim, with the claim and the deployment's variables", body = ClaimAnswer),
        (status = 204, description = "None came within `wait` seconds: ask again"),
        ClaimProblems,
    ),
    security((), ("api_key" = []), ("bearer" = []), ("basic" = [])))]
#[tracing::instrument(skip_all)]
pub async fn claim(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let access = state.auth.authenticate(&state.db, &req).await?;
    require_json(&req)?;
    let body = read_body(&req, payload, MAX_BODY_BYTES).await?;
    let mut request = ClaimRequest::parse_json(&body)?;
    // A project key claims for its own project only: naming another is a
    // 403, naming none means its own.
    if let Some(own) = access.project() {
        for asked in request.team_project_keys.iter().flatten() {
            access.check(asked)?;
        }
        request.team_project_keys = Some(vec![own.to_owned()]);
    }
    // A runner that gave up waiting (stopped, timed out) must not be
    // handed a deployment it will never run.
    let socket = req.conn_data::<ClientSocket>().copied();
    let still_waiting = move || socket.is_none_or(|s| !s.closed());
    let claimed = state
        .deployments
        .claim(request, actor(&access), still_waiting)
        .await?;
    crate::metrics::runner_claim(claimed.is_some(), started.elapsed().as_secs_f64());
    let Some(claimed) = claimed else {
        return Ok(HttpResponse::NoContent().finish());
    };
    let answer = ClaimAnswer::new(&claimed, &state.public_url);
    tracing::info!(
        deployment = %answer.deployment.id,
        team_project = %answer.deployment.team_project,
        environment = %answer.deployment.environment,
        "deployment claimed by a runner"
    );
    Ok(HttpResponse::Ok().json(answer))
}

/// `POST /deployments/{id}/heartbeat`: renews the claim (for a command
/// that prints nothing for a while).
#[utoipa::path(post, operation_id = "heartbeatDeployment", path = "/deployments/{id}/heartbeat", tag = "deployments",
    params(
        DeploymentPath,
        ("Greenlight-Claim" = String, Header, description = "The claim token `POST /runners/claim` answered"),
    ),
    responses(
        (status = 200, description = "Renewed: the claim's new expiry", body = HeartbeatAnswer),
        HeartbeatProblems,
    ),
    security((), ("api_key" = []), ("bearer" = []), ("basic" = [])))]
#[tracing::instrument(skip_all)]
pub async fn heartbeat(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let access = state.auth.authenticate(&state.db, &req).await?;
    let Some(token) = claim_token(&req) else {
        return Err(ApiError::Validation(vec![FieldError::new(
            "Greenlight-Claim",
            "is required: the claim token POST /runners/claim answered",
        )]));
    };
    let id = super::deployments::deployment_id(path)?;
    let expires_at = state
        .deployments
        .heartbeat(id, token, actor(&access))
        .await?;
    Ok(HttpResponse::Ok().json(HeartbeatAnswer::new(expires_at)))
}
