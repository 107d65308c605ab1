//! The queue's runner: claims due jobs, keeps their leases alive, runs
//! them with a time limit, and records what happened (done, retry with
//! backoff, or buried after the last attempt). It knows job kinds only by
//! name, through the `Registry`.
//!
//! One claiming loop per process claims a batch sized to its free slots,
//! so idle slots do not each poll the database; when nothing is due it
//! waits for a local enqueue, for the next scheduled job, or for the poll
//! interval (other replicas' work), whichever comes first, and it checks
//! with a read before it claims with a write. One heartbeat per process
//! renews every lease it holds in a single statement: leases can be short
//! (seconds), so the jobs of a process that died run again within seconds.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use rand::Rng;
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::{AbortHandle, JoinSet};
use tracing::Instrument;

use super::{Claim, JobError, QueueSettings, Registry};
use crate::db::jobs as queue;
use crate::db::models::ClaimedJob;
use crate::db::Db;
use crate::ids::random_id;
use crate::redact::Redactor;

/// A reason after a job gave up: what failed, why, how often.
pub fn reason(what: &str, error: &str, attempts: i32) -> String {
    format!(
        "{what}: {error} (gave up after {attempts} attempt{})",
        if attempts == 1 { "" } else { "s" }
    )
}

/// Jobs this process runs now: id -> (lock token, task), so that the
/// heartbeat can stop a job whose lease another worker took over.
type InFlight = Arc<Mutex<HashMap<i64, (String, AbortHandle)>>>;

pub struct Runner {
    db: Db,
    registry: Arc<Registry>,
    settings: QueueSettings,
    /// Rung by whoever enqueues in this process: the runner looks at once.
    wake: Arc<Notify>,
    /// Masks configured secrets in every error a job reports (its log
    /// lines, its stored error, what its `give_up` records).
    redactor: Redactor,
    /// This process, as `jobs.locked_by` names it.
    worker: String,
}

impl Runner {
    pub fn new(
        db: Db,
        registry: Registry,
        settings: QueueSettings,
        wake: Arc<Notify>,
        redactor: Redactor,
    ) -> Self {
        Self {
            db,
            registry: Arc::new(registry),
            settings,
            wake,
            redactor,
            worker: random_id(),
        }
    }

    fn lease_ms(&self) -> i64 {
        i64::try_from(self.settings.lease.as_millis()).unwrap_or(i64::MAX)
    }

