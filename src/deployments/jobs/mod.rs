//! The deployments wing's job kinds, registered with the queue with the
//! context their runs share.

mod report_github_status;
mod runner_lost;
mod send_webhook;

use std::sync::Arc;

use crate::db::Db;
use crate::environments::Policies;
use crate::integrations::github::GithubApp;
use crate::integrations::outbound::Outbound;
use crate::queue::Registry;

pub use report_github_status::{status_appended, ReportGithubStatus};
pub use runner_lost::RunnerLost;
pub use send_webhook::SendDeploymentWebhook;

/// What the deployments wing's jobs need.
pub struct JobContext {
    pub db: Db,
    /// The GitHub App, if configured (statuses of GitHub's deployments).
    pub github: Option<Arc<GithubApp>>,
    /// Each project's webhook and the secrets that sign it.
    pub policies: Arc<Policies>,
    pub outbound: Outbound,
    /// The public URL, no trailing `/`: the base of a document's
    /// `logs_url` (and of the `log_url` GitHub links to).
    pub public_url: String,
    /// Attempts given to the jobs that jobs enqueue.
    pub max_attempts: i32,
    /// What a status a job appends tells (followers, webhooks, GitHub).
    pub effects: super::Effects,
}

/// Adds the deployments wing's job kinds to `registry`.
pub fn register(registry: Registry, ctx: Arc<JobContext>) -> Registry {
    registry
        .register::<ReportGithubStatus>(ctx.clone())
        .register::<RunnerLost>(ctx.clone())
        .register::<SendDeploymentWebhook>(ctx)
}
