//! The HTTP layer's error type, answered as `application/problem+json`
//! (RFC 9457) with a stable `type` per kind of problem.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::db::DbError;
use crate::domain::release::ParseError;
use crate::domain::{FieldError, ReleaseStatus};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    MalformedBody(String),
    #[error("the request has invalid fields")]
    Validation(Vec<FieldError>),
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("this route takes a JSON body: send Content-Type: application/json")]
    UnsupportedMediaType,
    #[error("the request body did not arrive in time")]
    BodyTimeout,
    #[error("{0}")]
    BadRequest(String),
    #[error("the approval token is not valid")]
    InvalidToken,
    #[error("the approval link has expired")]
    TokenExpired,
    #[error("this approval request does not exist (any more)")]
    UnknownApproval,
    #[error("no release {release_id} in project {team_project}, environment {environment}")]
    ReleaseNotFound {
        team_project: String,
        environment: String,
        release_id: String,
    },
    #[error("the release is already {0}; your decision was not recorded")]
    ReleaseDecided(ReleaseStatus),
    #[error("you already {0} this release; a decision cannot be changed")]
    AlreadyDecided(&'static str),
    #[error("this release exists with another {0}; a request for it must send the {0} it was created with (a release's name and requester cannot be changed)")]
    ReleaseDiffers(&'static str),
    #[error("no deployment {0}")]
    DeploymentNotFound(String),
    /// A status that would move a deployment backwards or out of a final
    /// state (`DeploymentState::may_post`'s reason).
    #[error("{0}")]
    InvalidTransition(String),
    #[error("{0}")]
    DeploymentFinished(String),
    #[error("{0}")]
    Unauthorized(&'static str),
    /// A signed delivery (a GitHub webhook) whose signature does not match.
    #[error("{0}")]
    BadSignature(&'static str),
    #[error("{0}")]
    Forbidden(String),
    #[error("too many requests from this client; try again in {0} s")]
    TooManyRequests(u64),
    #[error("a form of another site posted here; decisions are made on Greenlight's own pages")]
    CrossSite,
    #[error("this server does not answer to that Host; add it to GREENLIGHT_ALLOWED_HOSTS if it is one of its names")]
    MisdirectedRequest,
    #[error("no route for this method and path")]
    NotFound,
    /// A route of an integration that is not configured.
    #[error("{0}")]
    NotConfigured(&'static str),
    /// An outside service needed to answer did not.
    #[error("{0}")]
    BadGateway(String),
    /// With the methods the path takes, for `Allow`.
    #[error("method not allowed on this path; it takes {0}")]
    MethodNotAllowed(String),
    /// A `Greenlight-Claim` that is not the deployment's.
    #[error("{0}")]
    ClaimMismatch(String),
    /// The deployment's claim lapsed or the deployment finished.
    #[error("{0}")]
    ClaimExpired(String),
    #[error("the database is unavailable or busy; try again shortly")]
    Unavailable(#[source] DbError),
    /// Every stack leased and `max_stacks` reached: the request's place in
    /// the queue, and the id that keeps it.
    #[error("{detail}")]
    PoolExhausted {
        detail: String,
        queue_position: i64,
        request_id: String,
    },
    #[error("{0}")]
    StackNotFound(String),
    #[error("{0}")]
    LeaseExpired(String),
    #[error("{0}")]
    WrongLease(String),
    #[error("{0}")]
    StackLeased(String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
    #[error("{0}")]
    VariableNotFound(String),
    /// A secret to store, and no key to seal it with.
    #[error("{0}")]
    EncryptionKeyRequired(String),
}

/// Seconds a client should wait before trying again after a 503: about
/// how long PostgreSQL takes to restart, or a SQLite lock to clear.
pub const RETRY_AFTER_SECS: u64 = 2;

/// Every problem `type` (after `urn:greenlight:problem:`) this service
/// answers with; the OpenAPI document lists them.
pub const PROBLEM_SLUGS: [&str; 37] = [
    "malformed-body",
    "validation-error",
    "payload-too-large",
    "unsupported-media-type",
    "request-timeout",
    "bad-request",
    "invalid-token",
    "token-expired",
    "unknown-approval",
    "release-not-found",
    "release-decided",
    "already-decided",
    "release-differs",
    "deployment-not-found",
    "invalid-transition",
    "deployment-finished",
    "unauthorized",
    "invalid-signature",
    "forbidden",
    "too-many-requests",
    "cross-site-request",
    "misdirected-request",
    "not-found",
    "not-configured",
    "bad-gateway",
    "method-not-allowed",
    "claim-mismatch",
    "claim-expired",
    "unavailable",
    "internal-error",
    "variable-not-found",
    "encryption-key-required",
    "pool-exhausted",
    "stack-not-found",
    "lease-expired",
    "wrong-lease",
    "stack-leased",
];

impl ApiError {
    /// `Retry-After` for answers that are worth retrying.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Unavailable(_) => Some(RETRY_AFTER_SECS),
            Self::TooManyRequests(secs) => Some(*secs),
            Self::PoolExhausted { .. } => Some(crate::stacks::service::RETRY_AFTER_SECS),
            _ => None,
        }
    }

    /// The stable, machine-readable part of the problem.
    pub fn slug(&self) -> &'static str {
        match self {
            Self::MalformedBody(_) => "malformed-body",
            Self::Validation(_) => "validation-error",
            Self::PayloadTooLarge(_) => "payload-too-large",
            Self::UnsupportedMediaType => "unsupported-media-type",
            Self::BodyTimeout => "request-timeout",
            Self::BadRequest(_) => "bad-request",
            Self::InvalidToken => "invalid-token",
            Self::TokenExpired => "token-expired",
            Self::UnknownApproval => "unknown-approval",
            Self::ReleaseNotFound { .. } => "release-not-found",
            Self::ReleaseDecided(_) => "release-decided",
            Self::AlreadyDecided(_) => "already-decided",
            Self::ReleaseDiffers(_) => "release-differs",
            Self::DeploymentNotFound(_) => "deployment-not-found",
            Self::InvalidTransition(_) => "invalid-transition",
            Self::DeploymentFinished(_) => "deployment-finished",
            Self::Unauthorized(_) => "unauthorized",
            Self::BadSignature(_) => "invalid-signature",
            Self::Forbidden(_) => "forbidden",
            Self::TooManyRequests(_) => "too-many-requests",
            Self::CrossSite => "cross-site-request",
            Self::MisdirectedRequest => "misdirected-request",
            Self::NotFound => "not-found",
            Self::NotConfigured(_) => "not-configured",
            Self::BadGateway(_) => "bad-gateway",
            Self::MethodNotAllowed(_) => "method-not-allowed",
            Self::ClaimMismatch(_) => "claim-mismatch",
            Self::ClaimExpired(_) => "claim-expired",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal-error",
            Self::VariableNotFound(_) => "variable-not-found",
            Self::EncryptionKeyRequired(_) => "encryption-key-required",
            Self::PoolExhausted { .. } => "pool-exhausted",
            Self::StackNotFound(_) => "stack-not-found",
            Self::LeaseExpired(_) => "lease-expired",
            Self::WrongLease(_) => "wrong-lease",
            Self::StackLeased(_) => "stack-leased",
        }
    }

    pub fn title(&self) -> &'static str {
        match self {
            Self::MalformedBody(_) => "Malformed request body",
            Self::Validation(_) => "Invalid request",
            Self::PayloadTooLarge(_) => "Request body too large",
            Self::UnsupportedMediaType => "Unsupported media type",
            Self::BodyTimeout => "Request timeout",
            Self::BadRequest(_) => "Bad request",
            Self::InvalidToken => "Invalid approval link",
            Self::TokenExpired => "Approval link expired",
            Self::UnknownApproval => "Unknown approval request",
            Self::ReleaseNotFound { .. } => "Release not found",
            Self::ReleaseDecided(_) => "Release already decided",
            Self::AlreadyDecided(_) => "Already decided",
            Self::ReleaseDiffers(_) => "Release exists with other details",
            Self::DeploymentNotFound(_) => "Deployment not found",
            Self::InvalidTransition(_) => "Invalid state transition",
            Self::DeploymentFinished(_) => "Deployment finished",
            Self::Unauthorized(_) => "API key required",
            Self::BadSignature(_) => "Invalid signature",
            Self::Forbidden(_) => "Forbidden",
            Self::TooManyRequests(_) => "Too many requests",
            Self::CrossSite => "Cross-site request refused",
            Self::MisdirectedRequest => "Misdirected request",
            Self::NotFound => "Not found",
            Self::NotConfigured(_) => "Integration not configured",
            Self::BadGateway(_) => "Bad gateway",
            Self::MethodNotAllowed(_) => "Method not allowed",
            Self::ClaimMismatch(_) => "Not this deployment's claim",
            Self::ClaimExpired(_) => "Claim expired",
            Self::Unavailable(_) => "Service unavailable",
            Self::Internal(_) => "Internal error",
            Self::VariableNotFound(_) => "Variable not found",
            Self::EncryptionKeyRequired(_) => "Encryption key required",
            Self::PoolExhausted { .. } => "No stack available",
            Self::StackNotFound(_) => "Stack not found",
            Self::LeaseExpired(_) => "Lease expired",
            Self::WrongLease(_) => "Not this stack's lease",
            Self::StackLeased(_) => "Stack leased",
        }
    }

    pub fn problem(&self) -> Problem {
        Problem {
            r#type: format!("urn:greenlight:problem:{}", self.slug()),
            title: self.title(),
            status: self.status_code().as_u16(),
            detail: self.to_string(),
            errors: match self {
                Self::Validation(errors) => errors.clone(),
                _ => Vec::new(),
            },
            queue_position: match self {
                Self::PoolExhausted { queue_position, .. } => Some(*queue_position),
                _ => None,
            },
            request_id: match self {
                Self::PoolExhausted { request_id, .. } => Some(request_id.clone()),
                _ => None,
            },
        }
    }
}

/// RFC 9457 problem details. `type` names the kind of problem (the
/// document lists every one); `errors` the offending fields of a 422.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    pub r#type: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    pub errors: Vec<FieldError>,
    /// `pool-exhausted`: this request's place in the queue (1: next).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub queue_position: Option<i64>,
    /// `pool-exhausted`: ask again with it to keep the place.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub request_id: Option<String>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::MalformedBody(_) | Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::InvalidToken | Self::Forbidden(_) | Self::CrossSite | Self::WrongLease(_) => {
                StatusCode::FORBIDDEN
            }
            Self::PoolExhausted { .. } | Self::LeaseExpired(_) | Self::StackLeased(_) => {
                StatusCode::CONFLICT
            }
            Self::StackNotFound(_) => StatusCode::NOT_FOUND,
            Self::Unauthorized(_) | Self::BadSignature(_) => StatusCode::UNAUTHORIZED,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::TokenExpired => StatusCode::GONE,
            Self::UnknownApproval
            | Self::ReleaseNotFound { .. }
            | Self::DeploymentNotFound(_)
            | Self::NotFound
            | Self::NotConfigured(_)
            | Self::VariableNotFound(_) => StatusCode::NOT_FOUND,
            Self::BadGateway(_) => StatusCode::BAD_GATEWAY,
            Self::ReleaseDecided(_)
            | Self::AlreadyDecided(_)
            | Self::ReleaseDiffers(_)
            | Self::InvalidTransition(_)
            | Self::DeploymentFinished(_)
            | Self::EncryptionKeyRequired(_)
            | Self::ClaimMismatch(_)
            | Self::ClaimExpired(_) => StatusCode::CONFLICT,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::MisdirectedRequest => StatusCode::MISDIRECTED_REQUEST,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        log(self);
        let mut response = HttpResponse::build(self.status_code());
        if let Some(secs) = self.retry_after() {
            response.insert_header((actix_web::http::header::RETRY_AFTER, secs.to_string()));
        }
        if let Self::MethodNotAllowed(allow) = self {
            response.insert_header((actix_web::http::header::ALLOW, allow.as_str()));
        }
        if matches!(self, Self::BodyTimeout) {
            // The rest of the body may still come: the connection is done.
            response.force_close();
        }
        if matches!(self, Self::Unauthorized(_)) {
            // A browser asks for the key; an Azure DevOps Generic service
            // connection sends it as Basic.
            response.insert_header((
                actix_web::http::header::WWW_AUTHENTICATE,
                r#"Basic realm="greenlight""#,
            ));
        }
        response
            .content_type("application/problem+json")
            .json(self.problem())
    }
}

