//! The fault suite: the real `greenlight` binary as separate processes on
//! loopback, a real SMTP server and an approvers stub whose behaviour each
//! test controls. Every test prints one `CHAOS` line of figures (also
//! appended to the file named by `CHAOS_REPORT`).
//!
//! `make test` runs the quick form; `make chaos` the full one
//! (`CHAOS_FULL=1`: more releases, more kills, a 60 s mail outage).

#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

mod approvers_faults;
mod crash;
mod graceful;
mod hostile;
mod outage;
mod recovery;
mod replicas;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::time::Duration;

use helpers::{Mail, SmtpServer, TestDb};
use serde_json::{json, Value};
use wiremock::MockServer;

/// The full run or the quick one CI affords.
pub fn full() -> bool {
    std::env::var("CHAOS_FULL").is_ok_and(|v| v == "1")
}

/// Picks the quick or the full figure.
pub fn scale(quick: usize, full_size: usize) -> usize {
    if full() {
        full_size
    } else {
        quick
    }
}

/// Prints one line of figures and appends it to `CHAOS_REPORT` if set.
pub fn report(name: &str, figures: &[(&str, String)]) {
    let line = format!(
        "CHAOS {name} [{}]: {}",
        if full() { "full" } else { "quick" },
        figures
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("{line}");
    if let Ok(path) = std::env::var("CHAOS_REPORT") {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        writeln!(file, "{line}").unwrap();
    }
}

/// Jobs each service runs at once: what bounds the duplicates a kill can cause.
pub const CONCURRENCY: usize = 8;

/// The environment of a service under test: short backoff and lease, so
/// that recoveries happen within a test's time.
pub fn chaos_env(db: &TestDb, smtp_port: u16, approvers: &MockServer) -> HashMap<String, String> {
    let mut env = helpers::test_env(db, smtp_port, approvers);
    for (k, v) in [
        ("GREENLIGHT_JOB_MAX_ATTEMPTS", "25"),
        ("GREENLIGHT_JOB_BACKOFF", "50ms"),
        ("GREENLIGHT_JOB_BACKOFF_MAX", "1000ms"),
        ("GREENLIGHT_JOB_LEASE", "1000ms"),
        ("GREENLIGHT_JOB_POLL", "50ms"),
        ("GREENLIGHT_JOB_TIMEOUT", "10000ms"),
        ("GREENLIGHT_DB_TIMEOUT", "2000ms"),
    ] {
        env.insert(k.to_owned(), v.to_owned());
    }
    env.insert(
        "GREENLIGHT_JOB_CONCURRENCY".to_owned(),
        CONCURRENCY.to_string(),
    );
    env.remove("GREENLIGHT_HTTP_WORKERS");
    env
}

pub fn release(i: usize) -> Value {
    json!({"ReleaseName": format!("chaos-{i}"), "ReleaseId": format!("{i}"), "TeamProject": "Chaos"})
}

/// POSTs until the service answers 2xx (a pipeline polls again after a
/// failed call); returns the number of failed tries.
pub async fn post_until_answered(client: &reqwest::Client, port: u16, body: &Value) -> usize {
    let mut failures = 0;
    loop {
        match client
            .post(format!("http://127.0.0.1:{port}/release"))
            .json(body)
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => return failures,
            Ok(r) => panic!("POST /release answered {} for {body}", r.status()),
            Err(_) => {
                failures += 1;
                assert!(failures < 2000, "the service never came back");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// Emails by Message-ID (stable per approval request): how many distinct,
/// and how many arrived more than once.
pub fn tally_mails(mails: &[Mail]) -> (usize, usize) {
    let mut by_id: BTreeMap<&str, usize> = BTreeMap::new();
    for m in mails {
        *by_id.entry(m.message_id.as_str()).or_default() += 1;
    }
    let duplicated = by_id.values().map(|n| n - 1).sum();
    (by_id.len(), duplicated)
}

/// Waits until `n` distinct emails arrived and the queue is empty.
pub async fn wait_for_delivery(db: &TestDb, smtp: &SmtpServer, n: usize, limit: Duration) {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        let (distinct, _) = tally_mails(&smtp.mails());
        if distinct >= n && db.count(helpers::WORK_QUEUED) == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Opens every distinct approval link once; returns the statuses seen.
pub async fn approve_all(client: &reqwest::Client, address: &str, mails: &[Mail]) -> Vec<u16> {
    let mut seen = std::collections::BTreeSet::new();
    let mut statuses = Vec::new();
    for mail in mails {
        if !seen.insert(mail.message_id.clone()) {
            continue;
        }
        let response = client
            .get(format!("{address}/approval?token={}", mail.token()))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    statuses
}

pub fn panicked(output: &str) -> usize {
    output.matches("panicked").count()
}
