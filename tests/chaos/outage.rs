//! The mail server absent, then refusing, then back: nothing lost, nothing
//! failed before its last attempt, delivery resumes by itself.

use std::time::Duration;

use crate::both_backends;
use crate::helpers::{approvers_stub, free_port, Backend, Service, SmtpServer, TestDb};
use crate::{
    chaos_env, post_until_answered, release, report, scale, tally_mails, wait_for_delivery,
};

both_backends!(a_mail_outage_loses_nothing);

async fn a_mail_outage_loses_nothing(backend: Backend) {
    let outage = Duration::from_secs(scale(4, 60) as u64);
    let releases = scale(10, 50);
    let db = TestDb::new(backend);
    let approvers = approvers_stub(&["a1@example.com", "a2@example.com"], Duration::ZERO).await;
    // Nobody listens on the SMTP port yet: connections are refused.
    let smtp_port = free_port();
    let mut env = chaos_env(&db, smtp_port, &approvers);
    // Enough attempts, at a 2 s cap, to outlast the outage.
    env.insert("GREENLIGHT_JOB_MAX_ATTEMPTS".into(), "60".into());
    env.insert("GREENLIGHT_JOB_BACKOFF_MAX".into(), "2000ms".into());
    let service = Service::start(&env).await;
    let client = reqwest::Client::new();
    for i in 0..releases {
        post_until_answered(&client, service.port, &release(i)).await;
    }

    // First half: absent. Second half: present but answering 451.
    tokio::time::sleep(outage / 2).await;
    let smtp = SmtpServer::start_on(smtp_port);
    smtp.set_refusing(true);
    tokio::time::sleep(outage / 2).await;
    let failed_during = db.count("SELECT COUNT(*) FROM releases WHERE status = 'failed'");
    let max_attempts_during = db.count("SELECT COALESCE(MAX(attempts), 0) FROM jobs");
    let delivered_during = smtp.mails().len();
    smtp.set_refusing(false);
    let recovered = std::time::Instant::now();

    let expected = releases * 2;
    wait_for_delivery(&db, &smtp, expected, Duration::from_secs(60)).await;
    let (distinct, duplicated) = tally_mails(&smtp.mails());
    let lost = expected.saturating_sub(distinct);
    let failed = db.count("SELECT COUNT(*) FROM releases WHERE status = 'failed'");
    report(
        "mail_outage",
        &[
            ("backend", format!("{backend:?}")),
            ("outage_s", outage.as_secs().to_string()),
            ("emails_expected", expected.to_string()),
            ("delivered_during_outage", delivered_during.to_string()),
            (
                "max_attempts_during_outage",
                max_attempts_during.to_string(),
            ),
            ("failed_during_outage", failed_during.to_string()),
            ("recovery_ms", recovered.elapsed().as_millis().to_string()),
            ("lost", lost.to_string()),
            ("duplicated", duplicated.to_string()),
            ("failed", failed.to_string()),
        ],
    );
    assert_eq!(delivered_during, 0);
    assert!(
        max_attempts_during >= 2,
        "the emails were retried during the outage"
    );
    assert_eq!(failed_during, 0, "nothing failed before its last attempt");
    assert_eq!(lost, 0);
    assert_eq!(failed, 0);
    assert_eq!(crate::panicked(&service.output()), 0);
}
