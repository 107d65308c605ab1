//! How fast the jobs of a dead process run again, with the default lease:
//! kill -9 (twice) while approval emails are in flight to a slow mail
//! server, then the time from the last restart to the last email; and with
//! three replicas, the time from one replica's death to the last of its
//! emails sent by the others.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::both_backends;
use crate::helpers::{approvers_stub, Backend, Service, SmtpServer, TestDb};
use crate::{chaos_env, post_until_answered, release, report, scale, tally_mails};

both_backends!(
    a_restart_runs_the_dead_process_jobs_within_seconds,
    replicas_take_over_a_dead_replica_jobs_within_seconds,
);

/// Each message takes this long to be accepted: emails are in flight when
/// the process dies.
const SMTP_DELAY: Duration = Duration::from_millis(400);

/// The chaos environment with the production defaults of the queue.
fn default_queue_env(
    db: &TestDb,
    smtp: &SmtpServer,
    approvers: &wiremock::MockServer,
) -> HashMap<String, String> {
    let mut env = chaos_env(db, smtp.port, approvers);
    for key in [
        "GREENLIGHT_JOB_LEASE",
        "GREENLIGHT_JOB_POLL",
        "GREENLIGHT_JOB_CONCURRENCY",
    ] {
        env.remove(key);
    }
    env
}

/// Waits for `n` distinct emails; returns when the last one arrived
/// (measured from `since`), or `None` after `limit`.
async fn last_email_after(
    smtp: &SmtpServer,
    n: usize,
    since: Instant,
    limit: Duration,
) -> Option<Duration> {
    while since.elapsed() < limit {
        if tally_mails(&smtp.mails()).0 >= n {
            return Some(since.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

async fn emails_in_flight(db: &TestDb, smtp: &SmtpServer, expected: usize) {
    for _ in 0..500 {
        let queued = db.count("SELECT COUNT(*) FROM approvals") as usize;
        if queued == expected && smtp.mails().len() < expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the emails were never in flight");
}

async fn a_restart_runs_the_dead_process_jobs_within_seconds(backend: Backend) {
    let releases = scale(20, 40);
    let db = TestDb::new(backend);
    let smtp = SmtpServer::start_slow(SMTP_DELAY);
    let approvers = approvers_stub(&["a1@example.com", "a2@example.com"], Duration::ZERO).await;
    let env = default_queue_env(&db, &smtp, &approvers);
    let port = crate::helpers::free_port();
    let log = crate::helpers::log_file("recovery");
    let first = Service::start_on(&env, port, &log).await;
    let client = reqwest::Client::new();
    for i in 0..releases {
        post_until_answered(&client, port, &release(i)).await;
    }
    let expected = releases * 2;
    emails_in_flight(&db, &smtp, expected).await;
    first.kill();
    // Killed again shortly after its restart, with its own claims in flight.
    let second = Service::start_on(&env, port, &log).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    second.kill();
    let restarted = Instant::now();
    let last = Service::start_on(&env, port, &log).await;
    let recovery = last_email_after(&smtp, expected, restarted, Duration::from_secs(60)).await;
    let (distinct, duplicated) = tally_mails(&smtp.mails());
    report(
        "recovery_restart",
        &[
            ("backend", format!("{backend:?}")),
            ("emails", expected.to_string()),
            ("smtp_delay_ms", SMTP_DELAY.as_millis().to_string()),
            ("kills", "2".into()),
            (
                "restart_to_last_email_ms",
                recovery.map_or("never".into(), |d| d.as_millis().to_string()),
            ),
            ("lost", expected.saturating_sub(distinct).to_string()),
            ("duplicated", duplicated.to_string()),
        ],
    );
    let recovery = recovery.expect("every email sent after the restart");
    assert!(recovery < Duration::from_secs(10), "{recovery:?}");
    // At most the jobs in flight at each kill (32 each, the default).
    assert!(duplicated <= 2 * 32, "{duplicated}");
    assert_eq!(crate::panicked(&last.output()), 0);
}

async fn replicas_take_over_a_dead_replica_jobs_within_seconds(backend: Backend) {
    let releases = scale(20, 40);
    let db = TestDb::new(backend);
    let smtp = SmtpServer::start_slow(SMTP_DELAY);
    let approvers = approvers_stub(&["a1@example.com", "a2@example.com"], Duration::ZERO).await;
    let env = default_queue_env(&db, &smtp, &approvers);
    // The first replica alone takes the work, then dies; two others were
    // idle all along and take over.
    let doomed = Service::start(&env).await;
    let client = reqwest::Client::new();
    for i in 0..releases {
        post_until_answered(&client, doomed.port, &release(i)).await;
    }
    let expected = releases * 2;
    emails_in_flight(&db, &smtp, expected).await;
    let others = [Service::start(&env).await, Service::start(&env).await];
    doomed.kill();
    let died = Instant::now();
    let takeover = last_email_after(&smtp, expected, died, Duration::from_secs(60)).await;
    let (distinct, duplicated) = tally_mails(&smtp.mails());
    report(
        "recovery_replicas",
        &[
            ("backend", format!("{backend:?}")),
            ("replicas", "3".into()),
            ("emails", expected.to_string()),
            ("smtp_delay_ms", SMTP_DELAY.as_millis().to_string()),
            (
                "death_to_last_email_ms",
                takeover.map_or("never".into(), |d| d.as_millis().to_string()),
            ),
            ("lost", expected.saturating_sub(distinct).to_string()),
            ("duplicated", duplicated.to_string()),
        ],
    );
    let takeover = takeover.expect("every email sent by the other replicas");
    assert!(takeover < Duration::from_secs(10), "{takeover:?}");
    assert!(duplicated <= 32, "{duplicated}");
    let panics: usize = others.iter().map(|r| crate::panicked(&r.output())).sum();
    assert_eq!(panics, 0);
}
