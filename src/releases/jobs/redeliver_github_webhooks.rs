//! GitHub never retries a webhook delivery that failed (we were down, or
//! answered 5xx): the deployment would wait for a review that never comes.
//! This recurring job asks GitHub to redeliver the App's failed
//! `deployment_protection_rule` deliveries of the last three days (as long
//! as GitHub keeps them), one per guid, then schedules its next run.

use std::time::Duration;

use diesel::Connection;
use serde::{Deserialize, Serialize};

use super::JobContext;
use crate::db::{self, DbConnection};
use crate::integrations::github::{to_redeliver, REDELIVERY_WINDOW};
use crate::queue::{self, Claim, Job, JobError, RunAt};

/// One run; unique, so that every replica enqueueing it at start makes one
/// job in the cluster, which reschedules itself when it ends (its row
/// survives restarts).
#[derive(Debug, Serialize, Deserialize)]
pub struct RedeliverGithubWebhooks {
    /// Seconds to the next run (from the configuration when this one was
    /// queued; the next one takes the current configuration's).
    pub interval_secs: u64,
    /// Attempts each run is given.
    pub max_attempts: i32,
}

impl RedeliverGithubWebhooks {
    pub fn new(interval: Duration, max_attempts: i32) -> Self {
        Self {
            interval_secs: interval.as_secs().max(1),
            max_attempts,
        }
    }

    /// Queues the next run (inside the caller's transaction).
    fn schedule_next(
        &self,
        conn: &mut DbConnection,
        interval_secs: u64,
    ) -> diesel::QueryResult<()> {
        let next = Self {
            interval_secs,
            max_attempts: self.max_attempts,
        };
        // A year at most: a typo of a unit must not overflow the clock.
        let secs = i64::try_from(interval_secs.min(365 * 24 * 3600)).unwrap_or(3600);
        queue::enqueue(
            conn,
            &next,
            self.max_attempts,
            RunAt::At(db::now() + chrono::Duration::seconds(secs)),
        )
    }
}

/// Queues the first run if none is queued (a no-op on every start but the
/// first, and on every replica but one).
pub fn start(
    conn: &mut DbConnection,
    interval: Duration,
    max_attempts: i32,
) -> diesel::QueryResult<()> {
    queue::enqueue(
        conn,
        &RedeliverGithubWebhooks::new(interval, max_attempts),
        max_attempts,
        RunAt::Now,
    )
}

impl Job for RedeliverGithubWebhooks {
    const KIND: &'static str = "redeliver_github_webhooks";
    const UNIQUE: bool = true;

    type Context = JobContext;

    fn subject(&self) -> String {
        "github-app".to_owned()
    }

    #[tracing::instrument(name = "run", skip_all)]
    async fn run(&self, ctx: &JobContext, claim: &Claim) -> Result<(), JobError> {
        let (Some(github), Some(interval)) = (&ctx.github, ctx.github_redelivery_interval) else {
            // The App (or the redelivery) was configured away: the
            // recurrence ends with this run.
            return Ok(());
        };
        let since = chrono::Utc::now() - REDELIVERY_WINDOW;
        // Listing failed (GitHub down, a bad key): retried with backoff; the
        // last attempt's give_up schedules the next run all the same.
        let deliveries = github
            .hook_deliveries(since)
            .await
            .map_err(|e| JobError::Transient(e.to_string()))?;
        claim.ensure_held(&ctx.db).await?;
        for id in to_redeliver(&deliveries, since) {
            // One refusal (a delivery GitHub no longer keeps) does not stop
            // the others; the next run sees what is still failed.
            match github.redeliver(id).await {
                Ok(()) => tracing::info!(
                    delivery = id,
                    "asked GitHub to redeliver a failed deployment protection rule"
                ),
                Err(e) => tracing::warn!(delivery = id, error = %e, "GitHub did not redeliver"),
            }
        }
        let (claim, interval_secs) = (claim.clone(), interval.as_secs().max(1));
        let next = Self {
            interval_secs,
            max_attempts: ctx.max_attempts,
        };
        let held = ctx
            .db
            .write(move |c| {
                Ok(c.transaction(|c| {
                    if !claim.complete(c)? {
                        return Ok(false);
                    }
                    next.schedule_next(c, interval_secs)?;
                    diesel::QueryResult::Ok(true)
                })?)
            })
            .await?;
        if held {
            ctx.wake.notify_one();
            Ok(())
        } else {
            Err(JobError::LeaseLost)
        }
    }

    /// Runs in the transaction that buries this run: the next one is
    /// queued all the same, so a GitHub outage never ends the recurrence.
    fn give_up(
        &self,
        conn: &mut DbConnection,
        error: &str,
        _attempts: i32,
    ) -> diesel::QueryResult<()> {
        tracing::warn!(
            error,
            "asking GitHub for redeliveries failed; trying at the next run"
        );
        self.schedule_next(conn, self.interval_secs)
    }
}
