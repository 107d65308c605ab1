//! The background worker: claims jobs from the queue and runs them, with
//! retries and backoff. Several workers (tasks here, or other replicas)
//! share one queue safely: see `db::jobs`.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use lettre::message::Mailbox;
use rand::Rng;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::approvers::{ApproversClient, FetchError};
use crate::config::QueueSettings;
use crate::db::jobs::{self, JobKind};
use crate::db::models::{ClaimedJob, NewApprovalRow};
use crate::db::{self, releases, DbError, Pool};
use crate::domain::ReleaseKey;
use crate::mailer::{ApprovalEmail, MailError, Mailer};
use crate::token::{ApprovalClaims, TokenKeys};

/// What the jobs need, shared by every worker task.
pub struct JobContext {
    pub pool: Pool,
    pub approvers: ApproversClient,
    pub mailer: Mailer,
    pub tokens: TokenKeys,
    pub queue: QueueSettings,
    /// Woken when this process enqueues work, so it starts at once.
    pub wake: Arc<Notify>,
}

#[derive(Debug, thiserror::Error)]
enum JobError {
    #[error("{0}")]
    Transient(String),
    #[error("{0}")]
    Permanent(String),
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

/// Runs `queue.concurrency` worker tasks until `shutdown` turns true; each
/// finishes the job it is running first.
pub async fn run(ctx: Arc<JobContext>, shutdown: watch::Receiver<bool>) {
    let mut tasks = JoinSet::new();
    for _ in 0..ctx.queue.concurrency {
        tasks.spawn(work(ctx.clone(), shutdown.clone()));
    }
    while tasks.join_next().await.is_some() {}
}

async fn work(ctx: Arc<JobContext>, mut shutdown: watch::Receiver<bool>) {
    while !*shutdown.borrow() {
        match claim(&ctx).await {
            Ok(Some(job)) => {
                run_job(&ctx, job).await;
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "could not claim a job"),
        }
        tokio::select! {
            () = ctx.wake.notified() => {}
            () = tokio::time::sleep(ctx.queue.poll_interval) => {}
            _ = shutdown.changed() => {}
        }
    }
}

fn lease(ctx: &JobContext) -> chrono::Duration {
    chrono::Duration::from_std(ctx.queue.lease).unwrap_or(chrono::Duration::MAX)
}

async fn claim(ctx: &JobContext) -> Result<Option<ClaimedJob>, DbError> {
    let lease = lease(ctx);
    db::run(&ctx.pool, move |conn| {
        let now = db::now();
        Ok(jobs::claim(conn, now, now + lease, &random_id())?)
    })
    .await
}

/// Keeps a running job's lease alive (a slow mail server must not make
/// another worker start the same job); never returns.
async fn heartbeat(ctx: &JobContext, job: &ClaimedJob) {
    let mut tick = tokio::time::interval(ctx.queue.lease / 3);
    tick.tick().await;
    loop {
        tick.tick().await;
        let (job, lease) = (job.clone(), lease(ctx));
        match db::run(&ctx.pool, move |c| {
            Ok(jobs::extend_lease(c, &job, db::now() + lease)?)
        })
        .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!("the job's lease was lost; its outcome will not be recorded")
            }
            Err(e) => tracing::warn!(error = %e, "could not extend the job's lease"),
        }
    }
}

async fn run_job(ctx: &JobContext, job: ClaimedJob) {
    let span = tracing::info_span!(
        "job",
        id = job.id,
        kind = %job.kind,
        release = job.release_pk,
        attempt = job.attempts
    );
    async {
        let result = if job.attempts > job.max_attempts {
            // Claimed again after its worker died during the last attempt.
            Err(JobError::Permanent(job.last_error.clone().unwrap_or_else(
                || "the worker stopped while running it".to_owned(),
            )))
        } else {
            let work = AssertUnwindSafe(dispatch(ctx, &job)).catch_unwind();
            let limit = ctx.queue.job_timeout;
            tokio::select! {
                outcome = tokio::time::timeout(limit, work) => match outcome {
                    Ok(Ok(result)) => result,
                    Ok(Err(_)) => Err(JobError::Transient("the job panicked".to_owned())),
                    Err(_) => Err(JobError::Transient(format!(
                        "the attempt took longer than {} ms",
                        limit.as_millis()
                    ))),
                },
                () = heartbeat(ctx, &job) => unreachable!("the heartbeat never ends"),
            }
        };
        if let Err(e) = settle(ctx, &job, result).await {
            // The lease runs out and the job is claimed again.
            tracing::error!(error = %e, "could not record the job's outcome");
        }
    }
    .instrument(span)
    .await;
}

async fn dispatch(ctx: &JobContext, job: &ClaimedJob) -> Result<(), JobError> {
    match JobKind::parse(&job.kind) {
        Some(JobKind::ProcessRelease) => process_release(ctx, job).await,
        Some(JobKind::SendApprovalEmail) => send_approval_email(ctx, job).await,
        None => Err(JobError::Permanent(format!(
            "unknown job kind {:?}",
            job.kind
        ))),
    }
}

