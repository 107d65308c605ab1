//! `/approval`: what an approver's link does.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};

use super::problem::{ApiError, Problem};
#[allow(unused_imports)] // named in the OpenAPI attributes
use super::schemas::{DecisionName, DecisionRequest};
use super::views::{self, harden, PageForm};
use super::{read_body, wants_html, AppState};
use crate::db::models::{Approval, Release};
use crate::db::{self, releases};
use crate::domain::policy::ApprovalMode;
use crate::domain::{Decision, ReleaseKey};
use crate::releases::document::StatusDocument;
use crate::releases::lifecycle::{self, DecisionOutcome, ReleaseView};
use crate::token::TokenError;

const MAX_BODY_BYTES: usize = 16 * 1024;
const MAX_COMMENT_CHARS: usize = 2000;

#[derive(Debug, Deserialize)]
struct LinkQuery {
    token: Option<String>,
    decision: Option<String>,
}

#[derive(Debug, Deserialize)]
struct DecisionBody {
    token: Option<String>,
    decision: Option<String>,
    comment: Option<String>,
}

/// An approval link's answer for scripts (`Accept: application/json`): the
/// approver's side, then the release's status document.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct ApprovalAnswer {
    /// Whether this request recorded a decision.
    recorded: bool,
    message: String,
    approver: String,
    /// Null while this approver has not decided.
    approver_decision: Option<Decision>,
    #[serde(flatten)]
    #[schema(inline)]
    release: StatusDocument,
}

/// What a handler decided to show.
struct Outcome {
    status: StatusCode,
    recorded: bool,
    message: String,
    approval: Approval,
    view: ReleaseView,
    form: PageForm,
    token: String,
}

/// Mail gateways probe links with HEAD: check the token, record nothing.
#[utoipa::path(head, operation_id = "checkApprovalLink", path = "/approval", tag = "approvers",
    description = "Link checkers and mail scanners: records nothing, ever",
    params(("token" = String, Query)),
    responses(
        (status = 200, description = "The token is valid"),
        (status = 400, description = "The query string is not valid"),
        (status = 403, description = "The token is not valid"),
        (status = 404, description = "The approval request no longer exists"),
        (status = 410, description = "The link has expired"),
        (status = 422, description = "No token"),
        (status = 429, description = "Too many requests from this client"),
        (status = 503, description = "The database is unavailable"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn head(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let checked = async {
        limit(&state, &req)?;
        let query = link_query(&req)?;
        authenticate(&state, &required(query.token, "token")?).await
    }
    .await;
    let mut response = match checked {
        Ok(_) => HttpResponse::Ok(),
        Err(e) => {
            let mut response = HttpResponse::build(e.status_code());
            if let Some(secs) = e.retry_after() {
                response.insert_header((header::RETRY_AFTER, secs));
            }
            response
        }
    };
    let mut response = response.finish();
    harden(&mut response);
    response
}

/// One click approves (or, in confirm mode, shows the buttons);
/// `decision=reject` shows the reject form. The form records nothing.
#[utoipa::path(get, operation_id = "openApprovalLink", path = "/approval", tag = "approvers",
    params(
        ("token" = String, Query, description = "The approval link's token"),
        ("decision" = Option<DecisionName>, Query, description = "`reject` shows the reject page (records nothing)"),
    ),
    responses(
        (status = 200, description = "One-click mode: the approval recorded; confirm mode or `decision=reject`: the decision page. HTML for browsers, JSON for `Accept: application/json`",
            content((ApprovalAnswer = "application/json"), (String = "text/html"))),
        (status = 400, description = "A decision other than approve or reject", content((Problem = "application/problem+json"), (String = "text/html"))),
        (status = 403, description = "The token is not valid (forged, altered, signed by another key)", content((Problem = "application/problem+json"), (String = "text/html"))),
        (status = 404, description = "The approval request no longer exists", content((Problem = "application/problem+json"), (String = "text/html"))),
        (status = 409, description = "The release is decided already, or this approver decided", content((Problem = "application/problem+json"), (String = "text/html"))),
        (status = 422, description = "No token (or, posting, no decision)", content((Problem = "application/problem+json"), (String = "text/html"))),
        (status = 410, description = "The link has expired", content((Problem = "application/problem+json"), (String = "text/html"))),
        (status = 429, description = "Too many requests from this client", content((Problem = "application/problem+json"), (String = "text/html"))),
        (status = 503, description = "The database is unavailable; retry", content((Problem = "application/problem+json"), (String = "text/html"))),
    ))]
#[tracing::instrument(skip_all)]
pub async fn get(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let outcome = async {
        limit(&state, &req)?;
        let query = link_query(&req)?;
        let token = required(query.token, "token")?;
        let reject = match query.decision.as_deref() {
            Some("reject") => true,
            None | Some("approve") => false,
            Some(other) => {
                return Err(ApiError::BadRequest(format!(
                    "decision must be approve or reject, got {other:?}"
                )))
            }
        };
        if reject {
            show(&state, token, PageForm::Reject).await
        } else if confirm_first(&state, &token).await? {
            show(&state, token, PageForm::Confirm).await
        } else {
            decide(&state, token, Decision::Approved, None).await
        }
    }
    .await;
    respond(&req, outcome)
}

