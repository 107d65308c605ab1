//! The shapes the OpenAPI document names that no handler serializes or
//! deserializes as such: request bodies (parsed by hand at the edge, one
//! parse, domain types out), path parameters and the shared problem
//! answers. Answers are described by the types the handlers send
//! (`releases::document`, `problem::Problem`, ...), never by a copy here.
//! Handlers name these in their `#[utoipa::path]` attributes and
//! `openapi.rs` collects them; this module imports neither.

use utoipa::{IntoParams, IntoResponses, ToSchema};

use super::problem::Problem;
use crate::inventory::document::{ProvisioningError, ProvisioningValidationError};

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
        description = "`invalid-transition`: the deployment cannot move to that state (backwards, or it is final); `deployment-finished`: its log is closed; `claim-mismatch`/`claim-expired`: the `Greenlight-Claim` is not this deployment's, or its claim is over. Nothing changed",
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

/// `POST /provisioning/{project_id}`: the seed's body.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ProvisionedVersionRequest {
    provisioned_version: ProvisionedVersionFields,
}

/// Each field required, not blank, at most 128 characters.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ProvisionedVersionFields {
    /// A name for the stack ("Demo"); one entry per stack and environment
    /// in a project (case-insensitive)
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    stack_name: String,
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    version: String,
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    environment: String,
}

/// `POST /provisioning/{id}/instances`: the seed's body.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct InstancesRequest {
    /// 1 to 500; a `resource_id` named twice keeps its last item
    #[schema(min_items = 1, max_items = 500)]
    instances: Vec<InstanceItem>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct InstanceItem {
    provisioned_instance: InstanceFields,
}

/// Text fields required, not blank, at most 128 characters.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct InstanceFields {
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    instance_type: String,
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    instance_id: String,
    /// Names the instance within its version
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    resource_id: String,
    /// Any JSON object up to 64 KiB (default `{}`)
    #[schema(value_type = Option<Object>)]
    properties: Option<()>,
}

/// The errors a write to the inventory may answer, in the seed's shapes.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum ProvisioningWriteErrors {
    #[response(
        status = 400,
        description = "Bad input, every bad field named in `validation_errors` (blank, too long, not JSON...); nothing changed",
        content_type = "application/json"
    )]
    Invalid(ProvisioningValidationError),
    #[response(
        status = 401,
        description = "An API key is required, or this one is not valid",
        content_type = "application/json"
    )]
    Unauthorized(ProvisioningError),
    #[response(
        status = 403,
        description = "The key is for another project",
        content_type = "application/json"
    )]
    Forbidden(ProvisioningError),
    #[response(
        status = 404,
        description = "No such provisioned version",
        content_type = "application/json"
    )]
    NotFound(ProvisioningError),
    #[response(
        status = 408,
        description = "The body did not arrive within GREENLIGHT_BODY_TIMEOUT",
        content_type = "application/json"
    )]
    Timeout(ProvisioningError),
    #[response(
        status = 413,
        description = "The body is over 8 MiB",
        content_type = "application/json"
    )]
    TooLarge(ProvisioningError),
    #[response(
        status = 429,
        description = "Too many wrong keys from this client",
        content_type = "application/json"
    )]
    TooMany(ProvisioningError),
    #[response(
        status = 503,
        description = "The database is unavailable; retry",
        content_type = "application/json"
    )]
    Unavailable(ProvisioningError),
}

/// The errors a read of one version may answer, in the seed's shape.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum ProvisioningReadErrors {
    #[response(
        status = 401,
        description = "An API key is required, or this one is not valid",
        content_type = "application/json"
    )]
    Unauthorized(ProvisioningError),
    #[response(
        status = 403,
        description = "The key is for another project",
        content_type = "application/json"
    )]
    Forbidden(ProvisioningError),
    #[response(
        status = 404,
        description = "No such provisioned version",
        content_type = "application/json"
    )]
    NotFound(ProvisioningError),
    #[response(
        status = 429,
        description = "Too many wrong keys from this client",
        content_type = "application/json"
    )]
    TooMany(ProvisioningError),
    #[response(
        status = 503,
        description = "The database is unavailable; retry",
        content_type = "application/json"
    )]
    Unavailable(ProvisioningError),
}

/// The errors a deletion may answer, in the seed's shape.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum ProvisioningDeleteErrors {
    #[response(
        status = 401,
        description = "An API key is required, or this one is not valid",
        content_type = "application/json"
    )]
    Unauthorized(ProvisioningError),
    #[response(
        status = 403,
        description = "The key is for another project",
        content_type = "application/json"
    )]
    Forbidden(ProvisioningError),
    #[response(
        status = 404,
        description = "No such provisioned version (or instance); nothing changed",
        content_type = "application/json"
    )]
    NotFound(ProvisioningError),
    #[response(
        status = 429,
        description = "Too many wrong keys from this client",
        content_type = "application/json"
    )]
    TooMany(ProvisioningError),
    #[response(
        status = 503,
        description = "The database is unavailable; retry",
        content_type = "application/json"
    )]
    Unavailable(ProvisioningError),
}