/// Records what happened: nothing more on success (the job completed
/// itself in its own transaction), a retry after a transient error, or the
/// release failed once there is no point in trying again.
async fn settle(
    ctx: &JobContext,
    job: &ClaimedJob,
    result: Result<(), JobError>,
) -> Result<(), DbError> {
    let error = match result {
        Ok(()) => return Ok(()),
        Err(e) => e,
    };
    let job = job.clone();
    match error {
        JobError::Transient(message) if job.attempts < job.max_attempts => {
            let delay = backoff(job.attempts, &ctx.queue, rand::rng().random());
            tracing::warn!(error = %message, retry_in_ms = delay.as_millis() as u64, "job failed; will retry");
            let run_at =
                db::now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
            db::run(&ctx.pool, move |conn| {
                Ok(jobs::reschedule(conn, &job, &message, run_at)?)
            })
            .await?;
        }
        JobError::Transient(message) | JobError::Permanent(message) => {
            let reason = format!(
                "{}: {message} (gave up after {} attempt{})",
                what_failed(&job),
                job.attempts.min(job.max_attempts),
                if job.attempts == 1 { "" } else { "s" }
            );
            tracing::error!(reason = %reason, "job failed for good; failing the release");
            db::run(&ctx.pool, move |conn| {
                Ok(releases::fail_with_job(conn, &job, &reason, db::now())?)
            })
            .await?;
        }
    }
    Ok(())
}

fn what_failed(job: &ClaimedJob) -> &'static str {
    match JobKind::parse(&job.kind) {
        Some(JobKind::ProcessRelease) => "could not get the approvers",
        Some(JobKind::SendApprovalEmail) => "could not send an approval email",
        None => "unknown job",
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

async fn process_release(ctx: &JobContext, job: &ClaimedJob) -> Result<(), JobError> {
    let pk = job.release_pk;
    let release = db::run(&ctx.pool, move |c| Ok(releases::by_pk(c, pk)?)).await?;
    if release.status().is_decided() {
        let job = job.clone();
        db::run(&ctx.pool, move |c| Ok(jobs::complete(c, &job)?)).await?;
        return Ok(());
    }
    let key = ReleaseKey::parse(&release.team_project, &release.release_id)
        .map_err(|_| JobError::Permanent("the stored release key is not valid".to_owned()))?;
    let approvers = ctx.approvers.fetch(&key).await.map_err(|e| match e {
        FetchError::Transient(m) => JobError::Transient(m),
        FetchError::Permanent(m) => JobError::Permanent(m),
    })?;
    let now = db::now();
    let rows: Vec<NewApprovalRow> = approvers
        .iter()
        .map(|a| NewApprovalRow {
            release_pk: pk,
            email: a.email.to_string(),
            email_key: a.email.normalized(),
            name: a.name.clone(),
            token_id: random_id(),
            token_expires_at: release.expires_at,
            created_at: now,
        })
        .collect();
    let (job, max_attempts) = (job.clone(), ctx.queue.max_attempts);
    let queued = db::run(&ctx.pool, move |c| {
        Ok(releases::store_approvers(c, &job, rows, max_attempts, now)?)
    })
    .await?;
    match queued {
        Some(n) => {
            tracing::info!(approvers = n, "approvers stored, emails queued");
            for _ in 0..n {
                ctx.wake.notify_one();
            }
        }
        None => tracing::warn!(
            "lease lost before the approvers were stored; another worker has the job"
        ),
    }
    Ok(())
}

async fn send_approval_email(ctx: &JobContext, job: &ClaimedJob) -> Result<(), JobError> {
    let approval_pk = job
        .approval_pk
        .ok_or_else(|| JobError::Permanent("an email job without an approval".to_owned()))?;
    let release_pk = job.release_pk;
    let (release, approval) = db::run(&ctx.pool, move |c| {
        Ok((
            releases::by_pk(c, release_pk)?,
            releases::approval_by_pk(c, approval_pk)?,
        ))
    })
    .await?;
    if approval.email_sent_at.is_some() || release.status().is_decided() {
        let job = job.clone();
        db::run(&ctx.pool, move |c| Ok(jobs::complete(c, &job)?)).await?;
        return Ok(());
    }
    let claims = ApprovalClaims::new(
        &approval.email,
        &release.team_project,
        &release.release_id,
        &approval.token_id,
        approval.created_at,
        approval.token_expires_at,
    );
    let address = approval
        .email
        .parse()
        .map_err(|e| JobError::Permanent(format!("stored approver email is not valid: {e}")))?;
    let email = ApprovalEmail {
        to: Mailbox::new(approval.name.clone(), address),
        release_name: release.release_name.clone(),
        release_id: release.release_id.clone(),
        team_project: release.team_project.clone(),
        token: ctx.tokens.mint(&claims),
        expires_at: approval.token_expires_at.and_utc(),
        message_id: format!(
            "<approval-{}-{}@greenlight>",
            approval.id, approval.token_id
        ),
        file_stem: format!("release-{}-approval-{}", release.id, approval.id),
    };
    ctx.mailer.send(&email).await.map_err(|e| match e {
        MailError::Transient(m) => JobError::Transient(format!("{}: {m}", approval.email)),
        MailError::Permanent(m) => JobError::Permanent(format!("{}: {m}", approval.email)),
    })?;
    tracing::info!(
        approval = approval.id,
        "approval email accepted by the mail server"
    );
    // The server has the email now: try hard to record that, because a
    // retry of this job would send a second copy.
    let mut attempt = 0;
    loop {
        let job = job.clone();
        match db::run(&ctx.pool, move |c| {
            Ok(releases::mark_email_sent(c, &job, approval_pk, db::now())?)
        })
        .await
        {
            Ok(()) => return Ok(()),
            Err(e) if attempt < 5 => {
                attempt += 1;
                tracing::warn!(error = %e, "could not record the sent email; trying again");
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// 128 random bits, hex-encoded: token ids and lock tokens.
pub fn random_id() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
    fn random_ids_are_128_bit_hex_and_distinct() {
        let (a, b) = (random_id(), random_id());
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