/// A decision from the pages' buttons (a form) or from a script (JSON).
#[utoipa::path(post, operation_id = "postDecision", path = "/approval", tag = "approvers",
    request_body(content(
        (DecisionRequest = "application/x-www-form-urlencoded"),
        (DecisionRequest = "application/json"),
    )),
    responses(
        (status = 200, description = "The decision recorded (HTML for browsers, JSON otherwise)",
            content((ApprovalAnswer = "application/json"), (String = "text/html"))),
        (status = 400, description = "Not a decision (a body that does not parse, a decision other than approve or reject, a comment over 2000 characters)", content((Problem = "application/problem+json"), (String = "text/html"))),
        (status = 403, description = "The token is not valid, or another site's form posted", content((Problem = "application/problem+json"), (String = "text/html"))),
        (status = 404, description = "The approval request no longer exists", content((Problem = "application/problem+json"), (String = "text/html"))),
        (status = 409, description = "The release is decided already, or this approver decided", content((Problem = "application/problem+json"), (String = "text/html"))),
        (status = 422, description = "No token (or, posting, no decision)", content((Problem = "application/problem+json"), (String = "text/html"))),
        (status = 410, description = "The link has expired", content((Problem = "application/problem+json"), (String = "text/html"))),
        (status = 413, description = "Body over 16 KiB", content((Problem = "application/problem+json"), (String = "text/html"))),
        (status = 429, description = "Too many requests from this client", content((Problem = "application/problem+json"), (String = "text/html"))),
        (status = 503, description = "The database is unavailable; retry", content((Problem = "application/problem+json"), (String = "text/html"))),
    ))]
#[tracing::instrument(skip_all)]
pub async fn post(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let outcome = async {
        limit(&state, &req)?;
        let body = read_body(&req, payload, MAX_BODY_BYTES).await?;
        let parsed: DecisionBody = if super::is_json(&req) {
            serde_json::from_slice(&body)
                .map_err(|e| ApiError::MalformedBody(format!("the body is not a decision: {e}")))?
        } else {
            serde_urlencoded::from_bytes(&body)
                .map_err(|e| ApiError::MalformedBody(format!("the form is not a decision: {e}")))?
        };
        let token = required(parsed.token, "token")?;
        let decision: Decision = required(parsed.decision, "decision")?
            .parse()
            .map_err(|_| field_error("decision", "must be approve or reject"))?;
        let comment = parse_comment(parsed.comment)?;
        decide(&state, token, decision, comment).await
    }
    .await;
    respond(&req, outcome)
}

/// The per-client limit on `/approval` (tokens cannot be guessed, but a
/// client hammering the route is answered 429 before any work).
fn limit(state: &AppState, req: &HttpRequest) -> Result<(), ApiError> {
    match &state.approval_limit {
        Some(limiter) => limiter
            .check(req)
            .map_err(|wait| ApiError::TooManyRequests(super::limits::retry_after_secs(wait))),
        None => Ok(()),
    }
}

fn link_query(req: &HttpRequest) -> Result<LinkQuery, ApiError> {
    super::parse_query(req)
}

fn field_error(field: &'static str, message: &str) -> ApiError {
    ApiError::Validation(vec![crate::domain::FieldError {
        field,
        message: message.to_owned(),
    }])
}

fn required(value: Option<String>, field: &'static str) -> Result<String, ApiError> {
    value
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| field_error(field, "is required"))
}

pub(super) fn parse_comment(raw: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(comment) = raw.map(|c| c.trim().to_owned()).filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    if comment.chars().count() > MAX_COMMENT_CHARS {
        return Err(field_error("comment", "must be at most 2000 characters"));
    }
    if comment
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(field_error(
            "comment",
            "must not contain control characters",
        ));
    }
    Ok(Some(comment))
}

/// Verifies the token and finds the approval request it names: the
/// signature and expiry first, then that the stored request belongs to
/// the approver and the release the token names.
async fn authenticate(state: &AppState, token: &str) -> Result<(Approval, Release), ApiError> {
    let claims = state.tokens.verify(token).map_err(|e| match e {
        TokenError::Expired => ApiError::TokenExpired,
        TokenError::Invalid => ApiError::InvalidToken,
    })?;
    let jti = claims.jti.clone();
    let found = state
        .db
        .read(move |conn| {
            let Some(approval) = releases::approval_by_token_id(conn, &jti)? else {
                return Ok(None);
            };
            let release = releases::by_pk(conn, approval.release_pk)?;
            Ok(Some((approval, release)))
        })
        .await?;
    let (approval, release) = found.ok_or(ApiError::UnknownApproval)?;
    let bound = approval.email_key == claims.sub.to_lowercase()
        && release.team_project == claims.tp
        && release.release_id == claims.rid;
    if !bound {
        return Err(ApiError::InvalidToken);
    }
    Ok((approval, release))
}

