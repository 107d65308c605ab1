//! `POST /integrations/github`: a GitHub App's webhooks. The signature is
//! checked over the raw body before anything is parsed; a
//! `deployment_protection_rule` request creates (or finds) the release and
//! subscribes the deployment to its decision; a `deployment` event is
//! GitHub as a deployment provider (`github_deployments.rs`). Every other
//! event and action is acknowledged and ignored, as GitHub expects.

use super::problem::{ApiError, Problem};
use super::{read_body, require_json, AppState};
#[allow(unused_imports)] // named in the OpenAPI attributes
use crate::deployments::github::GithubDeploymentDocument;
use crate::domain::{FieldError, NewRelease, ReleaseKey};
use crate::integrations::github_rule::ProtectionRule;
use crate::releases::subscriber::Subscriber;
use crate::releases::{StatusDocument, Subscription, Waiter};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

/// GitHub's deliveries are at most 25 MB; a protection rule's is a few KiB.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// `POST /integrations/github`'s 202: the release a review was requested
/// for, or why the delivery was ignored.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(clippy::large_enum_variant)] // one answer, serialized at once
#[serde(untagged)]
pub(super) enum GithubAccepted {
    Release(StatusDocument),
    Ignored(Ignored),
}

/// A GitHub delivery Greenlight does not act on.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(super) struct Ignored {
    ignored: &'static str,
}

pub(super) fn ignored(why: &'static str) -> HttpResponse {
    HttpResponse::Accepted().json(GithubAccepted::Ignored(Ignored { ignored: why }))
}

#[utoipa::path(post, operation_id = "githubWebhook", path = "/integrations/github", tag = "integrations",
    description = "A GitHub App's webhook deliveries; acts on `deployment_protection_rule` with action `requested` (see docs/github.md) and on `deployment` with action `created` (GitHub as a deployment provider, see docs/deployments.md)",
    params(
        ("X-Hub-Signature-256" = String, Header, description = "`sha256=` HMAC of the body with GREENLIGHT_GITHUB_WEBHOOK_SECRET"),
        ("X-GitHub-Event" = Option<String>, Header),
    ),
    request_body(content = Object, content_type = "application/json"),
    responses(
        (status = 202, description = "A review requested (release created), or a delivery ignored",
            body = GithubAccepted),
        (status = 201, description = "A `deployment` event: the deployment recorded, with the request it was mapped to", body = GithubDeploymentDocument),
        (status = 200, description = "A redelivery: the release exists (a protection rule); or the deployment recorded for that GitHub deployment (a `deployment` event, answered as the 201 was)", body = StatusDocument),
        (status = 400, description = "Not a deployment protection rule, or not a deployment event", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "The signature does not match", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No GitHub App is configured", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The release exists with another name (a re-run that changed the deployment)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a JSON delivery (the App's webhook must send application/json)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A callback URL off the GitHub API host, or no workflow run in it; a deployment whose values no deployment may have (the event's field named)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable; retry", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn webhook(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let github = state.github.clone().ok_or(ApiError::NotFound)?;
    require_json(&req)?;
    let body = read_body(&req, payload, MAX_BODY_BYTES).await?;
    let signature = req
        .headers()
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    if !github.signature_valid(&body, signature) {
        return Err(ApiError::BadSignature(
            "the X-Hub-Signature-256 of this delivery does not match GREENLIGHT_GITHUB_WEBHOOK_SECRET",
        ));
    }
    let event = req
        .headers()
        .get("x-github-event")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if event == "deployment" {
        return super::github_deployments::deployment_event(&state, body).await;
    }
    if event != "deployment_protection_rule" {
        return Ok(ignored("not a deployment_protection_rule event"));
    }
    let rule: ProtectionRule = serde_json::from_slice(&body)
        .map_err(|e| ApiError::MalformedBody(format!("not a deployment_protection_rule: {e}")))?;
    if rule.action.as_deref() != Some("requested") {
        return Ok(ignored("not a requested deployment review"));
    }
    if !github.callback_allowed(&rule.deployment_callback_url) {
        return Err(invalid(
            "deployment_callback_url",
            "must be on the configured GitHub API host (GREENLIGHT_GITHUB_API_URL)",
        ));
    }
    let run_id = rule.run_id().ok_or_else(|| {
        invalid(
            "deployment_callback_url",
            "names no workflow run (.../actions/runs/<id>/...)",
        )
    })?;
    let key = ReleaseKey::parse(&rule.repository.full_name, Some(&rule.environment), &run_id)
        .map_err(ApiError::Validation)?;
    let new = NewRelease {
        key: key.clone(),
        name: rule.release_name(),
        requested_for: None,
    };
    let waiter = Waiter {
        subscription: Subscription {
            subscriber: Subscriber::Github {
                callback_url: rule.deployment_callback_url.clone(),
                installation_id: rule.installation.id,
                environment: rule.environment.clone(),
                deployment_id: rule.deployment_id(),
            },
            credential: None,
        },
        ttl_cap: None,
    };
    let (created, view) = state.releases.create_or_join(new, Some(waiter)).await?;
    if created {
        tracing::info!(repository = %rule.repository.full_name, run = %run_id, "deployment review requested");
    }
    Ok(HttpResponse::build(if created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    })
    .json(GithubAccepted::Release(StatusDocument::from(&view))))
}

fn invalid(field: &'static str, message: &str) -> ApiError {
    ApiError::Validation(vec![FieldError::new(field, message)])
}
