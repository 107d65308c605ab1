//! The OpenAPI 3.1 document (`GET /openapi.json`), generated from the
//! handlers' `#[utoipa::path]` attributes and the answer types, and `/docs`,
//! Swagger UI with its assets built into the binary.
//!
//! Request bodies are parsed by hand at the edge (one parse, domain types
//! out), so their shapes are described here by types of their own.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ObjectBuilder, OpenApi as Document, RefOr, Schema, Type};
use utoipa::{IntoParams, IntoResponses, Modify, OpenApi, ToSchema};

use super::problem::{Problem, PROBLEM_SLUGS};
use crate::domain::{FieldError, ReleaseStatus};
use crate::releases::document::{ApproverEntry, StatusDocument};

/// `POST /release`: the pipeline's request. Azure DevOps sends the
/// PascalCase names; the snake_case ones are accepted too. Text fields
/// take something besides spaces and no control characters; lengths are
/// counted in characters, after trimming.
#[derive(ToSchema)]
#[allow(dead_code, non_snake_case)]
pub struct ReleaseRequest {
    /// Up to 256 characters, not blank, no control characters
    /// (`release_name`).
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    ReleaseName: String,
    /// Up to 128 characters (`release_id`); a number is taken as its digits.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    ReleaseId: String,
    /// Up to 128 characters (`team_project`); matched case-insensitively.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    TeamProject: String,
    /// Default `production` (`environment`); matched case-insensitively.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    Environment: Option<String>,
    /// Who asked for the release (`requested_for_email`); removed from the
    /// approvers unless the policy lets requesters approve.
    RequestedForEmail: Option<String>,
}

/// `POST /approval`, as a form (the pages' buttons) or JSON.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DecisionRequest {
    /// The token of the approval link.
    token: String,
    decision: DecisionName,
    /// Up to 2000 characters.
    comment: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "lowercase")]
pub enum DecisionName {
    Approve,
    Reject,
}

/// An approval link's answer for scripts (`Accept: application/json`): the
/// approver's side, then the release's status document.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ApprovalAnswer {
    /// Whether this request recorded a decision.
    recorded: bool,
    message: String,
    approver: String,
    approver_decision: Option<String>,
    #[schema(inline)]
    #[serde(flatten)]
    release: StatusDocument,
}

/// `GET /releases`: a page of status documents, newest first.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ReleaseList {
    releases: Vec<StatusDocument>,
    /// Pass as `cursor` for the next page; null on the last one.
    next_cursor: Option<String>,
}

/// `GET /releases/{team_project}/{release_id}/events`: oldest first.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct EventList {
    events: Vec<EventEntry>,
}

/// One change to a release; events are never changed or deleted.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct EventEntry {
    id: i64,
    #[schema(format = DateTime)]
    at: String,
    /// `release.created`, `approval.approved`, `webhook.sent`...
    #[schema(rename = "type")]
    kind: String,
    /// Who acted, when a person did.
    actor: Option<String>,
    /// What happened, by type (a comment, a reason...).
    detail: serde_json::Value,
}

/// The release a `GET /releases/{team_project}/{release_id}...` route
/// names (read as a tuple by the handlers).
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct ReleasePath {
    /// As given at creation (matched case-insensitively)
    #[param(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    team_project: String,
    #[param(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    release_id: String,
}

/// The problems a key-protected read of one release may answer.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum ReleaseReadProblems {
    #[response(
        status = 400,
        description = "The query string is not valid",
        content_type = "application/problem+json"
    )]
    BadQuery(Problem),
    #[response(
        status = 401,
        description = "An API key is required, or this one is not valid",
        content_type = "application/problem+json"
    )]
    Unauthorized(Problem),
    #[response(
        status = 403,
        description = "The key is for another project",
        content_type = "application/problem+json"
    )]
    Forbidden(Problem),
    #[response(
        status = 404,
        description = "No such release",
        content_type = "application/problem+json"
    )]
    NotFound(Problem),
    #[response(
        status = 422,
        description = "Invalid project, environment or release id",
        content_type = "application/problem+json"
    )]
    Invalid(Problem),
    #[response(
        status = 429,
        description = "Too many wrong keys from this client",
        content_type = "application/problem+json"
    )]
    TooMany(Problem),
    #[response(
        status = 503,
        description = "The database is unavailable; retry",
        content_type = "application/problem+json"
    )]
    Unavailable(Problem),
}

