//! The job queue, which knows no capability. A job kind is a type: a
//! serialisable payload with a name, the context its runs share, a subject
//! key and a `run` (in the manner of crates.io's `BackgroundJob`). Each
//! wing registers its kinds, with their context, in a `Registry`; the
//! `Runner` claims, leases, retries and records outcomes without knowing
//! any job's body. Jobs are enqueued inside the transaction of the change
//! that causes them, so work that was accepted is never lost.

mod registry;
mod runner;
mod settings;

use std::future::Future;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::db::jobs::{self as store, NewJob};
use crate::db::{Db, DbConnection, DbError};
use crate::integrations::outbound::{Failure, OutboundError};

pub use crate::db::jobs::RunAt;
pub use registry::Registry;
pub use runner::{backoff, reason, Runner};
pub use settings::QueueSettings;

/// A kind of background work.
pub trait Job: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Stored with each job; never rename one that may be queued.
    const KIND: &'static str;

    /// What every run of this kind shares (its wing's clients and
    /// settings), handed to the registry with the kind.
    type Context: Send + Sync + 'static;

    /// The thing this job concerns, as a key of the kind's choosing (a
    /// release's id): stored beside the payload, so that the queued jobs
    /// of a kind for one subject can be cancelled.
    fn subject(&self) -> String;

    /// At most one job of this kind per subject is queued or running:
    /// enqueueing another meanwhile stores nothing (a recurring job that
    /// every replica enqueues at start runs once in the cluster).
    const UNIQUE: bool = false;

    /// One attempt. A transient error is retried with backoff, a permanent
    /// one (or the last attempt's) ends in `give_up`. A job that writes
    /// its result completes its claim in the same transaction
    /// (`Claim::complete`); otherwise the runner completes it on success.
    fn run(
        &self,
        ctx: &Self::Context,
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
    let subject = job.subject();
    let unique_key = J::UNIQUE.then(|| format!("{}:{subject}", J::KIND));
    store::enqueue(
        conn,
        &NewJob {
            kind: J::KIND,
            subject: &subject,
            payload: &payload,
            max_attempts,
            run_at,
            request_id: request_id.as_deref(),
            unique_key: unique_key.as_deref(),
        },
    )
}

/// Deletes the queued (unclaimed) jobs of kind `J` for `subject`, inside
/// the caller's transaction: work a change made pointless.
pub fn cancel<J: Job>(conn: &mut DbConnection, subject: &str) -> diesel::QueryResult<usize> {
    store::cancel(conn, J::KIND, subject)
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

impl JobError {
    /// A webhook delivery's failure as Standard Webhooks wants it retried:
    /// 410 Gone (a receiver that wants no more deliveries) and a refused
    /// address give up at once; the rest is worth another attempt.
    pub fn from_webhook(e: OutboundError) -> Self {
        match e.failure() {
            Failure::Status(410) | Failure::Refused => Self::Permanent(e.to_string()),
            _ => Self::Transient(e.to_string()),
        }
    }
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
        store::complete(conn, self.id, &self.lock_token)
    }

    /// Checked right before a side effect that must not happen twice (an
    /// email): a worker whose lease was taken over stops here.
    pub async fn ensure_held(&self, db: &Db) -> Result<(), JobError> {
        let (id, token) = (self.id, self.lock_token.clone());
        if db.read(move |c| Ok(store::is_held(c, id, &token)?)).await? {
            Ok(())
        } else {
            Err(JobError::LeaseLost)
        }
    }
}
