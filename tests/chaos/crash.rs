//! kill -9 at random moments while releases are in flight.

use std::time::Duration;

use rand::Rng;

use crate::both_backends;
use crate::helpers::{approvers_stub, free_port, log_file, Backend, Service, SmtpServer, TestDb};
use crate::{
    approve_all, chaos_env, post_until_answered, release, report, scale, tally_mails,
    wait_for_delivery, CONCURRENCY,
};

both_backends!(kill_9_loses_no_email);

async fn kill_9_loses_no_email(backend: Backend) {
    let releases = scale(40, 200);
    let kills = scale(5, 8);
    let db = TestDb::new(backend);
    let smtp = SmtpServer::start();
    // Three approvers, answered after a short random delay so that kills
    // land in the middle of jobs.
    let approvers = approvers_stub(
        &["a1@example.com", "a2@example.com", "a3@example.com"],
        Duration::from_millis(30),
    )
    .await;
    let env = chaos_env(&db, smtp.port, &approvers);
    let port = free_port();
    let log = log_file("crash");
    let mut service = Some(Service::start_on(&env, port, &log).await);

    // The pipelines: every release posted until answered, whatever happens.
    let client = reqwest::Client::new();
    let posting = tokio::spawn({
        let client = client.clone();
        async move {
            let mut failed_tries = 0;
            for i in 0..releases {
                failed_tries += post_until_answered(&client, port, &release(i)).await;
            }
            failed_tries
        }
    });

    for _ in 0..kills {
        let pause = rand::rng().random_range(150..700);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        service.take().unwrap().kill();
        service = Some(Service::start_on(&env, port, &log).await);
    }
    let failed_tries = posting.await.unwrap();
    let service = service.unwrap();

    let expected = releases * 3;
    wait_for_delivery(
        &db,
        &smtp,
        expected,
        Duration::from_secs(scale(60, 180) as u64),
    )
    .await;
    let mails = smtp.mails();
    let (distinct, duplicated) = tally_mails(&mails);
    let lost = expected.saturating_sub(distinct);

    let statuses = approve_all(&client, &service.address, &mails).await;
    let approved = db.count("SELECT COUNT(*) FROM releases WHERE status = 'approved'") as usize;
    let panics = crate::panicked(&service.output());
    report(
        "crash",
        &[
            ("backend", format!("{backend:?}")),
            ("releases", releases.to_string()),
            ("kills", kills.to_string()),
            ("emails_expected", expected.to_string()),
            ("emails_received", mails.len().to_string()),
            ("lost", lost.to_string()),
            ("duplicated", duplicated.to_string()),
            ("post_retries_while_down", failed_tries.to_string()),
            ("approved", format!("{approved}/{releases}")),
            ("panics", panics.to_string()),
        ],
    );
    assert_eq!(lost, 0, "every approver of every release got its email");
    assert_eq!(db.count("SELECT COUNT(*) FROM releases") as usize, releases);
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(
        approved, releases,
        "every release approved once its links were clicked"
    );
    // A duplicate needs a kill between the server's acceptance and its
    // record: at most the jobs in flight at each kill.
    assert!(duplicated <= kills * CONCURRENCY, "{duplicated} duplicates");
    assert_eq!(panics, 0);
}
