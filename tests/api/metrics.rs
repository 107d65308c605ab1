//! `GET /metrics`, scraped from the real binary (the metrics recorder is
//! one per process).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::both_backends;
use crate::helpers::{
    approvers_stub, release_body, test_env, Backend, Service, SmtpServer, TestDb,
};

/// One sample: its name and labels (sorted), e.g.
/// `greenlight_jobs{kind="expire_release",state="queued"}`.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a sample line");
            let key = match series.split_once('{') {
                Some((name, labels)) => {
                    let mut labels: Vec<&str> = labels.trim_end_matches('}').split("\",").collect();
                    labels.sort_unstable();
                    let labels: Vec<String> = labels
                        .iter()
                        .map(|l| format!("{}\"", l.trim_end_matches('"')))
                        .collect();
                    format!("{name}{{{}}}", labels.join(","))
                }
                None => series.to_owned(),
            };
            (key, value.parse().expect("a number"))
        })
        .collect()
}

async fn scrape(address: &str) -> (String, BTreeMap<String, f64>) {
    let answer = reqwest::get(format!("{address}/metrics")).await.unwrap();
    assert_eq!(answer.status(), 200);
    assert!(answer.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = answer.text().await.unwrap();
    let samples = samples(&text);
    (text, samples)
}

fn value(samples: &BTreeMap<String, f64>, key: &str) -> f64 {
    *samples
        .get(key)
        .unwrap_or_else(|| panic!("no sample {key} in {samples:#?}"))
}

both_backends!(requests_releases_jobs_and_emails_are_counted_without_names);

async fn requests_releases_jobs_and_emails_are_counted_without_names(backend: Backend) {
    let db = TestDb::new(backend);
    let smtp = SmtpServer::start();
    let approvers = approvers_stub(&["ana@example.com"], Duration::ZERO).await;
    let service = Service::start(&test_env(&db, smtp.port, &approvers)).await;
    let client = reqwest::Client::new();
    let at = |path: &str| format!("{}{path}", service.address);

    let created = client
        .post(at("/release"))
        .json(&release_body("r-386"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 202);
    for _ in 0..200 {
        if !smtp.mails().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let token = smtp.mails()[0].token();
    let approved = client
        .get(at(&format!("/approval?token={token}")))
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(approved.status(), 200);
    let polled = client
        .post(at("/release"))
        .json(&release_body("r-386"))
        .send()
        .await
        .unwrap();
    assert_eq!(polled.status(), 200);
    assert_eq!(
        polled.json::<serde_json::Value>().await.unwrap()["status"],
        "approved"
    );
    for (path, status) in [
        ("/releases/Devx/r-386", 200),
        ("/releases/Devx/no-such-release", 404),
        ("/no/such/route", 404),
    ] {
        assert_eq!(
            client.get(at(path)).send().await.unwrap().status(),
            status,
            "{path}"
        );
    }

    let (text, m) = scrape(&service.address).await;
    let requests = |route: &str, method: &str, status: u16| {
        value(
            &m,
            &format!(
                "greenlight_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}}"
            ),
        )
    };
    assert_eq!(requests("/release", "POST", 202), 1.0);
    assert_eq!(requests("/release", "POST", 200), 1.0);
    assert_eq!(requests("/approval", "GET", 200), 1.0);
    // Route templates, never the raw paths with their ids.
    assert_eq!(
        requests("/releases/{team_project}/{release_id}", "GET", 200),
        1.0
    );
    assert_eq!(
        requests("/releases/{team_project}/{release_id}", "GET", 404),
        1.0
    );
    assert_eq!(requests("unmatched", "GET", 404), 1.0);
    assert_eq!(
        value(
            &m,
            "greenlight_http_request_duration_seconds_count{route=\"/release\"}"
        ),
        2.0
    );
    assert!(
        text.contains(
            "greenlight_http_request_duration_seconds_bucket{route=\"/release\",le=\"0.005\"}"
        ),
        "{text}"
    );

    assert_eq!(value(&m, "greenlight_releases_created_total"), 1.0);
    assert_eq!(
        value(&m, "greenlight_releases_decided_total{status=\"approved\"}"),
        1.0
    );
    assert_eq!(value(&m, "greenlight_emails_sent_total"), 1.0);
    assert!(
        !m.contains_key("greenlight_emails_failed_total"),
        "nothing failed"
    );
    assert_eq!(
        value(
            &m,
            "greenlight_outbound_requests_total{outcome=\"ok\",target=\"approvers\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &m,
            "greenlight_outbound_request_duration_seconds_count{target=\"approvers\"}"
        ),
        1.0
    );
    for kind in ["process_release", "send_approval_email"] {
        assert_eq!(
            value(
                &m,
                &format!("greenlight_job_runs_total{{kind=\"{kind}\",outcome=\"done\"}}")
            ),
            1.0,
            "{kind}"
        );
    }
    // The decision cancelled the scheduled expiry: the queue is empty, and
    // says so for every kind and state.
    for kind in ["process_release", "expire_release", "send_webhook"] {
        for state in ["queued", "running", "failed"] {
            assert_eq!(
                value(
                    &m,
                    &format!("greenlight_jobs{{kind=\"{kind}\",state=\"{state}\"}}")
                ),
                0.0
            );
        }
    }
    assert_eq!(value(&m, "greenlight_oldest_ready_job_age_seconds"), 0.0);
    // Counts only: no project, release id or email in any label.
    for private in [
        "Devx",
        "r-386",
        "no-such-release",
        "ana@example.com",
        "/no/such",
    ] {
        assert!(!text.contains(private), "{private} in the metrics:\n{text}");
    }
}

both_backends!(the_queue_gauges_agree_across_replicas);

/// Two replicas on one database report the shared queue alike, whichever
/// of them queued, ran or buried the jobs.
async fn the_queue_gauges_agree_across_replicas(backend: Backend) {
    let db = TestDb::new(backend);
    let smtp = SmtpServer::start();
    let approvers = approvers_stub(&["ana@example.com"], Duration::ZERO).await;
    wiremock::Mock::given(wiremock::matchers::path_regex("^/approvers/Broken/"))
        .respond_with(wiremock::ResponseTemplate::new(404))
        .with_priority(1)
        .mount(&approvers)
        .await;
    let mut env = test_env(&db, smtp.port, &approvers);
    // Workers wake for what their own process queues, and otherwise not
    // within the test: a job made due behind their backs stays waiting.
    env.insert("GREENLIGHT_JOB_POLL".into(), "60000ms".into());
    let a = Service::start(&env).await;
    let b = Service::start(&env).await;
    let client = reqwest::Client::new();

    let pending = client
        .post(format!("{}/release", a.address))
        .json(&release_body("r-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(pending.status(), 202);
    let broken = client
        .post(format!("{}/release", b.address))
        .json(&serde_json::json!({"ReleaseName": "x", "ReleaseId": "r-2", "TeamProject": "Broken"}))
        .send()
        .await
        .unwrap();
    assert_eq!(broken.status(), 202);
    // r-1 waits for its approver (its expiry scheduled); r-2's approvers
    // source refused for good (its job buried).
    for _ in 0..400 {
        let failed = db.count("SELECT COUNT(*) AS n FROM jobs WHERE state = 'failed'");
        if failed == 1 && smtp.mails().len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    for service in [&a, &b] {
        let (_, m) = scrape(&service.address).await;
        let jobs = |kind: &str, state: &str| {
            value(
                &m,
                &format!("greenlight_jobs{{kind=\"{kind}\",state=\"{state}\"}}"),
            )
        };
        assert_eq!(jobs("expire_release", "queued"), 1.0, "{}", service.address);
        assert_eq!(
            jobs("process_release", "failed"),
            1.0,
            "{}",
            service.address
        );
        assert_eq!(
            jobs("process_release", "queued"),
            0.0,
            "{}",
            service.address
        );
        assert_eq!(value(&m, "greenlight_oldest_ready_job_age_seconds"), 0.0);
    }
    // The expiry made due an hour ago, with no worker looking: both
    // replicas see how long it has waited.
    let hour_ago = (chrono::Utc::now() - chrono::Duration::hours(1))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    db.execute(&format!(
        "UPDATE jobs SET run_at = '{hour_ago}' WHERE kind = 'expire_release'"
    ));
    for service in [&a, &b] {
        let (_, m) = scrape(&service.address).await;
        let age = value(&m, "greenlight_oldest_ready_job_age_seconds");
        assert!(
            (3590.0..3700.0).contains(&age),
            "{age} on {}",
            service.address
        );
    }
    // Each replica counts the runs it made: together, each job once.
    let (_, ma) = scrape(&a.address).await;
    let (_, mb) = scrape(&b.address).await;
    let both =
        |key: &str| ma.get(key).copied().unwrap_or(0.0) + mb.get(key).copied().unwrap_or(0.0);
    assert_eq!(
        both("greenlight_job_runs_total{kind=\"process_release\",outcome=\"done\"}"),
        1.0
    );
    assert_eq!(
        both("greenlight_job_runs_total{kind=\"process_release\",outcome=\"failed\"}"),
        1.0
    );
    assert_eq!(
        both("greenlight_outbound_requests_total{outcome=\"http_4xx\",target=\"approvers\"}"),
        1.0
    );
    assert_eq!(
        both("greenlight_releases_decided_total{status=\"failed\"}"),
        1.0
    );
    assert_eq!(both("greenlight_releases_created_total"), 2.0);
}
