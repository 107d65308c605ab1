//! Prometheus metrics (`GET /metrics`). Counters and histograms are
//! recorded where things happen: requests, releases, job runs, emails,
//! outbound calls; each replica counts its own, as Prometheus expects. The
//! queue's gauges are read from the database at each scrape instead, so
//! every replica reports the same, correct figures for the shared queue.
//! Labels are dimensions only: never a name, an email or an id.

use std::sync::OnceLock;
use std::time::Instant;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::db::{jobs as queue, stacks, Db, DbError};
use crate::domain::policy::ReleaseStatus;

/// Request and outbound latencies: 1 ms to 30 s.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

const HTTP_REQUESTS: &str = "greenlight_http_requests_total";
const HTTP_DURATION: &str = "greenlight_http_request_duration_seconds";
const RELEASES_CREATED: &str = "greenlight_releases_created_total";
const RELEASES_DECIDED: &str = "greenlight_releases_decided_total";
const JOBS: &str = "greenlight_jobs";
const JOB_RUNS: &str = "greenlight_job_runs_total";
const OLDEST_READY: &str = "greenlight_oldest_ready_job_age_seconds";
const EMAILS_SENT: &str = "greenlight_emails_sent_total";
const EMAILS_FAILED: &str = "greenlight_emails_failed_total";
const OUTBOUND: &str = "greenlight_outbound_requests_total";
const OUTBOUND_DURATION: &str = "greenlight_outbound_request_duration_seconds";
const PROVISIONING_WRITES: &str = "greenlight_provisioning_writes_total";
const RUNNER_CLAIMS: &str = "greenlight_runner_claims_total";
const RUNNER_CLAIM_WAIT: &str = "greenlight_runner_claim_wait_seconds";
const RUNNERS_LOST: &str = "greenlight_runners_lost_total";

/// A claim's long poll: 5 ms to its 60 s cap.
const CLAIM_WAIT_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
const DEPLOYMENT_TRANSITIONS: &str = "greenlight_deployment_transitions_total";
const DEPLOYMENT_LOG_BYTES: &str = "greenlight_deployment_log_bytes_total";
const DEPLOYMENT_LOG_FOLLOWERS: &str = "greenlight_deployment_log_followers";
const STACKS: &str = "greenlight_stacks";
const STACK_WAIT: &str = "greenlight_stack_wait_seconds";

/// How long a stack request waited for its grant: none to the 60 s a
/// request may wait.
const WAIT_BUCKETS: &[f64] = &[0.005, 0.05, 0.25, 1.0, 5.0, 15.0, 30.0, 60.0];

/// The states `greenlight_jobs` reports for every kind, zeros included.
const JOB_STATES: [&str; 3] = ["queued", "running", "failed"];

/// The process's recorder, installed on first use. One per process (the
/// `metrics` facade is global); a test process serving several apps
/// shares it.
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.to_owned()), BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(OUTBOUND_DURATION.to_owned()), BUCKETS)
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(RUNNER_CLAIM_WAIT.to_owned()),
                        CLAIM_WAIT_BUCKETS,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(STACK_WAIT.to_owned()), WAIT_BUCKETS)
                })
                .expect("the buckets are not empty")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_ok() {
                describe();
            }
            handle
        })
        .clone()
}

fn describe() {
    describe_counter!(
        DEPLOYMENT_TRANSITIONS,
        "Deployments that entered a state (their first included), by state"
    );
    describe_counter!(
        DEPLOYMENT_LOG_BYTES,
        "Bytes of deployment log appended and kept (past the limit, dropped bytes are not counted)"
    );
    describe_gauge!(
        DEPLOYMENT_LOG_FOLLOWERS,
        "Clients following a deployment's log on this replica"
    );
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by route template, method and status"
    );
    describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "Time to answer a request, by route template"
    );
    describe_counter!(RELEASES_CREATED, "Releases created by this process");
    describe_counter!(
        RELEASES_DECIDED,
        "Releases decided by this process, by final status"
    );
    describe_gauge!(JOBS, "Jobs in the queue (all replicas), by kind and state");
    describe_counter!(
        JOB_RUNS,
        "Job attempts run by this process, by kind and outcome"
    );
    describe_gauge!(
        OLDEST_READY,
        metrics::Unit::Seconds,
        "How long the longest-waiting due job has waited (all replicas)"
    );
    describe_counter!(
        EMAILS_SENT,
        "Emails accepted by the mail server (or written to the outbox)"
    );
    describe_counter!(EMAILS_FAILED, "Email attempts that failed");
    describe_counter!(OUTBOUND, "Requests to other systems, by target and outcome");
    describe_counter!(
        PROVISIONING_WRITES,
        "Writes to the inventory of provisioned versions, by operation"
    );
    describe_histogram!(
        OUTBOUND_DURATION,
        metrics::Unit::Seconds,
        "Time of requests to other systems, by target"
    );
    describe_counter!(
        RUNNER_CLAIMS,
        "Runners' claims answered by this process, by outcome (claimed, none)"
    );
    describe_histogram!(
        RUNNER_CLAIM_WAIT,
        metrics::Unit::Seconds,
        "How long a runner's claim waited before it got a deployment or none, by outcome"
    );
    describe_counter!(
        RUNNERS_LOST,
        "Deployments this process ended `error` because their runner's claim lapsed"
    );
    describe_gauge!(
        STACKS,
        "Test stacks (all replicas), by state: available, leased; and requests waiting"
    );
    describe_histogram!(
        STACK_WAIT,
        metrics::Unit::Seconds,
        "Time from a stack request to its grant"
    );
}

