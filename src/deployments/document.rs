//! What pipelines read: the deployment document, a page of them, a
//! project's environments and its control-plane events. These are the
//! types the handlers serialize; the OpenAPI document describes them from
//! their `ToSchema` derives.

use serde::Serialize;
use serde_json::value::RawValue;

use super::service::{DeploymentView, EnvironmentView, LogTotals};
use crate::db::deployments::StatusRow;
use crate::domain::DeploymentState;
use crate::releases::document::{rfc3339, EventEntry, StatusDocument};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeploymentDocument {
    /// `dpl_` and a ULID: sorts by creation time.
    pub id: String,
    pub team_project: String,
    pub environment: String,
    /// Normalised: `host/path` (`github.com/octo/app`).
    pub repository_url: String,
    /// Lowercase hex.
    pub commit_sha: String,
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    pub stack_name: Option<String>,
    pub version: Option<String>,
    pub status: DeploymentState,
    /// The release that gates it (`deploy_requires_approval`), as its
    /// status document; null when none does.
    pub release: Option<StatusDocument>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// When it reached a final state.
    #[schema(format = DateTime)]
    pub finished_at: Option<String>,
    /// `GET` it for the whole log (`text/plain`).
    pub logs_url: String,
    /// Where the environment answers, as the last status that named it said.
    pub environment_url: Option<String>,
    /// The request body exactly as received.
    #[schema(value_type = Object)]
    pub original_request: Box<RawValue>,
    /// What happened to it, oldest first; never changed.
    pub statuses: Vec<StatusEntry>,
}

/// One status of a deployment.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StatusEntry {
    pub state: DeploymentState,
    #[schema(format = DateTime)]
    pub at: String,
    pub description: Option<String>,
    /// Who posted it (`key 3`); null when keys are off.
    pub actor: Option<String>,
    pub log_url: Option<String>,
    pub environment_url: Option<String>,
}

impl DeploymentDocument {
    /// The document of `view`; `public_url` is the base of `logs_url`.
    pub fn new(view: &DeploymentView, public_url: &str) -> Self {
        let d = &view.deployment;
        // Stored as received after parsing as JSON; a row edited by hand
        // into something else is shown as a string rather than lost.
        let original_request = RawValue::from_string(d.original_request.clone())
            .or_else(|_| {
                RawValue::from_string(
                    serde_json::Value::from(d.original_request.clone()).to_string(),
                )
            })
            .expect("a JSON string is JSON");
        Self {
            id: d.id.clone(),
            team_project: d.team_project.clone(),
            environment: d.environment.clone(),
            repository_url: d.repository_url.clone(),
            commit_sha: d.commit_sha.clone(),
            git_ref: d.git_ref.clone(),
            stack_name: d.stack_name.clone(),
            version: d.version.clone(),
            status: d.status,
            release: view.release.as_ref().map(StatusDocument::from),
            created_at: rfc3339(d.created_at),
            updated_at: rfc3339(d.updated_at),
            finished_at: d.finished_at.map(rfc3339),
            logs_url: format!("{public_url}/deployments/{}/logs", d.id),
            environment_url: d.environment_url.clone(),
            original_request,
            statuses: view.statuses.iter().map(StatusEntry::from).collect(),
        }
    }
}

impl From<&StatusRow> for StatusEntry {
    fn from(s: &StatusRow) -> Self {
        Self {
            state: s.state,
            at: rfc3339(s.at),
            description: s.description.clone(),
            actor: s.actor.clone(),
            log_url: s.log_url.clone(),
            environment_url: s.environment_url.clone(),
        }
    }
}

/// `GET /deployments`: a page of deployments, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeploymentList {
    pub deployments: Vec<DeploymentDocument>,
    /// Pass as `cursor` for the next page; null on the last one.
    pub next_cursor: Option<String>,
}

/// `GET /environments`: what runs where, one entry per environment of the
/// project (by name).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EnvironmentList {
    pub team_project: String,
    pub environments: Vec<EnvironmentEntry>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EnvironmentEntry {
    pub environment: String,
    /// The deployment that succeeded last (the one running there); null
    /// if none has.
    pub latest_success: Option<DeploymentDocument>,
    /// The newest deployment, whatever its state.
    pub latest: DeploymentDocument,
}

impl EnvironmentEntry {
    pub fn new(view: &EnvironmentView, public_url: &str) -> Self {
        Self {
            environment: view.environment.clone(),
            latest_success: view
                .latest_success
                .as_ref()
                .map(|v| DeploymentDocument::new(v, public_url)),
            latest: DeploymentDocument::new(&view.latest, public_url),
        }
    }
}

/// `POST /deployments/{id}/logs`: the log so far.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LogAppended {
    /// Bytes the log keeps.
    pub log_bytes: i64,
    /// Bytes dropped past `GREENLIGHT_DEPLOYMENT_LOG_LIMIT`, in all.
    pub dropped_bytes: i64,
}

impl From<LogTotals> for LogAppended {
    fn from(t: LogTotals) -> Self {
        Self {
            log_bytes: t.log_bytes,
            dropped_bytes: t.dropped_bytes,
        }
    }
}

/// `GET /projects/{team_project}/events`: oldest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProjectEventList {
    pub events: Vec<EventEntry>,
    /// Pass as `cursor` for the next page; null on the last one.
    pub next_cursor: Option<String>,
}

/// `POST /runners/claim`: the deployment the runner now holds, its claim
/// and its variables.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClaimAnswer {
    #[serde(flatten)]
    pub deployment: DeploymentDocument,
    pub claim: ClaimEntry,
    /// The deployment's variables (secrets included), for the command's
    /// environment.
    pub variables: std::collections::BTreeMap<String, String>,
}

/// A runner's hold on a deployment.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClaimEntry {
    /// Send as `Greenlight-Claim` with every status, log chunk and
    /// heartbeat of this deployment. Shown only here.
    pub token: String,
    /// When the claim lapses unless renewed (then the deployment ends
    /// `error`, "runner lost"); microseconds.
    #[schema(format = DateTime)]
    pub expires_at: String,
}

impl ClaimAnswer {
    pub fn new(claimed: &super::runners::Claimed, public_url: &str) -> Self {
        Self {
            deployment: DeploymentDocument::new(&claimed.view, public_url),
            claim: ClaimEntry {
                token: claimed.token.as_str().to_owned(),
                expires_at: claim_time(claimed.expires_at),
            },
            variables: claimed.variables.clone(),
        }
    }
}

/// `POST /deployments/{id}/heartbeat`: the claim's new expiry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HeartbeatAnswer {
    pub claim: HeartbeatClaim,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HeartbeatClaim {
    #[schema(format = DateTime)]
    pub expires_at: String,
}

impl HeartbeatAnswer {
    pub fn new(expires_at: chrono::NaiveDateTime) -> Self {
        Self {
            claim: HeartbeatClaim {
                expires_at: claim_time(expires_at),
            },
        }
    }
}

/// A claim's expiry, to the microsecond: a renewal a moment later shows a
/// later time.
fn claim_time(t: chrono::NaiveDateTime) -> String {
    t.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
