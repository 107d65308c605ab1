//! The releases wing's job kinds, registered with the queue with the
//! context their runs share.

mod expire_release;
mod notify;
mod process_release;
mod redeliver_github_webhooks;
mod remind_approvers;
mod send_approval_email;
mod send_azure_callback;
mod send_github_review;
mod send_reminder;
mod send_webhook;
pub mod slack;

use std::sync::Arc;

use tokio::sync::Notify;

use crate::db::Db;
use crate::environments::Policies;
use crate::integrations::approvers::ApproversClient;
use crate::integrations::github::GithubApp;
use crate::integrations::outbound::Outbound;
use crate::mailer::Mailer;
use crate::queue::Registry;
use crate::token::TokenKeys;

pub use expire_release::ExpireRelease;
pub use process_release::ProcessRelease;
pub use redeliver_github_webhooks::RedeliverGithubWebhooks;
pub use remind_approvers::RemindApprovers;
pub use send_approval_email::SendApprovalEmail;
pub use send_azure_callback::SendAzureCallback;
pub use send_github_review::SendGithubReview;
pub use send_reminder::SendReminder;
pub use send_webhook::SendWebhook;
pub use slack::{PostSlackMessage, UpdateSlackMessage};

/// What the releases wing's jobs need, shared by every running job.
pub struct JobContext {
    pub db: Db,
    pub approvers: ApproversClient,
    /// Where each project's approvers come from, and what signs its
    /// webhooks.
    pub policies: Arc<Policies>,
    pub mailer: Mailer,
    pub tokens: TokenKeys,
    /// Attempts given to the jobs that jobs enqueue.
    pub max_attempts: i32,
    /// Wakes this process's runner when a job enqueues more work.
    pub wake: Arc<Notify>,
    /// Approvers a release may have.
    pub max_approvers: usize,
    /// Posts decisions to webhooks and Azure DevOps.
    pub outbound: Outbound,
    /// The GitHub App, if configured.
    pub github: Option<Arc<GithubApp>>,
    /// How often its failed deliveries are redelivered (`None`: never).
    pub github_redelivery_interval: Option<std::time::Duration>,
    /// Slack's Web API, if configured.
    pub slack: Option<Arc<crate::integrations::slack::Slack>>,
    /// Opens the credentials subscribers were stored with.
    pub sealer: crate::sealed::Sealer,
}

/// Adds the releases wing's job kinds to `registry`.
pub fn register(registry: Registry, ctx: Arc<JobContext>) -> Registry {
    registry
        .register::<ProcessRelease>(ctx.clone())
        .register::<SendApprovalEmail>(ctx.clone())
        .register::<ExpireRelease>(ctx.clone())
        .register::<RemindApprovers>(ctx.clone())
        .register::<SendReminder>(ctx.clone())
        .register::<SendWebhook>(ctx.clone())
        .register::<SendAzureCallback>(ctx.clone())
        .register::<SendGithubReview>(ctx.clone())
        .register::<RedeliverGithubWebhooks>(ctx.clone())
        .register::<PostSlackMessage>(ctx.clone())
        .register::<UpdateSlackMessage>(ctx)
}

/// Starts the releases wing's recurring jobs: the GitHub App's
/// redeliveries, if it is configured (once in the cluster: a job already
/// queued, by this replica's last start or another replica, stays as it is).
pub async fn start_recurring(ctx: &JobContext) -> Result<(), crate::db::DbError> {
    let (Some(_), Some(interval)) = (&ctx.github, ctx.github_redelivery_interval) else {
        return Ok(());
    };
    let max_attempts = ctx.max_attempts;
    ctx.db
        .write(move |c| Ok(redeliver_github_webhooks::start(c, interval, max_attempts)?))
        .await
}
