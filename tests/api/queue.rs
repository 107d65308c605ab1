//! The job queue: retries, failures with reasons, outages.

use serde_json::{json, Value};
use wiremock::matchers::method;
use wiremock::{Mock, ResponseTemplate};

use crate::both_backends;
use crate::helpers::{release_body, spawn_app_with, Backend};

both_backends!(
    approvers_api_errors_are_retried_then_fail_the_release,
    transient_approvers_errors_recover,
    an_empty_approver_list_fails_at_once,
    a_malformed_approvers_answer_fails_with_a_reason,
    invalid_approver_entries_are_dropped,
    a_mail_outage_delays_but_loses_nothing,
    an_unreachable_approvers_api_is_retried,
);

async fn approvers_api_errors_are_retried_then_fail_the_release(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}, false).await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&app.approvers)
        .await;
    assert_eq!(app.post_release(&release_body("f1")).await.status(), 202);
    let doc = app.wait_for_status("f1", "failed").await;
    let reason = doc["reason"].as_str().unwrap();
    assert!(
        reason.contains("HTTP 500") && reason.contains("3 attempts"),
        "{reason}"
    );
    // Exactly the configured attempts, no more.
    app.wait_for_idle_queue().await;
    assert_eq!(app.approvers.received_requests().await.unwrap().len(), 3);
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM jobs WHERE state = 'failed'"),
        1
    );
    // The pipeline reads the same through POST /release.
    let polled: Value = app
        .post_release(&release_body("f1"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(polled["status"], "failed");
    assert_eq!(polled["reason"], doc["reason"]);
    assert!(app.smtp.mails().is_empty());
}

async fn transient_approvers_errors_recover(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}, false).await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&app.approvers)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!(["ana@example.com"])))
        .with_priority(2)
        .mount(&app.approvers)
        .await;
    app.post_release(&release_body("t1")).await;
    let mails = app.wait_for_mails(1).await;
    assert_eq!(mails[0].to, "ana@example.com");
    assert_eq!(app.approvers.received_requests().await.unwrap().len(), 3);
    assert_eq!(app.status("t1").await["status"], "pending");
}

async fn an_empty_approver_list_fails_at_once(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}, false).await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"approvers": []})))
        .mount(&app.approvers)
        .await;
    app.post_release(&release_body("e1")).await;
    let doc = app.wait_for_status("e1", "failed").await;
    assert!(
        doc["reason"]
            .as_str()
            .unwrap()
            .contains("no valid approver"),
        "{doc}"
    );
    assert_eq!(doc["approvals"], 0);
    // Retrying cannot help: one request only.
    assert_eq!(app.approvers.received_requests().await.unwrap().len(), 1);
}

async fn a_malformed_approvers_answer_fails_with_a_reason(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}, false).await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>oops</html>"))
        .mount(&app.approvers)
        .await;
    app.post_release(&release_body("m1")).await;
    let doc = app.wait_for_status("m1", "failed").await;
    assert!(
        doc["reason"].as_str().unwrap().contains("invalid JSON"),
        "{doc}"
    );
}

async fn invalid_approver_entries_are_dropped(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}, false).await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"approvers": [
                "not-an-email", {"name": "Ana", "email": "ana@example.com"}, "ANA@example.com", 7
            ]})),
        )
        .mount(&app.approvers)
        .await;
    app.post_release(&release_body("d1")).await;
    let mails = app.wait_for_mails(1).await;
    app.wait_for_idle_queue().await;
    assert_eq!(app.smtp.mails().len(), 1);
    assert!(mails[0].text.contains("Hello Ana"));
    let doc = app.status("d1").await;
    assert_eq!(doc["required_approvals"], 1);
    assert_eq!(doc["approvers"][0]["name"], "Ana");
}

async fn a_mail_outage_delays_but_loses_nothing(backend: Backend) {
    let app = spawn_app_with(
        backend,
        |env| {
            env.insert("GREENLIGHT_JOB_MAX_ATTEMPTS".into(), "50".into());
        },
        true,
    )
    .await;
    app.smtp.set_refusing(true);
    app.post_release(&release_body("o1")).await;
    // Wait until both email jobs have failed at least twice.
    for _ in 0..300 {
        let retried = app.db.count(
            "SELECT COUNT(*) FROM jobs WHERE kind = 'send_approval_email' AND attempts >= 2 AND last_error IS NOT NULL",
        );
        if retried == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(app.smtp.mails().is_empty());
    assert_eq!(
        app.status("o1").await["status"],
        "pending",
        "not failed before its last attempt"
    );
    app.smtp.set_refusing(false);
    app.wait_for_mails(2).await;
    app.wait_for_idle_queue().await;
    assert_eq!(app.smtp.mails().len(), 2);
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM approvals WHERE email_sent_at IS NOT NULL"),
        2
    );
}

async fn an_unreachable_approvers_api_is_retried(backend: Backend) {
    // A port nobody listens on.
    let port = crate::helpers::free_port();
    let app = spawn_app_with(
        backend,
        move |env| {
            env.insert(
                "GREENLIGHT_APPROVERS_URL".into(),
                // A key in the query string, as Azure Functions carry it.
                format!("http://user:pw-secret-7@127.0.0.1:{port}/a?code=qs-secret-99"),
            );
        },
        false,
    )
    .await;
    app.post_release(&release_body("u1")).await;
    let doc = app.wait_for_status("u1", "failed").await;
    let reason = doc["reason"].as_str().unwrap();
    assert!(
        reason.contains("unreachable") && reason.contains("3 attempts"),
        "{reason}"
    );
    // The reason is public (pipelines, the audit trail): no URL, no secret.
    let events = app
        .client
        .get(format!("{}/releases/Devx/u1/events", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for shown in [reason, events.as_str()] {
        for secret in ["qs-secret-99", "pw-secret-7", "127.0.0.1"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
    }
}