/// The errors `GET /provisioning` may answer, in the seed's shapes.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum ProvisioningListErrors {
    #[response(
        status = 400,
        description = "Bad parameters, each named in `validation_errors`",
        content_type = "application/json"
    )]
    Invalid(ProvisioningValidationError),
    #[response(
        status = 401,
        description = "An API key is required, or this one is not valid",
        content_type = "application/json"
    )]
    Unauthorized(ProvisioningError),
    #[response(
        status = 403,
        description = "The key is for another project",
        content_type = "application/json"
    )]
    Forbidden(ProvisioningError),
    #[response(
        status = 429,
        description = "Too many wrong keys from this client",
        content_type = "application/json"
    )]
    TooMany(ProvisioningError),
    #[response(
        status = 503,
        description = "The database is unavailable; retry",
        content_type = "application/json"
    )]
    Unavailable(ProvisioningError),
}

// ------------------------------------------------------------- variables

/// `PUT …/variables/{name}`: a value (a secret when `secret`), or, at an
/// environment's level only, `{"unset": true}` alone, which hides the
/// project's value in that environment.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct VariableRequest {
    /// Any text up to 64 KiB (65,536 bytes) but NUL; required unless `unset`.
    value: Option<String>,
    /// Sealed at rest, never answered (needs GREENLIGHT_ENCRYPTION_KEY).
    secret: Option<bool>,
    /// Environment level only, alone.
    unset: Option<bool>,
}

/// The variable a path names: project, (environment,) name.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct VariablePath {
    /// Matched case-insensitively
    #[param(
        min_length = 1,
        max_length = 140,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    team_project: String,
    /// `[A-Za-z_][A-Za-z0-9_]{0,127}`, case-sensitive, not starting with `GREENLIGHT_`
    #[param(
        min_length = 1,
        max_length = 128,
        pattern = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
    )]
    name: String,
}

/// The environment variable a path names: project, environment, name.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct EnvironmentVariablePath {
    /// Matched case-insensitively
    #[param(
        min_length = 1,
        max_length = 140,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    team_project: String,
    /// Matched case-insensitively
    #[param(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    environment: String,
    /// `[A-Za-z_][A-Za-z0-9_]{0,127}`, case-sensitive, not starting with `GREENLIGHT_`
    #[param(
        min_length = 1,
        max_length = 128,
        pattern = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
    )]
    name: String,
}

/// A pipeline's format of an environment's merged variables.
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "lowercase")]
pub enum PipelineFormat {
    /// `NAME='value'` lines, single-quoted: `source` expands nothing.
    Dotenv,
    /// A flat object, name to value.
    Json,
}

/// The file format of a project's variables.
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "lowercase")]
pub enum FileFormat {
    /// Chalice's `.chalice/config.json`.
    Chalice,
}

/// One stage of a Chalice config: its variables (its other keys are
/// Chalice's and ignored).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ChaliceStage {
    environment_variables: Option<std::collections::BTreeMap<String, String>>,
}

/// Chalice's `.chalice/config.json`: `environment_variables` for every
/// stage (the project level), `stages.<name>.environment_variables` per
/// stage (one environment each). Other keys are Chalice's and ignored.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ChaliceFile {
    /// `2.0` (Chalice's current) or `1.0`
    #[schema(pattern = r"^(1\.0|2\.0)$")]
    version: String,
    app_name: Option<String>,
    environment_variables: Option<std::collections::BTreeMap<String, String>>,
    stages: Option<std::collections::BTreeMap<String, ChaliceStage>>,
}

/// The problems a key-protected read of variables may answer.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum VariableReadProblems {
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

/// The problems a key-protected write of variables may answer (a refusal
/// changes nothing).
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum VariableWriteProblems {
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
        description = "The key is for another project",
        content_type = "application/problem+json"
    )]
    Forbidden(Problem),
    #[response(
        status = 404,
        description = "`variable-not-found`: no such entry to delete",
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
        description = "`encryption-key-required`: a secret, and GREENLIGHT_ENCRYPTION_KEY is not set",
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
        description = "Invalid fields (each named in `errors`): a name, a value, the 1,001st variable of a level, a Chalice file that is not one",
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

/// `POST /runners/claim`: what this runner deploys. Unknown fields are
/// refused (422).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ClaimRequestBody {
    /// The environments this runner deploys to (1 to 100; matched
    /// case-insensitively).
    #[schema(min_items = 1, max_items = 100)]
    environments: Vec<String>,
    /// Only these projects' deployments (1 to 100). A project key claims
    /// for its own project only (naming another is a 403); without it an
    /// admin key takes any project's.
    #[schema(min_items = 1, max_items = 100)]
    team_projects: Option<Vec<String>>,
    /// Seconds to wait for a deployment when none is queued (long poll);
    /// default 30.
    #[schema(minimum = 0, maximum = 60)]
    wait: Option<u32>,
}

/// The problems `POST /runners/claim` may answer.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum ClaimProblems {
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
        description = "The key is for another project than one named in `team_projects`",
        content_type = "application/problem+json"
    )]
    Forbidden(Problem),
    #[response(
        status = 408,
        description = "The body did not arrive within GREENLIGHT_BODY_TIMEOUT",
        content_type = "application/problem+json"
    )]
    Timeout(Problem),
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

/// The problems `POST /deployments/{id}/heartbeat` may answer.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum HeartbeatProblems {
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
        status = 409,
        description = "`claim-mismatch`: the token is not this deployment's; `claim-expired`: its claim lapsed or it finished. Nothing changed",
        content_type = "application/problem+json"
    )]
    Conflict(Problem),
    #[response(
        status = 422,
        description = "No `Greenlight-Claim` header",
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
