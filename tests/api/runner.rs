//! The queue's mechanism, with a probe job whose every run the test sees
//! and steers: a claim held while its job runs (past several leases, with a
//! second replica polling), a panic retried, a job whose lease was taken
//! over stopping before its side effect, a scheduled job not run early, and
//! claims handed back at shutdown. Real databases, the real runner; the
//! probe is a kind of no wing, with a context of its own: the queue knows
//! no capability.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use greenlight::db::{self, ConnOptions, Db};
use greenlight::queue::{self, Claim, Job, JobError, QueueSettings, Registry, RunAt, Runner};
use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Notify, Semaphore};

use crate::both_backends;
use crate::helpers::{Backend, TestDb};

both_backends!(
    a_running_jobs_claim_is_held_while_it_runs,
    a_panic_in_a_job_is_retried,
    a_job_whose_lease_was_taken_over_does_not_act,
    a_scheduled_job_does_not_run_early,
    a_stopping_runner_hands_its_claims_back,
);

/// What a test sees of, and how it steers, one probe job.
struct ProbeState {
    runs: AtomicUsize,
    side_effects: AtomicUsize,
    ran_at: Mutex<Vec<DateTime<Utc>>>,
    panic_first: AtomicBool,
    /// Runs wait for a permit before their side effect.
    block: AtomicBool,
    started: Notify,
    proceed: Semaphore,
}

impl Default for ProbeState {
    fn default() -> Self {
        Self {
            runs: AtomicUsize::new(0),
            side_effects: AtomicUsize::new(0),
            ran_at: Mutex::new(Vec::new()),
            panic_first: AtomicBool::new(false),
            block: AtomicBool::new(false),
            started: Notify::new(),
            proceed: Semaphore::new(0),
        }
    }
}

static PROBES: LazyLock<Mutex<HashMap<String, Arc<ProbeState>>>> = LazyLock::new(Default::default);

fn probe_state(key: &str) -> Arc<ProbeState> {
    PROBES
        .lock()
        .unwrap()
        .entry(key.to_owned())
        .or_default()
        .clone()
}

#[derive(Serialize, Deserialize)]
struct Probe {
    key: String,
}

/// All a probe needs: the database, to check its claim.
struct ProbeContext {
    db: Db,
}

impl Job for Probe {
    const KIND: &'static str = "test_probe";
    type Context = ProbeContext;

    fn subject(&self) -> String {
        self.key.clone()
    }

