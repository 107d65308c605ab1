//! SIGTERM under load: requests in flight are answered, nothing is lost.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::both_backends;
use crate::helpers::{
    approvers_stub, free_port, log_file, mount_approvers, Backend, Service, SmtpServer, TestDb,
};
use crate::{chaos_env, release, report, tally_mails, wait_for_delivery};

both_backends!(sigterm_under_load_loses_nothing);

async fn sigterm_under_load_loses_nothing(backend: Backend) {
    let db = TestDb::new(backend);
    let smtp = SmtpServer::start();
    // Slow enough that jobs are running when the signal comes.
    let approvers = approvers_stub(
        &["a1@example.com", "a2@example.com"],
        Duration::from_millis(300),
    )
    .await;
    let env = chaos_env(&db, smtp.port, &approvers);
    let port = free_port();
    let log = log_file("term");
    let service = Service::start_on(&env, port, &log).await;

    // Eight pipelines posting new releases until the service is gone.
    let next = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, non_2xx, transport_errors) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (next, stop, ok, non_2xx, transport_errors) = (
            next.clone(),
            stop.clone(),
            ok.clone(),
            non_2xx.clone(),
            transport_errors.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            while !stop.load(Ordering::SeqCst) {
                let i = next.fetch_add(1, Ordering::SeqCst);
                match client
                    .post(format!("http://127.0.0.1:{port}/release"))
                    .json(&release(i))
                    .send()
                    .await
                {
                    Ok(r) if r.status().is_success() => ok.fetch_add(1, Ordering::SeqCst),
                    Ok(_) => non_2xx.fetch_add(1, Ordering::SeqCst),
                    Err(_) => transport_errors.fetch_add(1, Ordering::SeqCst),
                };
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let signalled = std::time::Instant::now();
    service.terminate();
    let mut child = service;
    let status = loop {
        if let Some(status) = child.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(60),
            "no exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let stop_time = signalled.elapsed();
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.unwrap();
    }
    let output = child.output();
    drop(child);

    // Every release the service stored is completed by the next start. The
    // approvers API answers at once from now on: the slow answers were there
    // to have jobs running at the signal, and would only make the backlog
    // (over a thousand releases) slow to drain.
    let stored = db.count("SELECT COUNT(*) FROM releases") as usize;
    approvers.reset().await;
    mount_approvers(
        &approvers,
        &["a1@example.com", "a2@example.com"],
        Duration::ZERO,
    )
    .await;
    let restarted = Service::start_on(&env, port, &log).await;
    wait_for_delivery(&db, &smtp, stored * 2, Duration::from_secs(60)).await;
    let (distinct, duplicated) = tally_mails(&smtp.mails());
    let lost = (stored * 2).saturating_sub(distinct);
    report(
        "graceful_stop",
        &[
            ("backend", format!("{backend:?}")),
            ("answered_2xx", ok.load(Ordering::SeqCst).to_string()),
            (
                "answered_non_2xx",
                non_2xx.load(Ordering::SeqCst).to_string(),
            ),
            (
                "refused_after_stop",
                transport_errors.load(Ordering::SeqCst).to_string(),
            ),
            ("exit", format!("{status}")),
            ("stop_ms", stop_time.as_millis().to_string()),
            ("releases_stored", stored.to_string()),
            ("lost", lost.to_string()),
            ("duplicated", duplicated.to_string()),
        ],
    );
    assert!(status.success(), "clean exit: {status}\n{output}");
    assert_eq!(
        non_2xx.load(Ordering::SeqCst),
        0,
        "no request answered with an error"
    );
    assert!(
        stored >= ok.load(Ordering::SeqCst),
        "every answered release is stored"
    );
    assert_eq!(lost, 0, "jobs left: {}", db.dump_jobs());
    assert_eq!(
        crate::panicked(&output) + crate::panicked(&restarted.output()),
        0
    );
}
