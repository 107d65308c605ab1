//! How the queue claims, retries and stops.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// Attempts before a job gives up (and runs its `give_up`).
    pub max_attempts: i32,
    /// First retry delay; doubled at each attempt, with jitter.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// How long a claim lasts without renewal. Each process renews all of
    /// its claims every third of it, so a job whose process died runs
    /// again within about one lease (plus a poll).
    pub lease: Duration,
    /// How often idle workers look for due jobs (retries, other replicas'
    /// work); jobs enqueued by this process wake them at once.
    pub poll_interval: Duration,
    /// Jobs run at the same time by this process.
    pub concurrency: usize,
    /// The longest one attempt may run; beyond it the attempt counts as a
    /// transient failure (a peer that accepts a connection and then says
    /// nothing must not hold a job, whose lease is renewed, for ever).
    pub job_timeout: Duration,
    /// On SIGTERM, how long running jobs may take to finish before they
    /// are stopped and handed back (inside Kubernetes' 30 s grace period).
    pub shutdown_timeout: Duration,
}

/// What a stop needs after the jobs' drain: stopping the jobs still
/// running and handing their claims back (a write), with room to spare.
const STOP_MARGIN: Duration = Duration::from_secs(3);

impl QueueSettings {
    /// How long running jobs may take to finish on SIGTERM: the shutdown
    /// timeout less what stopping the rest and handing their claims back
    /// needs (at most half of it), so that the whole stop fits in the
    /// shutdown timeout (measured before: 25.1 s for 25 s, with jobs stuck
    /// behind a mail server that never greets).
    pub fn drain_budget(&self) -> Duration {
        self.shutdown_timeout
            .saturating_sub(STOP_MARGIN.min(self.shutdown_timeout / 2))
    }
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            max_attempts: 20,
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(300),
            lease: Duration::from_secs(5),
            poll_interval: Duration::from_secs(1),
            concurrency: 32,
            job_timeout: Duration::from_secs(120),
            shutdown_timeout: Duration::from_secs(25),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drain_leaves_room_for_the_rest_of_the_stop() {
        let with = |secs: f64| QueueSettings {
            shutdown_timeout: Duration::from_secs_f64(secs),
            ..QueueSettings::default()
        };
        assert_eq!(with(25.0).drain_budget(), Duration::from_secs(22));
        assert_eq!(with(4.0).drain_budget(), Duration::from_secs(2));
        assert_eq!(with(0.3).drain_budget(), Duration::from_millis(150));
        assert_eq!(with(0.0).drain_budget(), Duration::ZERO);
    }
}