    async fn run(&self, ctx: &ProbeContext, claim: &Claim) -> Result<(), JobError> {
        let p = probe_state(&self.key);
        let n = p.runs.fetch_add(1, Ordering::SeqCst) + 1;
        p.ran_at.lock().unwrap().push(Utc::now());
        if n == 1 && p.panic_first.load(Ordering::SeqCst) {
            panic!("the probe panics on its first run");
        }
        if p.block.load(Ordering::SeqCst) {
            p.started.notify_one();
            p.proceed.acquire().await.expect("open semaphore").forget();
        }
        // What a real job does before an email.
        claim.ensure_held(&ctx.db).await?;
        p.side_effects.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// Short, so that tests watch several leases pass; long enough that a
/// heartbeat (every third of it) delayed by a starved machine does not lose
/// the claim: at 600 ms one run in about 200 lost it while CI built on the
/// same two cores, and the retaken job then waited forever for a permit.
const LEASE: Duration = Duration::from_millis(1200);

fn queue_settings(lease: Duration) -> QueueSettings {
    QueueSettings {
        max_attempts: 3,
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
        lease,
        poll_interval: Duration::from_millis(50),
        concurrency: 4,
        job_timeout: Duration::from_secs(20),
        shutdown_timeout: Duration::from_millis(300),
    }
}

struct Harness {
    db: TestDb,
    key: String,
    lease: Duration,
    stops: Vec<watch::Sender<bool>>,
}

impl Harness {
    async fn new(backend: Backend) -> Self {
        let db = TestDb::new(backend);
        let url = db.url.clone();
        tokio::task::spawn_blocking(move || db::migrate(&url).unwrap())
            .await
            .unwrap();
        Self {
            db,
            key: greenlight::random_id(),
            lease: LEASE,
            stops: Vec::new(),
        }
    }

    fn state(&self) -> Arc<ProbeState> {
        probe_state(&self.key)
    }

    /// A runner as a replica runs one: its own pool, its own worker id.
    async fn runner(&self) -> (Runner, Db) {
        let url = self.db.url.clone();
        let handle = tokio::task::spawn_blocking(move || {
            Db::open(
                &url,
                4,
                Duration::from_secs(2),
                ConnOptions::default(),
                None,
            )
        })
        .await
        .unwrap()
        .unwrap();
        let ctx = Arc::new(ProbeContext { db: handle.clone() });
        let registry = Registry::default().register::<Probe>(ctx);
        (
            Runner::new(
                handle.clone(),
                registry,
                queue_settings(self.lease),
                Arc::new(Notify::new()),
                Default::default(),
            ),
            handle,
        )
    }

    async fn start_runner(&mut self) -> tokio::task::JoinHandle<()> {
        let (runner, _) = self.runner().await;
        let (stop, stopped) = watch::channel(false);
        self.stops.push(stop);
        tokio::spawn(runner.run(stopped))
    }

    async fn enqueue(&self, run_at: RunAt) {
        let (url, job) = (
            self.db.url.clone(),
            Probe {
                key: self.key.clone(),
            },
        );
        tokio::task::spawn_blocking(move || {
            let mut conn = greenlight::db::Manager::new(&url).establish().unwrap();
            queue::enqueue(&mut conn, &job, 3, run_at).unwrap();
        })
        .await
        .unwrap();
    }

    fn jobs_left(&self) -> i64 {
        self.db.count("SELECT COUNT(*) FROM jobs")
    }

    async fn wait_until(&self, what: &str, mut done: impl FnMut() -> bool) {
        for _ in 0..200 {
            if done() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting until {what}: {}", self.db.dump_jobs());
    }

    async fn wait_started(&self) {
        tokio::time::timeout(Duration::from_secs(10), self.state().started.notified())
            .await
            .expect("the probe started");
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        for stop in &self.stops {
            let _ = stop.send(true);
        }
    }
}

async fn a_running_jobs_claim_is_held_while_it_runs(backend: Backend) {
    let mut h = Harness::new(backend).await;
    h.state().block.store(true, Ordering::SeqCst);
    h.start_runner().await;
    h.enqueue(RunAt::Now).await;
    h.wait_started().await;
    // A second replica polls all along, for several leases.
    h.start_runner().await;
    tokio::time::sleep(LEASE * 4).await;
    assert_eq!(
        h.state().runs.load(Ordering::SeqCst),
        1,
        "nobody else ran it"
    );
    assert_eq!(
        h.db.count(
            "SELECT COUNT(*) FROM jobs WHERE lock_token IS NOT NULL AND locked_by IS NOT NULL"
        ),
        1,
        "still claimed: {}",
        h.db.dump_jobs()
    );
    h.state().proceed.add_permits(1);
    h.wait_until("the job is done", || h.jobs_left() == 0).await;
    assert_eq!(h.state().runs.load(Ordering::SeqCst), 1);
    assert_eq!(h.state().side_effects.load(Ordering::SeqCst), 1);
}

async fn a_panic_in_a_job_is_retried(backend: Backend) {
    let mut h = Harness::new(backend).await;
    h.state().panic_first.store(true, Ordering::SeqCst);
    h.start_runner().await;
    h.enqueue(RunAt::Now).await;
    h.wait_until("the job is done", || h.jobs_left() == 0).await;
    assert_eq!(
        h.state().runs.load(Ordering::SeqCst),
        2,
        "run again after the panic"
    );
    assert_eq!(h.state().side_effects.load(Ordering::SeqCst), 1);
}

async fn a_job_whose_lease_was_taken_over_does_not_act(backend: Backend) {
    let mut h = Harness::new(backend).await;
    h.state().block.store(true, Ordering::SeqCst);
    h.start_runner().await;
    h.enqueue(RunAt::Now).await;
    h.wait_started().await;
    // Another replica takes the job over (as after an outage longer than a
    // lease): its lock token and lease replace ours.
    h.db.execute(
        "UPDATE jobs SET lock_token = 'stolen', locked_by = 'another-replica', \
         run_at = '2999-01-01 00:00:00'",
    );
    h.state().proceed.add_permits(1);
    tokio::time::sleep(LEASE * 2).await;
    assert_eq!(
        h.state().side_effects.load(Ordering::SeqCst),
        0,
        "no side effect without the lease"
    );
    // And nothing was recorded over the other replica's claim.
    assert_eq!(
        h.db.count("SELECT COUNT(*) FROM jobs WHERE lock_token = 'stolen' AND attempts = 1 AND last_error IS NULL"),
        1,
        "{}",
        h.db.dump_jobs()
    );
}

async fn a_scheduled_job_does_not_run_early(backend: Backend) {
    let mut h = Harness::new(backend).await;
    h.start_runner().await;
    let due = Utc::now() + chrono::Duration::milliseconds(1500);
    h.enqueue(RunAt::At(due.naive_utc())).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(h.state().runs.load(Ordering::SeqCst), 0, "not yet due");
    h.wait_until("the job is done", || h.jobs_left() == 0).await;
    let ran_at = h.state().ran_at.lock().unwrap()[0];
    assert!(ran_at >= due, "ran at {ran_at}, due at {due}");
    // On time, too: within the poll interval and a claim.
    assert!(
        ran_at - due < chrono::Duration::seconds(5),
        "ran at {ran_at}, due at {due}"
    );
}

async fn a_stopping_runner_hands_its_claims_back(backend: Backend) {
    let mut h = Harness::new(backend).await;
    // A lease far longer than the test: only a hand-back frees the job.
    h.lease = Duration::from_secs(60);
    h.state().block.store(true, Ordering::SeqCst);
    let runner = h.start_runner().await;
    h.enqueue(RunAt::Now).await;
    h.wait_started().await;
    // Stop: the job does not finish within the shutdown timeout.
    let _ = h.stops[0].send(true);
    tokio::time::timeout(Duration::from_secs(5), runner)
        .await
        .expect("the runner stops within its shutdown timeout")
        .unwrap();
    let db_now = match backend {
        Backend::Postgres => "(now() AT TIME ZONE 'UTC')",
        Backend::Sqlite => "strftime('%Y-%m-%d %H:%M:%f', 'now')",
    };
    assert_eq!(
        h.db.count(&format!(
            "SELECT COUNT(*) FROM jobs WHERE lock_token IS NULL AND locked_by IS NULL \
             AND attempts = 0 AND run_at <= {db_now}"
        )),
        1,
        "handed back, due now, the interrupted attempt not counted: {}",
        h.db.dump_jobs()
    );
    // The next runner takes it without waiting for the (long) lease.
    h.state().block.store(false, Ordering::SeqCst);
    h.start_runner().await;
    h.wait_until("the job is done", || h.jobs_left() == 0).await;
    assert_eq!(h.state().side_effects.load(Ordering::SeqCst), 1);
}