/// Whether this release's policy (`approval_mode`) wants the approver to
/// press a button rather than approve by opening the link.
async fn confirm_first(state: &AppState, token: &str) -> Result<bool, ApiError> {
    let (_, release) = authenticate(state, token).await?;
    let key = ReleaseKey::parse(
        &release.team_project,
        Some(&release.environment),
        &release.release_id,
    )
    .map_err(|_| ApiError::Internal(anyhow::anyhow!("a stored release key is not valid")))?;
    Ok(state.policies.approval_mode(&key) == ApprovalMode::Confirm)
}

async fn show(state: &AppState, token: String, form: PageForm) -> Result<Outcome, ApiError> {
    let (approval, _) = authenticate(state, &token).await?;
    let pk = approval.release_pk;
    let view = state
        .db
        .read(move |conn| {
            let release = releases::by_pk(conn, pk)?;
            Ok(lifecycle::view(conn, release, db::now())?)
        })
        .await?;
    let open = !view.release.status().is_decided() && approval.decision.is_none();
    let message = if open {
        match form {
            PageForm::Reject => "Reject this release? Add a comment if you like.",
            _ => "Approve or reject this release.",
        }
        .to_owned()
    } else {
        closed_message(&approval, &view)
    };
    Ok(Outcome {
        status: StatusCode::OK,
        recorded: false,
        message,
        approval,
        view,
        form: if open { form } else { PageForm::None },
        token,
    })
}

fn closed_message(approval: &Approval, view: &ReleaseView) -> String {
    match &approval.decision {
        Some(d) => format!(
            "You already {} this release. It is {}.",
            d.as_str(),
            view.release.status()
        ),
        None => format!("This release is already {}.", view.release.status()),
    }
}

async fn decide(
    state: &AppState,
    token: String,
    decision: Decision,
    comment: Option<String>,
) -> Result<Outcome, ApiError> {
    let (approval, _) = authenticate(state, &token).await?;
    let mine = approval.clone();
    let (outcome, view) = state
        .db
        .write(move |conn| {
            Ok(lifecycle::record_decision(
                conn,
                &mine,
                decision,
                comment.as_deref(),
                lifecycle::Via::Email,
                db::now(),
            )?)
        })
        .await?;
    let (status, recorded, message) = match outcome {
        DecisionOutcome::Recorded => {
            tracing::info!(
                approval = approval.id,
                release = approval.release_pk,
                decision = decision.as_str(),
                "decision recorded"
            );
            // Its pipelines (and its Slack message) are waiting: tell them
            // now, not at the next poll.
            state.wake.notify_one();
            let message = match decision {
                Decision::Approved => "Thank you: your approval was recorded.",
                Decision::Rejected => "Your rejection was recorded.",
            };
            (
                StatusCode::OK,
                true,
                format!("{message} The release is {}.", view.release.status()),
            )
        }
        // Opening the link again changes nothing and is not an error.
        DecisionOutcome::AlreadyDecided(previous) if previous == decision => (
            StatusCode::OK,
            false,
            closed_message(&view_approval(&view, &approval), &view),
        ),
        DecisionOutcome::AlreadyDecided(previous) => {
            return Err(ApiError::AlreadyDecided(previous.as_str()))
        }
        DecisionOutcome::ReleaseClosed => {
            return Err(ApiError::ReleaseDecided(view.release.status()))
        }
    };
    let approval = view_approval(&view, &approval);
    Ok(Outcome {
        status,
        recorded,
        message,
        approval,
        view,
        form: PageForm::None,
        token,
    })
}

/// The approval as stored after the decision.
fn view_approval(view: &ReleaseView, approval: &Approval) -> Approval {
    view.approvals
        .iter()
        .find(|a| a.id == approval.id)
        .cloned()
        .unwrap_or_else(|| approval.clone())
}

/// A page for browsers, JSON for everyone else; errors likewise.
fn respond(req: &HttpRequest, outcome: Result<Outcome, ApiError>) -> HttpResponse {
    let html = wants_html(req);
    let mut response = match (outcome, html) {
        (Ok(o), true) => views::release_page(
            o.status,
            &o.message,
            &o.view,
            o.form,
            &o.token,
            &o.approval.email,
        ),
        (Ok(o), false) => HttpResponse::build(o.status).json(ApprovalAnswer {
            release: StatusDocument::from(&o.view),
            recorded: o.recorded,
            message: o.message,
            approver: o.approval.email,
            approver_decision: o.approval.decision,
        }),
        (Err(e), true) => views::error_page(&e, None),
        (Err(e), false) => e.error_response(),
    };
    harden(&mut response);
    response
}