/// The error pages the dashboard may answer (HTML, like its other pages).
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum DashboardProblems {
    #[response(
        status = 400,
        description = "A filter, cursor or path that is not valid: a page saying which",
        content_type = "text/html"
    )]
    BadRequest(String),
    #[response(
        status = 401,
        description = "An admin key is required (HTTP Basic: the key as the password)",
        content_type = "text/html"
    )]
    Unauthorized(String),
    #[response(
        status = 403,
        description = "Not an admin key",
        content_type = "text/html"
    )]
    Forbidden(String),
    #[response(
        status = 429,
        description = "Too many wrong keys from this client",
        content_type = "text/html"
    )]
    TooMany(String),
    #[response(
        status = 503,
        description = "The database is unavailable; retry",
        content_type = "text/html"
    )]
    Unavailable(String),
}

/// `/healthz` and `/readyz` when all is well.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Health {
    /// `ok` (live) or `ready`.
    status: String,
}

/// `POST /integrations/github`'s 202: the release a review was requested
/// for, or why the delivery was ignored.
#[derive(ToSchema)]
#[allow(dead_code, clippy::large_enum_variant)] // a schema, never built
#[serde(untagged)]
pub enum GithubAccepted {
    Release(StatusDocument),
    Ignored(Ignored),
}

/// A GitHub delivery Greenlight does not act on.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Ignored {
    ignored: String,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Greenlight",
        description = "A release approval gate for CI/CD pipelines: a pipeline asks (`POST /release`), approvers decide from an emailed link, the pipeline polls or is called back.",
    ),
    paths(
        super::release::create_or_poll,
        super::release::list,
        super::release::show,
        super::release::events,
        super::approval::get,
        super::approval::head,
        super::approval::post,
        super::github::webhook,
        super::health::healthz,
        super::health::readyz,
        super::metrics::metrics,
        super::ui::list,
        super::ui::release,
        openapi_json,
        docs,
    ),
    components(schemas(
        StatusDocument, ApproverEntry, ReleaseStatus, Problem, FieldError, ReleaseRequest,
        DecisionRequest, DecisionName, ApprovalAnswer, ReleaseList, EventList, EventEntry,
        Health, Ignored, GithubAccepted
    )),
    modifiers(&Security, &ProblemTypes, &HeadOperations),
    tags(
        (name = "pipelines", description = "Asking for and reading approvals (API key when keys are required)"),
        (name = "approvers", description = "The emailed links and the decision pages (the token is the credential)"),
        (name = "integrations", description = "Other systems calling in"),
        (name = "operations", description = "Health, readiness, metrics and this document"),
    ),
)]
pub struct ApiDoc;

/// How a pipeline or operator presents an API key: any one of these.
struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        // The key as the password, any user name (Azure DevOps' Generic
        // service connections, browsers).
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
    }
}

/// A problem's `type` is one of a closed list: the document says which.
struct ProblemTypes;

impl Modify for ProblemTypes {
    fn modify(&self, doc: &mut Document) {
        let Some(components) = doc.components.as_mut() else {
            return;
        };
        if let Some(RefOr::T(Schema::Object(problem))) = components.schemas.get_mut("Problem") {
            problem.properties.insert(
                "type".to_owned(),
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(
                        PROBLEM_SLUGS
                            .iter()
                            .map(|slug| format!("urn:greenlight:problem:{slug}")),
                    ))
                    .into(),
            );
        }
    }
}

/// A handler serving GET and HEAD is one operation id in its attribute; the
/// document needs one per operation.
struct HeadOperations;

impl Modify for HeadOperations {
    fn modify(&self, doc: &mut Document) {
        for item in doc.paths.paths.values_mut() {
            let get = item.get.as_ref().and_then(|o| o.operation_id.clone());
            if let Some(head) = item.head.as_mut() {
                if head.operation_id.is_some() && head.operation_id == get {
                    head.operation_id = get.map(|id| format!("{id}Head"));
                }
            }
        }
    }
}

/// The document, as served.
pub fn document() -> Document {
    ApiDoc::openapi()
}

/// This document.
#[utoipa::path(get, operation_id = "openapi", path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object)))]
#[allow(dead_code)]
fn openapi_json() {}

/// Swagger UI for this document; its assets are served from the binary.
#[utoipa::path(get, operation_id = "docs", path = "/docs/", tag = "operations",
    responses((status = 200, description = "The page", content_type = "text/html", body = String)))]
#[allow(dead_code)]
fn docs() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_with_every_problem_type() {
        let json = serde_json::to_value(document()).unwrap();
        assert!(json["openapi"].as_str().unwrap().starts_with("3.1"));
        let types = &json["components"]["schemas"]["Problem"]["properties"]["type"]["enum"];
        assert_eq!(types.as_array().unwrap().len(), PROBLEM_SLUGS.len());
        assert!(types.as_array().unwrap().contains(&serde_json::json!(
            "urn:greenlight:problem:validation-error"
        )));
    }
}
