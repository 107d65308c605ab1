//! The shapes the OpenAPI document names that no handler serializes or
//! deserializes as such: request bodies (parsed by hand at the edge, one
//! parse, domain types out), path parameters and the shared problem
//! answers. Answers are described by the types the handlers send
//! (`releases::document`, `problem::Problem`, ...), never by a copy here.
//! Handlers name these in their `#[utoipa::path]` attributes and
//! `openapi.rs` collects them; this module imports neither.

use utoipa::{IntoParams, IntoResponses, ToSchema};

use super::problem::Problem;

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
    /// Up to 140 characters (`team_project`); matched case-insensitively.
    #[schema(
        min_length = 1,
        max_length = 140,
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

/// The release a `GET /releases/{team_project}/{release_id}...` route
/// names (read as a tuple by the handlers).
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct ReleasePath {
    /// As given at creation (matched case-insensitively)
    #[param(
        min_length = 1,
        max_length = 140,
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

/// `POST /deployments` (and `POST /deploy`): commit `commit_sha` of
/// `repository_url` goes to `environment` of `team_project`. Unknown
/// fields are kept (in `original_request`) and otherwise ignored.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DeploymentRequest {
    /// `github.com/octo/app`, or an https, http, ssh or git URL of it;
    /// stored as `host/path` (host lowercased, `.git` and a trailing `/`
    /// dropped). No credentials, query, spaces or control characters.
    #[schema(min_length = 1, max_length = 512)]
    repository_url: String,
    /// 4 to 64 hex digits; stored lowercase.
    #[schema(pattern = "^[0-9a-fA-F]{4,64}$")]
    commit_sha: String,
    /// Default `production`; matched case-insensitively.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    environment: Option<String>,
    /// Default: the repository's path (`octo/app`); matched
    /// case-insensitively.
    #[schema(
        min_length = 1,
        max_length = 140,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    team_project: Option<String>,
    /// The git ref deployed (`main`, `refs/tags/v1`); up to 256 characters.
    #[schema(min_length = 1, max_length = 256)]
    r#ref: Option<String>,
    #[schema(min_length = 1, max_length = 128)]
    stack_name: Option<String>,
    #[schema(min_length = 1, max_length = 128)]
    version: Option<String>,
}

/// `POST /deployments/{id}/statuses`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DeploymentStatusRequest {
    /// Forward only: `queued` → `in_progress` (again, as progress notes)
    /// → `success`, `failure`, `error` or `canceled`. `waiting` and
    /// `inactive` are never posted: the approval gate and a newer success
    /// set them.
    state: crate::domain::DeploymentState,
    /// Up to 140 characters.
    #[schema(max_length = 140)]
    description: Option<String>,
    /// Where the run's own log is (an http(s) URL).
    #[schema(max_length = 2048)]
    log_url: Option<String>,
    /// Where the environment answers now (an http(s) URL).
    #[schema(max_length = 2048)]
    environment_url: Option<String>,
}

/// The deployment a `/deployments/{id}...` route names.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct DeploymentPath {
    /// `dpl_` and 26 characters, as `POST /deployments` answered
    #[param(max_length = 64)]
    id: String,
}

/// The problems a key-protected read of deployments may answer.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum DeploymentReadProblems {
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
        description = "No such deployment",
        content_type = "application/problem+json"
    )]
    NotFound(Problem),
    #[response(
        status = 422,
        description = "Invalid parameters (each named in `errors`)",
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

/// The problems a key-protected write to deployments may answer.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum DeploymentWriteProblems {
    #[response(
        status = 400,
        description = "The body is not a JSON object",
        content_type = "application/problem+json"
    )]
    Malformed(Problem),
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
        description = "No such deployment",
        content_type = "application/problem+json"
    )]
    NotFound(Problem),
    #[response(
        status = 408,
        description = "The body did not arrive within GREENLIGHT_BODY_TIMEOUT",
        content_type = "application/problem+json"
    )]
    Timeout(Problem),
    #[response(
        status = 409,
        description = "`invalid-transition`: the deployment cannot move to that state (backwards, or it is final); `deployment-finished`: its log is closed. Nothing changed",
        content_type = "application/problem+json"
    )]
    Conflict(Problem),
    #[response(
        status = 413,
        description = "The body is too large",
        content_type = "application/problem+json"
    )]
    TooLarge(Problem),
    #[response(
        status = 415,
        description = "Not a JSON Content-Type",
        content_type = "application/problem+json"
    )]
    UnsupportedMediaType(Problem),
    #[response(
        status = 422,
        description = "Invalid fields (each named in `errors`)",
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

/// `POST /stacks/request`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct StackRequestBody {
    /// The branch the stack is for: not blank, up to 255 characters.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    branch: String,
    /// Required with an admin key; a project key's own project otherwise.
    #[schema(
        min_length = 1,
        max_length = 140,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    team_project: Option<String>,
    /// Seconds to wait in the queue when the pool is exhausted (default 0).
    #[schema(minimum = 0, maximum = 60)]
    wait: Option<u64>,
    /// Keeps this request's place in the queue across calls.
    #[schema(min_length = 1, max_length = 128, pattern = r"^[!-~]+$")]
    request_id: Option<String>,
}

/// `PUT /stacks/{stackName}/commit`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct StackCommitRequest {
    /// 4 to 64 hex digits.
    #[schema(pattern = "^[0-9a-fA-F]{4,64}$")]
    commit: String,
}

/// The problems the stack routes may answer.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum StackProblems {
    #[response(
        status = 400,
        description = "The body is not a JSON object, or the query string is not valid",
        content_type = "application/problem+json"
    )]
    Malformed(Problem),
    #[response(
        status = 401,
        description = "An API key is required, or this one is not valid",
        content_type = "application/problem+json"
    )]
    Unauthorized(Problem),
    #[response(
        status = 403,
        description = "`forbidden`: the key is for another project; `wrong-lease`: the Greenlight-Lease token is not this stack's",
        content_type = "application/problem+json"
    )]
    Forbidden(Problem),
    #[response(
        status = 404,
        description = "No such stack",
        content_type = "application/problem+json"
    )]
    NotFound(Problem),
    #[response(
        status = 408,
        description = "The body did not arrive within GREENLIGHT_BODY_TIMEOUT",
        content_type = "application/problem+json"
    )]
    Timeout(Problem),
    #[response(
        status = 409,
        description = "`pool-exhausted` (with `queue_position`, `request_id` and `Retry-After`): every stack is leased and max_stacks is reached; `lease-expired`: the token's lease ended; `stack-leased`: the last stack is leased. Nothing changed",
        content_type = "application/problem+json"
    )]
    Conflict(Problem),
    #[response(
        status = 413,
        description = "The body is too large",
        content_type = "application/problem+json"
    )]
    TooLarge(Problem),
    #[response(
        status = 415,
        description = "Not a JSON Content-Type",
        content_type = "application/problem+json"
    )]
    UnsupportedMediaType(Problem),
    #[response(
        status = 422,
        description = "Invalid fields or headers (each named in `errors`)",
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