/// A stack granted after `seconds` (none when one was free).
pub fn stack_granted(seconds: f64) {
    histogram!(STACK_WAIT).record(seconds);
}

/// One answered request. `route` is the matched template (never the raw
/// path, which holds ids), or `unmatched`.
pub fn http_request(route: &str, method: &str, status: u16, seconds: f64) {
    counter!(HTTP_REQUESTS, "route" => route.to_owned(), "method" => method.to_owned(), "status" => status.to_string())
        .increment(1);
    histogram!(HTTP_DURATION, "route" => route.to_owned()).record(seconds);
}

/// A deployment entered `state` (counted once its change is committed).
pub fn deployment_transition(state: crate::domain::DeploymentState) {
    counter!(DEPLOYMENT_TRANSITIONS, "state" => state.as_str()).increment(1);
}

/// Bytes of log appended (after commit).
pub fn deployment_log_appended(bytes: u64) {
    counter!(DEPLOYMENT_LOG_BYTES).increment(bytes);
}

/// A follower of a log started (`1.0`) or ended (`-1.0`).
pub fn deployment_followers(delta: f64) {
    gauge!(DEPLOYMENT_LOG_FOLLOWERS).increment(delta);
}

pub fn release_created() {
    counter!(RELEASES_CREATED).increment(1);
}

pub fn release_decided(status: ReleaseStatus) {
    counter!(RELEASES_DECIDED, "status" => status.as_str()).increment(1);
}

/// One job attempt's outcome: `done`, `retry`, `failed` or `lease_lost`.
pub fn job_run(kind: &'static str, outcome: &'static str) {
    counter!(JOB_RUNS, "kind" => kind, "outcome" => outcome).increment(1);
}

pub fn email(sent: bool) {
    if sent {
        counter!(EMAILS_SENT).increment(1);
    } else {
        counter!(EMAILS_FAILED).increment(1);
    }
}

/// Targets of outbound requests.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    Approvers,
    Webhook,
    AzureDevops,
    Github,
    Slack,
}

impl Target {
    fn as_str(self) -> &'static str {
        match self {
            Self::Approvers => "approvers",
            Self::Webhook => "webhook",
            Self::AzureDevops => "azure_devops",
            Self::Github => "github",
            Self::Slack => "slack",
        }
    }
}

/// How an outbound call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// With this status.
    Answered(u16),
    TimedOut,
    /// No answer: the connection failed, or the call was refused.
    NoAnswer,
}

/// One outbound call: `ok` (2xx), `http_4xx`, `http_5xx`, `timeout` or
/// `error` (no answer).
pub fn outbound(target: Target, started: Instant, outcome: Outcome) {
    let outcome = match outcome {
        Outcome::Answered(s) if (200..300).contains(&s) => "ok",
        Outcome::Answered(s) if (400..500).contains(&s) => "http_4xx",
        Outcome::Answered(s) if (500..600).contains(&s) => "http_5xx",
        Outcome::Answered(_) => "http_other",
        Outcome::TimedOut => "timeout",
        Outcome::NoAnswer => "error",
    };
    counter!(OUTBOUND, "target" => target.as_str(), "outcome" => outcome).increment(1);
    histogram!(OUTBOUND_DURATION, "target" => target.as_str())
        .record(started.elapsed().as_secs_f64());
}

/// The text a scrape gets: the queue's gauges read now, then everything.
pub async fn render(db: &Db, kinds: &[&'static str]) -> Result<String, DbError> {
    let (counts, oldest, (available, leased), waiting) = db
        .read(|c| {
            Ok((
                queue::counts(c)?,
                queue::oldest_ready_age_seconds(c)?,
                stacks::counts(c)?,
                stacks::waiting(c)?,
            ))
        })
        .await?;
    for (state, n) in [
        ("available", available),
        ("leased", leased),
        ("waiting", waiting),
    ] {
        gauge!(STACKS, "state" => state).set(n as f64);
    }
    for kind in kinds {
        for state in JOB_STATES {
            let n = counts
                .iter()
                .find(|c| c.kind == *kind && c.state == state)
                .map_or(0, |c| c.n);
            gauge!(JOBS, "kind" => *kind, "state" => state).set(n as f64);
        }
    }
    gauge!(OLDEST_READY).set(oldest.unwrap_or(0.0).max(0.0));
    let handle = handle();
    handle.run_upkeep();
    Ok(handle.render())
}

/// A write to the inventory (`created`, `instances_added`,
/// `instance_deleted`, `deleted`, `deployed`).
pub fn provisioning_write(operation: &'static str) {
    counter!(PROVISIONING_WRITES, "operation" => operation).increment(1);
}

/// One claim answered: `claimed` or `none` (204), after `seconds`.
pub fn runner_claim(claimed: bool, seconds: f64) {
    let outcome = if claimed { "claimed" } else { "none" };
    counter!(RUNNER_CLAIMS, "outcome" => outcome).increment(1);
    histogram!(RUNNER_CLAIM_WAIT, "outcome" => outcome).record(seconds);
}

/// A deployment ended `error` because its runner went silent.
pub fn runner_lost() {
    counter!(RUNNERS_LOST).increment(1);
}
