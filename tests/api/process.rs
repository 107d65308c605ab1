//! The real binary as a separate process: killed in the middle of a job,
//! started again, nothing lost, and the dead process's job running again
//! within seconds (with the default lease: no test-only tuning).

use std::time::Duration;

use crate::both_backends;
use crate::helpers::{
    approvers_stub, release_body, test_env, Backend, Service, SmtpServer, TestDb, WORK_QUEUED,
};

both_backends!(a_job_resumes_after_the_process_is_killed);

async fn a_job_resumes_after_the_process_is_killed(backend: Backend) {
    let db = TestDb::new(backend);
    let smtp = SmtpServer::start();
    // Slow enough that the first process is surely inside the job when killed.
    let approvers = approvers_stub(
        &["ana@example.com", "bruno@example.com"],
        Duration::from_secs(2),
    )
    .await;
    let mut env = test_env(&db, smtp.port, &approvers);
    env.remove("GREENLIGHT_JOB_LEASE");
    env.remove("GREENLIGHT_JOB_POLL");
    env.insert("GREENLIGHT_HTTP_TIMEOUT".into(), "10000ms".into());
    env.remove("GREENLIGHT_HTTP_WORKERS");

    let first = Service::start(&env).await;
    let client = reqwest::Client::new();
    let created = client
        .post(format!("{}/release", first.address))
        .json(&release_body("k1"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 202);
    for _ in 0..100 {
        if !approvers.received_requests().await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        approvers.received_requests().await.unwrap().len(),
        1,
        "the job is running"
    );
    first.kill();
    assert_eq!(
        db.count("SELECT COUNT(*) FROM approvals"),
        0,
        "killed before it stored anything"
    );

    let restarted = std::time::Instant::now();
    let second = Service::start(&env).await;
    let mut recovered = None;
    for _ in 0..300 {
        if smtp.mails().len() >= 2 && recovered.is_none() {
            recovered = Some(restarted.elapsed());
        }
        if recovered.is_some() && db.count(WORK_QUEUED) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The restart's own time, the dead process's lease (5 s by default),
    // the 2 s approvers answer and the emails: well inside 10 s.
    let recovered = recovered.expect("both emails sent after the restart");
    assert!(
        recovered < Duration::from_secs(10),
        "the killed process's job ran again {recovered:?} after the restart"
    );
    let mut to: Vec<_> = smtp.mails().iter().map(|m| m.to.clone()).collect();
    to.sort();
    assert_eq!(
        to,
        ["ana@example.com", "bruno@example.com"],
        "every approver emailed once"
    );
    assert!(
        approvers.received_requests().await.unwrap().len() >= 2,
        "the job ran again"
    );
    let status: serde_json::Value = client
        .post(format!("{}/release", second.address))
        .json(&release_body("k1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "pending");
    assert_eq!(status["required_approvals"], 2);
}
