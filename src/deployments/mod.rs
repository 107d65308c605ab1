//! The deployments wing: "commit C of repository R goes to environment E
//! of project P", recorded with an append-only list of statuses and its
//! log (DESIGN "Deployments and their logs").
//!
//! - `service`: the use cases the HTTP edge calls, each one transaction
//!   with its audit event (queries in `db::deployments`, the rule of
//!   which state may follow which in `domain::deployment`).
//! - `document`: the deployment document and the lists pipelines read.
//! - `github`: GitHub as a provider (its `deployment` events, the scoped
//!   reads).
//! - `runners`: runners' claims (long poll, renewal, "runner lost").
//! - `follow`: following a log as it grows, on any replica (`LogHub`).
//! - `gate`: approval is the gate: waiting deployments follow their
//!   release's decision (a listener the releases wing calls).
//! - `jobs`: its job kinds (`ReportGithubStatus`, `RunnerLost`,
//!   `SendDeploymentWebhook`).

pub mod document;
pub mod follow;
pub mod gate;
pub mod github;
pub mod jobs;
pub mod runners;
pub mod service;

pub use document::DeploymentDocument;
pub use follow::{FollowEvent, LogHub};
pub use service::{
    Actor, DeploymentError, DeploymentView, Deployments, Effects, EnvironmentView, LogTotals,
};