/// Server-side failures are logged with their cause chain; the response
/// only says that something failed.
pub fn log(error: &ApiError) {
    match error {
        ApiError::Unavailable(e) => {
            tracing::warn!(error = %e, "request refused: database unavailable");
        }
        ApiError::Internal(e) => tracing::error!(error = format!("{e:#}"), "request failed"),
        _ => {}
    }
}

impl From<ParseError> for ApiError {
    fn from(e: ParseError) -> Self {
        match e {
            ParseError::Malformed(m) => Self::MalformedBody(m),
            ParseError::Invalid(errors) => Self::Validation(errors),
        }
    }
}

impl From<crate::releases::CreateError> for ApiError {
    fn from(e: crate::releases::CreateError) -> Self {
        match e {
            crate::releases::CreateError::Differs(field) => Self::ReleaseDiffers(field),
            crate::releases::CreateError::Db(e) => e.into(),
        }
    }
}

impl From<crate::deployments::DeploymentError> for ApiError {
    fn from(e: crate::deployments::DeploymentError) -> Self {
        use crate::deployments::DeploymentError as E;
        match e {
            E::NotFound(id) => Self::DeploymentNotFound(id),
            E::Forbidden => Self::Forbidden("this API key belongs to another project".to_owned()),
            E::InvalidTransition(refused) => Self::InvalidTransition(refused.to_string()),
            e @ E::Finished { .. } => Self::DeploymentFinished(e.to_string()),
            e @ E::ClaimMismatch(_) => Self::ClaimMismatch(e.to_string()),
            e @ E::ClaimExpired { .. } => Self::ClaimExpired(e.to_string()),
            e @ E::Variables { .. } => Self::Internal(e.into()),
            E::ReleaseDiffers(field) => Self::ReleaseDiffers(field),
            E::Db(e) => e.into(),
        }
    }
}