    /// Runs jobs until `stop` turns true; then claims nothing more, lets
    /// running jobs finish for up to `settings.shutdown_timeout`, stops the
    /// rest and hands all of its claims back, due at once.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let this = Arc::new(self);
        let in_flight: InFlight = Arc::default();
        let heartbeat = tokio::spawn(this.clone().heartbeat(in_flight.clone()));
        let slots = Arc::new(Semaphore::new(this.settings.concurrency));
        let mut tasks = JoinSet::new();
        let mut check_first = false;
        while !*stop.borrow() {
            while tasks.try_join_next().is_some() {}
            let free = slots.available_permits();
            if free == 0 {
                tokio::select! {
                    _ = slots.acquire() => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            if check_first {
                check_first = false;
                match this.db.read(|c| Ok(queue::next_due_in_ms(c)?)).await {
                    Ok(Some(ms)) if ms <= 0.0 => {}
                    Ok(due) => {
                        let wait = due.map_or(this.settings.poll_interval, |ms| {
                            this.settings
                                .poll_interval
                                .min(Duration::from_secs_f64(ms / 1000.0))
                        });
                        check_first = this.idle(wait, &mut stop).await;
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "could not look for due jobs");
                        check_first = this.idle(this.settings.poll_interval, &mut stop).await;
                        continue;
                    }
                }
            }
            let claimed = match this.claim(free).await {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::warn!(error = %e, "could not claim jobs");
                    Vec::new()
                }
            };
            let full_batch = claimed.len() == free;
            for job in claimed {
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    break; // cannot happen: the batch fits the free slots
                };
                let (id, token) = (job.id, job.lock_token.clone().unwrap_or_default());
                let (runner, in_flight_) = (this.clone(), in_flight.clone());
                let handle = tasks.spawn(async move {
                    runner.execute(job).await;
                    drop(slot);
                    in_flight_.lock().expect("in-flight map").remove(&id);
                });
                in_flight
                    .lock()
                    .expect("in-flight map")
                    .insert(id, (token, handle));
            }
            if !full_batch {
                check_first = this.idle(this.settings.poll_interval, &mut stop).await;
            }
        }
        this.stop(tasks, heartbeat).await;
    }

    /// Waits for a local enqueue, `wait`, or `stop`. True if the wait ran
    /// out: look (read) before claiming (write) next time.
    async fn idle(&self, wait: Duration, stop: &mut watch::Receiver<bool>) -> bool {
        tokio::select! {
            () = self.wake.notified() => false,
            () = tokio::time::sleep(wait) => true,
            _ = stop.changed() => false,
        }
    }

    async fn claim(&self, limit: usize) -> Result<Vec<ClaimedJob>, crate::db::DbError> {
        let (worker, lease) = (self.worker.clone(), self.lease_ms());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.db
            .write(move |c| Ok(queue::claim(c, &worker, &random_id(), lease, limit)?))
            .await
    }

    /// Renews this process's leases every third of a lease; stops a job
    /// whose claim is no longer this process's (its lease ran out during
    /// an outage and another worker took it): it must not act twice.
    async fn heartbeat(self: Arc<Self>, in_flight: InFlight) {
        let mut tick = tokio::time::interval(self.settings.lease / 3);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            // Judge only the jobs that were claimed before the renewal:
            // one claimed while it runs is not in its answer, yet held.
            let before: HashMap<i64, String> = in_flight
                .lock()
                .expect("in-flight map")
                .iter()
                .map(|(id, (token, _))| (*id, token.clone()))
                .collect();
            if before.is_empty() {
                continue;
            }
            let (worker, lease) = (self.worker.clone(), self.lease_ms());
            let ids: Vec<i64> = before.keys().copied().collect();
            let held = match self
                .db
                .write(move |c| Ok(queue::renew_leases(c, &worker, &ids, lease)?))
                .await
            {
                Ok(held) => held.into_iter().collect::<HashMap<i64, String>>(),
                Err(e) => {
                    tracing::warn!(error = %e, "could not renew the job leases");
                    continue;
                }
            };
            let unrenewed: Vec<i64> = before
                .iter()
                .filter(|(id, token)| held.get(id) != Some(token))
                .map(|(id, _)| *id)
                .collect();
            if unrenewed.is_empty() {
                continue;
            }
            // Most of these just finished (their row is gone, or was put
            // back by their own outcome); only a row claimed under another
            // token means another worker has the job.
            let current = match self
                .db
                .read(move |c| Ok(queue::tokens_of(c, &unrenewed)?))
                .await
            {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::warn!(error = %e, "could not check the unrenewed jobs");
                    continue;
                }
            };
            let mut in_flight = in_flight.lock().expect("in-flight map");
            // A task that ended before it was entered leaves a stale entry.
            in_flight.retain(|_, (_, task)| !task.is_finished());
            for (id, token) in current {
                let Some(token) = token else { continue };
                if before.get(&id) == Some(&token) {
                    continue;
                }
                if let Some((_, task)) = in_flight.remove(&id) {
                    if !task.is_finished() {
                        tracing::warn!(
                            job = id,
                            "claim taken over by another worker; stopping the job"
                        );
                        task.abort();
                    }
                }
            }
        }
    }

    async fn execute(&self, job: ClaimedJob) {
        let span = tracing::info_span!(
            "job",
            id = job.id,
            kind = %job.kind,
            attempt = job.attempts,
            request_id = job.request_id.as_deref(),
        );
        let cause = job.request_id.clone();
        let run = async {
            let claim = Claim {
                id: job.id,
                lock_token: job.lock_token.clone().unwrap_or_default(),
            };
            let result = match self.registry.kinds.get(job.kind.as_str()) {
                None => Err(JobError::Permanent(format!(
                    "unknown job kind {:?}",
                    job.kind
                ))),
                // Claimed again after its worker died during the last attempt.
                Some(_) if job.attempts > job.max_attempts => {
                    Err(JobError::Permanent(job.last_error.clone().unwrap_or_else(
                        || "the worker stopped while running it".to_owned(),
                    )))
                }
                Some(kind) => {
                    let work = AssertUnwindSafe((kind.run)(claim.clone(), job.payload.clone()))
                        .catch_unwind();
                    let limit = self.settings.job_timeout;
                    match tokio::time::timeout(limit, work).await {
                        Ok(Ok(result)) => result,
                        Ok(Err(_)) => Err(JobError::Transient("the job panicked".to_owned())),
                        Err(_) => Err(JobError::Transient(format!(
                            "the attempt took longer than {} ms",
                            limit.as_millis()
                        ))),
                    }
                }
            };
            if let Err(e) = self.record(&job, &claim, result).await {
                // The lease runs out and the job is claimed again.
                tracing::error!(error = %e, "could not record the job's outcome");
            }
        }
        .instrument(span);
        // What this job queues descends from the same request.
        crate::cause::scope(cause.as_deref(), run).await;
    }

    /// Records an attempt's outcome: done, a retry after backoff, or the
    /// job buried (and its `give_up` run) when trying again cannot help.
    async fn record(
        &self,
        job: &ClaimedJob,
        claim: &Claim,
        result: Result<(), JobError>,
    ) -> Result<(), crate::db::DbError> {
        let (id, token) = (claim.id, claim.lock_token.clone());
        // Errors quote peers and libraries, which may quote a configured
        // URL with its credentials: masked before anything keeps them.
        let result = result.map_err(|e| match e {
            JobError::Transient(m) => JobError::Transient(self.redactor.scrub(&m)),
            JobError::Permanent(m) => JobError::Permanent(self.redactor.scrub(&m)),
            JobError::LeaseLost => JobError::LeaseLost,
        });
        let kind = self.registry.label(&job.kind);
        match result {
            Ok(()) => {
                crate::metrics::job_run(kind, "done");
                self.db
                    .write(move |c| Ok(queue::complete(c, id, &token)?))
                    .await?;
            }
            Err(JobError::LeaseLost) => {
                crate::metrics::job_run(kind, "lease_lost");
                tracing::warn!("the job's lease was lost; another worker has it");
            }
            Err(JobError::Transient(message)) if job.attempts < job.max_attempts => {
                crate::metrics::job_run(kind, "retry");
                let delay = backoff(job.attempts, &self.settings, rand::rng().random());
                tracing::warn!(error = %message, retry_in_ms = delay.as_millis() as u64, "job failed; will retry");
                let delay_ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
                self.db
                    .write(move |c| Ok(queue::retry_later(c, id, &token, &message, delay_ms)?))
                    .await?;
            }
            Err(JobError::Transient(message) | JobError::Permanent(message)) => {
                crate::metrics::job_run(kind, "failed");
                let attempts = job.attempts.min(job.max_attempts);
                tracing::error!(error = %message, attempts, "job failed for good");
                let give_up = self
                    .registry
                    .kinds
                    .get(job.kind.as_str())
                    .map(|k| k.give_up);
                let payload = job.payload.clone();
                self.db
                    .write(move |c| {
                        Ok(diesel::Connection::transaction(c, |c| {
                            if queue::bury(c, id, &token, &message)? {
                                if let Some(give_up) = give_up {
                                    give_up(c, &payload, &message, attempts)?;
                                }
                            }
                            diesel::QueryResult::Ok(())
                        })?)
                    })
                    .await?;
                // Giving up may have queued more work (a failed release's
                // subscribers wait to be told).
                self.wake.notify_one();
            }
        }
        Ok(())
    }

    /// Stops: no more claims (the loop has ended), running jobs finish
    /// within the shutdown timeout's drain budget or are stopped, and every
    /// claim still held is handed back so that the next worker starts it at
    /// once; all of it within the shutdown timeout.
    async fn stop(&self, mut tasks: JoinSet<()>, heartbeat: tokio::task::JoinHandle<()>) {
        let running = tasks.len();
        if running > 0 {
            tracing::info!(running, "waiting for running jobs");
        }
        let drained = tokio::time::timeout(self.settings.drain_budget(), async {
            while tasks.join_next().await.is_some() {}
        })
        .await
        .is_ok();
        if !drained {
            tracing::warn!(
                still_running = tasks.len(),
                "jobs still running at the shutdown timeout; stopping them"
            );
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
        heartbeat.abort();
        let worker = self.worker.clone();
        match self
            .db
            .write(move |c| Ok(queue::hand_back(c, &worker)?))
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(jobs = n, "claims handed back for the next worker"),
            Err(e) => {
                tracing::warn!(error = %e, "could not hand back claims; their leases run out")
            }
        }
    }
}

