//! `POST /integrations/slack`: Approve and Reject clicks from a release's
//! Slack message, and the reject modal's submission. The signature is
//! checked over the raw body before anything is parsed. The clicking user
//! counts only if their Slack email (`users.info`) is one of the release's
//! approvers; the decision is recorded by the same lifecycle step as an
//! email link's. Slack wants its answer within 3 seconds: one call to
//! Slack to know who clicked, the decision, at most one more call (the
//! modal, or a private answer); the message's update is a job.

use actix_web::{web, HttpRequest, HttpResponse};

use super::problem::{ApiError, Problem};
use super::{read_body, AppState};
use crate::db::{self, models::Approval};
use crate::domain::{Decision, ReleaseKey};
use crate::integrations::slack::{
    modal_error, parse_interaction, reject_modal, Interaction, InteractionError, ReleaseRef, Slack,
    SlackError,
};
use crate::releases::lifecycle::{self, DecisionOutcome, ReleaseView, Via};

/// Slack's interaction payloads carry the message they came from: tens of
/// KiB at most.
const MAX_BODY_BYTES: usize = 256 * 1024;

/// The answer to a reject modal that keeps it open with an error under
/// the comment: Slack's `response_action: errors`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(super) struct SlackModalErrors {
    /// Always `errors`.
    response_action: String,
    /// The input's `block_id` and what to show under it.
    errors: std::collections::HashMap<String, String>,
}

#[utoipa::path(post, operation_id = "slackInteraction", path = "/integrations/slack", tag = "integrations",
    description = "Slack's interactivity requests (Approve and Reject on a release's message, the reject modal's submission), signed with GREENLIGHT_SLACK_SIGNING_SECRET (see docs/slack.md)",
    params(
        ("X-Slack-Signature" = String, Header, description = "`v0=` hex HMAC-SHA256 of `v0:<timestamp>:<body>`"),
        ("X-Slack-Request-Timestamp" = String, Header, description = "Unix seconds; more than 5 minutes from now is refused"),
    ),
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "`payload=<interaction JSON>`, as Slack sends it"),
    responses(
        (status = 200, description = "Acknowledged (empty body): a decision recorded, the reject modal opened, or the user told privately why not; for a modal, a JSON body keeps it open with the reason", body = SlackModalErrors),
        (status = 400, description = "No payload, a payload that is not JSON, or an interaction Greenlight did not send", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "The signature does not match, or its timestamp is more than 5 minutes from now", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Slack is not configured (`not-configured`), or no such release", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The button or modal names a release key that is not valid", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Slack did not say who the user is (users.info failed)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable; retry", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn interaction(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let slack = state.slack.clone().ok_or(ApiError::NotConfigured(
        "Slack is not configured: set GREENLIGHT_SLACK_BOT_TOKEN and GREENLIGHT_SLACK_SIGNING_SECRET",
    ))?;
    let body = read_body(&req, payload, MAX_BODY_BYTES).await?;
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    slack
        .verify(
            header("x-slack-request-timestamp"),
            header("x-slack-signature"),
            &body,
            chrono::Utc::now().timestamp(),
        )
        .map_err(|e| ApiError::BadSignature(e.message()))?;
    let interaction = parse_interaction(&body).map_err(|e| match e {
        InteractionError::NoPayload | InteractionError::Malformed(_) => {
            ApiError::MalformedBody(e.to_string())
        }
        InteractionError::Unsupported(why) => ApiError::BadRequest(why),
    })?;
    match interaction {
        Interaction::Clicked {
            user_id,
            decision,
            release,
            trigger_id,
            channel_id,
        } => {
            let found = approver(&state, &slack, &release, &user_id).await?;
            let tell = |text: String| {
                let (slack, user_id, channel_id) =
                    (slack.clone(), user_id.clone(), channel_id.clone());
                async move { tell_privately(&slack, channel_id.as_deref(), &user_id, &text).await }
            };
            let (view, approval) = match found {
                Found::Approver(view, approval) => (*view, approval),
                Found::Stranger(why) => {
                    tell(why).await;
                    return Ok(HttpResponse::Ok().finish());
                }
            };
            if let Some(closed) = closed(&approval, &view) {
                tell(closed).await;
                return Ok(HttpResponse::Ok().finish());
            }
            match decision {
                Decision::Approved => {
                    let said = decide(&state, approval, Decision::Approved, None).await?;
                    if let Some(said) = said {
                        tell(said).await;
                    }
                }
                Decision::Rejected => {
                    let modal =
                        reject_modal(&release, &view.release.release_name, channel_id.as_deref());
                    if let Err(e) = slack.open_modal(&trigger_id, &modal).await {
                        tracing::warn!(error = %e, "could not open the reject modal");
                        tell(format!(
                            "Greenlight could not open the reject form ({e}); try again."
                        ))
                        .await;
                    }
                }
            }
            Ok(HttpResponse::Ok().finish())
        }
        Interaction::RejectSubmitted {
            user_id,
            release,
            comment,
            ..
        } => {
            let (view, approval) = match approver(&state, &slack, &release, &user_id).await? {
                Found::Approver(view, approval) => (*view, approval),
                Found::Stranger(why) => return Ok(HttpResponse::Ok().json(modal_error(&why))),
            };
            if let Some(closed) = closed(&approval, &view) {
                return Ok(HttpResponse::Ok().json(modal_error(&closed)));
            }
            let comment = match super::approval::parse_comment(comment) {
                Ok(comment) => comment,
                Err(e) => {
                    let why = match &e {
                        ApiError::Validation(errors) => errors
                            .first()
                            .map(|f| format!("The comment {}.", f.message))
                            .unwrap_or_else(|| e.to_string()),
                        _ => e.to_string(),
                    };
                    return Ok(HttpResponse::Ok().json(modal_error(&why)));
                }
            };
            match decide(&state, approval, Decision::Rejected, comment.as_deref()).await? {
                None => Ok(HttpResponse::Ok().finish()),
                Some(said) => Ok(HttpResponse::Ok().json(modal_error(&said))),
            }
        }
    }
}

