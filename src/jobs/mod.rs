//! Background jobs. A job kind is a type: a serialisable payload with a
//! name and a `run`, registered once with the runner (`runner.rs`), which
//! claims, leases, retries and records outcomes without knowing any job's
//! body. Jobs are enqueued inside the transaction of the change that
//! causes them, so work that was accepted is never lost.

mod expire_release;
mod notify;
mod process_release;
mod remind_approvers;
pub mod runner;
mod send_approval_email;
mod send_azure_callback;
mod send_github_review;
mod send_reminder;
mod send_webhook;

use std::future::Future;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::Notify;

use crate::approvers::ApproversClient;
use crate::db::jobs::{self as queue, NewJob, RunAt};
use crate::db::{Db, DbConnection, DbError};
use crate::mailer::Mailer;
use crate::token::TokenKeys;

pub use expire_release::ExpireRelease;
pub use process_release::ProcessRelease;
pub use remind_approvers::RemindApprovers;
pub use runner::{Registry, Runner};
pub use send_approval_email::SendApprovalEmail;
pub use send_azure_callback::SendAzureCallback;
pub use send_github_review::SendGithubReview;
pub use send_reminder::SendReminder;
pub use send_webhook::SendWebhook;

/// A kind of background work.
pub trait Job: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Stored with each job; never rename one that may be queued.
    const KIND: &'static str;

    /// The release this job concerns, stored beside the payload.
    fn release_pk(&self) -> i64;

    /// One attempt. A transient error is retried with backoff, a permanent
    /// one (or the last attempt's) ends in `give_up`. A job that writes
    /// its result completes its claim in the same transaction
    /// (`Claim::complete`); otherwise the runner completes it on success.
    fn run(
        &self,
        ctx: &JobContext,
        claim: &Claim,
    ) -> impl Future<Output = Result<(), JobError>> + Send;

    /// What failing for good means, run in the transaction that buries the
    /// job. `error` is the last attempt's, `attempts` how many were made.
    fn give_up(
        &self,
        _conn: &mut DbConnection,
        _error: &str,
        _attempts: i32,
    ) -> diesel::QueryResult<()> {
        Ok(())
    }
}

/// Every job kind Greenlight runs.
pub fn registry() -> Registry {
    Registry::default()
        .register::<ProcessRelease>()
        .register::<SendApprovalEmail>()
        .register::<ExpireRelease>()
        .register::<RemindApprovers>()
        .register::<SendReminder>()
        .register::<SendWebhook>()
        .register::<SendAzureCallback>()
        .register::<SendGithubReview>()
}

/// Stores a job (inside the caller's transaction).
pub fn enqueue<J: Job>(
    conn: &mut DbConnection,
    job: &J,
    max_attempts: i32,
    run_at: RunAt,
) -> diesel::QueryResult<()> {
    let payload = serde_json::to_string(job)
        .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
    let request_id = crate::cause::current();
    queue::enqueue(
        conn,
        &NewJob {
            kind: J::KIND,
            release_pk: job.release_pk(),
            payload: &payload,
            max_attempts,
            run_at,
            request_id: request_id.as_deref(),
        },
    )
}

/// What the jobs need, shared by every running job.
pub struct JobContext {
    pub db: Db,
    pub approvers: ApproversClient,
    /// Where each project's approvers come from.
    pub policies: Arc<crate::config::Policies>,
    pub mailer: Mailer,
    pub tokens: TokenKeys,
    /// Attempts given to the jobs that jobs enqueue.
    pub max_attempts: i32,
    /// Wakes this process's runner when a job enqueues more work.
    pub wake: Arc<Notify>,
    /// Masks configured secrets in every error a job reports (its log
    /// lines, its stored error, the release's reason and events).
    pub redactor: crate::redact::Redactor,
    /// Approvers a release may have.
    pub max_approvers: usize,
    /// Posts decisions to webhooks and Azure DevOps.
    pub notifier: crate::notifier::Notifier,
    /// The GitHub App, if configured.
    pub github: Option<Arc<crate::github::GithubApp>>,
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth another attempt later (a peer down, a timeout).
    #[error("{0}")]
    Transient(String),
    /// No retry can help (a malformed answer, a refused address).
    #[error("{0}")]
    Permanent(String),
    /// Another worker holds the job now: stop, record nothing.
    #[error("the job's lease was lost")]
    LeaseLost,
}

impl From<DbError> for JobError {
    fn from(e: DbError) -> Self {
        Self::Transient(e.to_string())
    }
}

impl From<diesel::result::Error> for JobError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Transient(format!("database query: {e}"))
    }
}

/// A worker's hold on one job.
#[derive(Debug, Clone)]
pub struct Claim {
    pub id: i64,
    pub lock_token: String,
}

impl Claim {
    /// Deletes the job as done, inside the caller's transaction. False if
    /// the claim was lost: roll back, another worker has the job.
    pub fn complete(&self, conn: &mut DbConnection) -> diesel::QueryResult<bool> {
        queue::complete(conn, self.id, &self.lock_token)
    }

    /// Checked right before a side effect that must not happen twice (an
    /// email): a worker whose lease was taken over stops here.
    pub async fn ensure_held(&self, db: &Db) -> Result<(), JobError> {
        let (id, token) = (self.id, self.lock_token.clone());
        if db.read(move |c| Ok(queue::is_held(c, id, &token)?)).await? {
            Ok(())
        } else {
            Err(JobError::LeaseLost)
        }
    }
}
