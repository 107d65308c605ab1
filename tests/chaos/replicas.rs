//! Several replicas on one database: every job runs once.

use std::time::Duration;

use crate::both_backends;
use crate::helpers::{approvers_stub, Backend, Service, SmtpServer, TestDb};
use crate::{chaos_env, release, report, scale, tally_mails, wait_for_delivery};

both_backends!(three_replicas_run_every_job_once);

async fn three_replicas_run_every_job_once(backend: Backend) {
    let releases = scale(60, 300);
    let db = TestDb::new(backend);
    let smtp = SmtpServer::start();
    let approvers = approvers_stub(
        &["a1@example.com", "a2@example.com", "a3@example.com"],
        Duration::ZERO,
    )
    .await;
    let env = chaos_env(&db, smtp.port, &approvers);
    let replicas = [
        Service::start(&env).await,
        Service::start(&env).await,
        Service::start(&env).await,
    ];
    let client = reqwest::Client::new();

    // Round-robin, 16 at a time; and one release posted to all three at once.
    let mut created = 0;
    let mut posts = Vec::new();
    for i in 0..releases {
        let url = format!("{}/release", replicas[i % 3].address);
        posts.push(client.post(url).json(&release(i)).send());
        if posts.len() == 16 || i + 1 == releases {
            for r in futures_util::future::join_all(posts.drain(..)).await {
                created += usize::from(r.unwrap().status() == 202);
            }
        }
    }
    let shared = release(releases);
    let same = futures_util::future::join_all(replicas.iter().map(|r| {
        client
            .post(format!("{}/release", r.address))
            .json(&shared)
            .send()
    }))
    .await;
    let same_created = same
        .into_iter()
        .filter(|r| r.as_ref().unwrap().status() == 202)
        .count();

    let expected = (releases + 1) * 3;
    wait_for_delivery(&db, &smtp, expected, Duration::from_secs(120)).await;
    let mails = smtp.mails();
    let (distinct, duplicated) = tally_mails(&mails);
    let fetches = approvers.received_requests().await.unwrap().len();
    let panics: usize = replicas.iter().map(|r| crate::panicked(&r.output())).sum();
    report(
        "replicas",
        &[
            ("backend", format!("{backend:?}")),
            ("replicas", "3".into()),
            ("releases", (releases + 1).to_string()),
            ("created_202", (created + same_created).to_string()),
            ("emails_expected", expected.to_string()),
            ("emails_distinct", distinct.to_string()),
            ("duplicated", duplicated.to_string()),
            ("approvers_fetches", fetches.to_string()),
            ("panics", panics.to_string()),
        ],
    );
    assert_eq!(created, releases);
    assert_eq!(
        same_created, 1,
        "the release posted to all three at once is created once"
    );
    assert_eq!(distinct, expected);
    assert_eq!(duplicated, 0, "every email exactly once");
    assert_eq!(fetches, releases + 1, "every processing job ran once");
    assert_eq!(panics, 0);
}