impl From<crate::environments::variables::VariableError> for ApiError {
    fn from(e: crate::environments::variables::VariableError) -> Self {
        use crate::domain::FieldError;
        use crate::environments::variables::VariableError as E;
        match e {
            e @ E::NotFound { .. } => Self::VariableNotFound(e.to_string()),
            e @ E::TooMany { .. } => Self::Validation(vec![FieldError::new("name", e.to_string())]),
            e @ E::NoEncryptionKey => Self::EncryptionKeyRequired(e.to_string()),
            E::Invalid(errors) => Self::Validation(errors),
            E::Sealed(e) => Self::Internal(e.into()),
            E::Db(e) => e.into(),
        }
    }
}

impl From<crate::stacks::StackError> for ApiError {
    fn from(e: crate::stacks::StackError) -> Self {
        use crate::stacks::StackError as E;
        let detail = e.to_string();
        match e {
            E::PoolExhausted {
                position,
                request_id,
            } => Self::PoolExhausted {
                detail,
                queue_position: position,
                request_id,
            },
            E::NotFound(_) | E::NoStacks => Self::StackNotFound(detail),
            E::LeaseExpired { .. } => Self::LeaseExpired(detail),
            E::WrongLease(_) => Self::WrongLease(detail),
            E::Leased(_) => Self::StackLeased(detail),
            E::Db(e) => e.into(),
        }
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        // Whatever the moment the database went away (checkout, query,
        // commit) or a lock wait ran out, the answer is 503: try again.
        if e.is_unavailable() {
            Self::Unavailable(e)
        } else {
            Self::Internal(e.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_type_is_listed() {
        let every = [
            ApiError::MalformedBody(String::new()),
            ApiError::Validation(Vec::new()),
            ApiError::PayloadTooLarge(1),
            ApiError::UnsupportedMediaType,
            ApiError::BodyTimeout,
            ApiError::BadRequest(String::new()),
            ApiError::InvalidToken,
            ApiError::TokenExpired,
            ApiError::UnknownApproval,
            ApiError::ReleaseNotFound {
                team_project: String::new(),
                environment: String::new(),
                release_id: String::new(),
            },
            ApiError::ReleaseDecided(ReleaseStatus::Approved),
            ApiError::AlreadyDecided("approved"),
            ApiError::ReleaseDiffers("ReleaseName"),
            ApiError::DeploymentNotFound(String::new()),
            ApiError::InvalidTransition(String::new()),
            ApiError::DeploymentFinished(String::new()),
            ApiError::Unauthorized(""),
            ApiError::BadSignature(""),
            ApiError::Forbidden(String::new()),
            ApiError::TooManyRequests(1),
            ApiError::CrossSite,
            ApiError::MisdirectedRequest,
            ApiError::NotFound,
            ApiError::NotConfigured(""),
            ApiError::BadGateway(String::new()),
            ApiError::MethodNotAllowed("GET".to_owned()),
            ApiError::ClaimMismatch(String::new()),
            ApiError::ClaimExpired(String::new()),
            ApiError::Unavailable(DbError::Task),
            ApiError::Internal(anyhow::anyhow!("x")),
            ApiError::VariableNotFound(String::new()),
            ApiError::EncryptionKeyRequired(String::new()),
            ApiError::PoolExhausted {
                detail: String::new(),
                queue_position: 1,
                request_id: String::new(),
            },
            ApiError::StackNotFound(String::new()),
            ApiError::LeaseExpired(String::new()),
            ApiError::WrongLease(String::new()),
            ApiError::StackLeased(String::new()),
        ];
        let slugs: Vec<&str> = every.iter().map(ApiError::slug).collect();
        assert_eq!(slugs, PROBLEM_SLUGS);
    }
}