/// Exponential backoff with "equal jitter": half the delay is fixed, half
/// random (`jitter` in [0, 1)), so retries of many jobs spread out.
pub fn backoff(attempt: i32, queue: &QueueSettings, jitter: f64) -> Duration {
    let exponent = u32::try_from(attempt.saturating_sub(1))
        .unwrap_or(0)
        .min(30);
    let full = queue
        .backoff_base
        .saturating_mul(2u32.saturating_pow(exponent))
        .min(queue.backoff_max);
    full / 2 + (full / 2).mul_f64(jitter.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(base_ms: u64, max_ms: u64) -> QueueSettings {
        QueueSettings {
            backoff_base: Duration::from_millis(base_ms),
            backoff_max: Duration::from_millis(max_ms),
            ..QueueSettings::default()
        }
    }

    #[test]
    fn backoff_doubles_per_attempt_within_its_jitter_band() {
        let q = queue(1000, 1_000_000);
        for (attempt, full) in [(1, 1000), (2, 2000), (3, 4000), (6, 32000)] {
            assert_eq!(backoff(attempt, &q, 0.0), Duration::from_millis(full / 2));
            assert_eq!(backoff(attempt, &q, 1.0), Duration::from_millis(full));
            let mid = backoff(attempt, &q, 0.5);
            assert!(mid > Duration::from_millis(full / 2) && mid < Duration::from_millis(full));
        }
    }

    #[test]
    fn backoff_is_capped() {
        let q = queue(1000, 10_000);
        assert_eq!(backoff(50, &q, 1.0), Duration::from_millis(10_000));
        assert_eq!(backoff(i32::MAX, &q, 0.0), Duration::from_millis(5_000));
    }

    #[test]
    fn a_reason_says_what_failed_why_and_how_often() {
        assert_eq!(
            reason("could not get the approvers", "HTTP 500", 3),
            "could not get the approvers: HTTP 500 (gave up after 3 attempts)"
        );
        assert!(reason("x", "y", 1).ends_with("(gave up after 1 attempt)"));
    }
}