/// Who clicked, as far as this release is concerned.
enum Found {
    Approver(Box<ReleaseView>, Approval),
    /// Not one of its approvers: what to tell them.
    Stranger(String),
}

/// The release a button names, and the approval of the Slack user who
/// clicked it (their Slack email, compared case-insensitively).
async fn approver(
    state: &AppState,
    slack: &Slack,
    release: &ReleaseRef,
    user_id: &str,
) -> Result<Found, ApiError> {
    let key = ReleaseKey::parse(
        &release.team_project,
        Some(&release.environment),
        &release.release_id,
    )
    .map_err(ApiError::Validation)?;
    let asked = key.clone();
    let view = state
        .db
        .read(move |c| Ok(lifecycle::find(c, &asked, db::now())?))
        .await?
        .ok_or_else(|| ApiError::ReleaseNotFound {
            team_project: key.team_project().to_owned(),
            environment: key.environment().to_owned(),
            release_id: key.release_id().to_owned(),
        })?;
    let email = slack
        .user_email(user_id)
        .await
        .map_err(|e: SlackError| ApiError::BadGateway(e.to_string()))?;
    let approval = email.as_deref().and_then(|email| {
        let email = email.trim().to_lowercase();
        view.approvals
            .iter()
            .find(|a| a.email_key == email)
            .cloned()
    });
    Ok(match approval {
        Some(approval) => Found::Approver(Box::new(view), approval),
        None => Found::Stranger(format!(
            "You are not an approver of release {} ({}) of {}, {}: nothing was recorded.",
            view.release.release_name,
            view.release.release_id,
            view.release.team_project,
            view.release.environment
        )),
    })
}

/// Why this approver can decide no more, if they cannot.
fn closed(approval: &Approval, view: &ReleaseView) -> Option<String> {
    if let Some(previous) = approval.decision {
        return Some(format!(
            "You already {} this release; a decision cannot be changed. It is {}.",
            previous.as_str(),
            view.release.status()
        ));
    }
    let status = view.release.status();
    status
        .is_decided()
        .then(|| format!("This release is already {status}; your decision was not recorded."))
}

/// Records the decision as the email link does, with `via` Slack; what to
/// tell the user if it was not recorded (decided meanwhile).
async fn decide(
    state: &AppState,
    approval: Approval,
    decision: Decision,
    comment: Option<&str>,
) -> Result<Option<String>, ApiError> {
    let comment = comment.map(str::to_owned);
    let mine = approval.clone();
    let (outcome, view) = state
        .db
        .write(move |conn| {
            Ok(lifecycle::record_decision(
                conn,
                &mine,
                decision,
                comment.as_deref(),
                Via::Slack,
                db::now(),
            )?)
        })
        .await?;
    Ok(match outcome {
        DecisionOutcome::Recorded => {
            tracing::info!(
                approval = approval.id,
                release = approval.release_pk,
                decision = decision.as_str(),
                "decision recorded from Slack"
            );
            // The message's update (and any pipeline's notice) is queued.
            state.wake.notify_one();
            None
        }
        DecisionOutcome::AlreadyDecided(previous) => Some(format!(
            "You already {} this release; a decision cannot be changed.",
            previous.as_str()
        )),
        DecisionOutcome::ReleaseClosed => Some(format!(
            "This release is already {}; your decision was not recorded.",
            view.release.status()
        )),
    })
}

/// A message only the user sees. Best effort: the click is answered
/// whether or not Slack takes it.
async fn tell_privately(slack: &Slack, channel: Option<&str>, user: &str, text: &str) {
    let Some(channel) = channel else {
        tracing::warn!("a Slack interaction named no channel to answer in");
        return;
    };
    if let Err(e) = slack.tell_privately(channel, user, text).await {
        tracing::warn!(error = %e, "could not answer the Slack user privately");
    }
}
