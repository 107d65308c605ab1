//! A misbehaving approvers API: retried where it makes sense, `failed` with
//! a clear reason where not, never a panic, never unbounded memory.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{json, Value};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::both_backends;
use crate::helpers::{Backend, Service, SmtpServer, TestDb};
use crate::{chaos_env, post_until_answered, release, report, scale, wait_for_delivery};

both_backends!(
    half_of_the_answers_are_5xx,
    answers_slower_than_the_client_timeout,
    malformed_json,
    an_empty_list,
    a_50_mb_answer,
    a_redirect_loop,
);

/// Fails every other request.
struct EveryOther(AtomicUsize);

impl Respond for EveryOther {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        if self.0.fetch_add(1, Ordering::SeqCst) % 2 == 0 {
            ResponseTemplate::new(503)
        } else {
            ResponseTemplate::new(200)
                .set_body_json(json!({"approvers": ["a1@example.com", "a2@example.com"]}))
        }
    }
}

struct Run {
    db: TestDb,
    smtp: SmtpServer,
    approvers: MockServer,
    service: Service,
}

async fn start(backend: Backend, stub: ResponseTemplate, extra: &[(&str, &str)]) -> Run {
    let approvers = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(stub)
        .mount(&approvers)
        .await;
    start_with(backend, approvers, extra).await
}

async fn start_with(backend: Backend, approvers: MockServer, extra: &[(&str, &str)]) -> Run {
    let db = TestDb::new(backend);
    let smtp = SmtpServer::start();
    let mut env = chaos_env(&db, smtp.port, &approvers);
    env.insert("GREENLIGHT_JOB_MAX_ATTEMPTS".into(), "4".into());
    for (k, v) in extra {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    let service = Service::start(&env).await;
    Run {
        db,
        smtp,
        approvers,
        service,
    }
}

impl Run {
    async fn post(&self, i: usize) {
        post_until_answered(&reqwest::Client::new(), self.service.port, &release(i)).await;
    }

    async fn wait_failed(&self, i: usize) -> Value {
        for _ in 0..400 {
            let doc: Value = reqwest::get(format!("{}/releases/Chaos/{i}", self.service.address))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if doc["status"] != "pending" {
                return doc;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("release {i} stayed pending");
    }

    async fn finish(&self, fault: &str, backend: Backend, doc: &Value) {
        let fetches = self.approvers.received_requests().await.unwrap().len();
        let panics = crate::panicked(&self.service.output());
        report(
            &format!("approvers_{fault}"),
            &[
                ("backend", format!("{backend:?}")),
                ("status", doc["status"].to_string()),
                (
                    "reason",
                    format!("{:?}", doc["reason"].as_str().unwrap_or("")),
                ),
                ("requests", fetches.to_string()),
                ("peak_rss_kib", self.service.peak_rss_kib().to_string()),
                ("panics", panics.to_string()),
            ],
        );
        assert_eq!(panics, 0);
    }
}

async fn half_of_the_answers_are_5xx(backend: Backend) {
    let releases = scale(10, 50);
    let approvers = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(EveryOther(AtomicUsize::new(0)))
        .mount(&approvers)
        .await;
    // Each try fails with probability 1/2: enough attempts that no release
    // runs out of them (2^-25).
    let run = start_with(backend, approvers, &[("GREENLIGHT_JOB_MAX_ATTEMPTS", "25")]).await;
    for i in 0..releases {
        run.post(i).await;
    }
    wait_for_delivery(&run.db, &run.smtp, releases * 2, Duration::from_secs(60)).await;
    let pending = run
        .db
        .count("SELECT COUNT(*) FROM releases WHERE status = 'pending' AND required_approvals = 2")
        as usize;
    let doc = json!({"status": format!("{pending}/{releases} processed"), "reason": null});
    run.finish("half_5xx", backend, &doc).await;
    assert_eq!(
        pending, releases,
        "every release processed despite the errors"
    );
    assert_eq!(run.smtp.mails().len(), releases * 2);
}

async fn answers_slower_than_the_client_timeout(backend: Backend) {
    let stub = ResponseTemplate::new(200)
        .set_body_json(json!(["a1@example.com"]))
        .set_delay(Duration::from_secs(5));
    let run = start(backend, stub, &[("GREENLIGHT_HTTP_TIMEOUT", "300ms")]).await;
    run.post(1).await;
    let doc = run.wait_failed(1).await;
    run.finish("timeout", backend, &doc).await;
    assert_eq!(doc["status"], "failed");
    let reason = doc["reason"].as_str().unwrap();
    assert!(
        reason.contains("timed out") && reason.contains("4 attempts"),
        "{reason}"
    );
}

async fn malformed_json(backend: Backend) {
    let run = start(
        backend,
        ResponseTemplate::new(200).set_body_string("{\"approvers\": [\"a1@exa"),
        &[],
    )
    .await;
    run.post(1).await;
    let doc = run.wait_failed(1).await;
    run.finish("malformed", backend, &doc).await;
    assert!(
        doc["reason"].as_str().unwrap().contains("invalid JSON"),
        "{doc}"
    );
    assert_eq!(
        run.approvers.received_requests().await.unwrap().len(),
        1,
        "not retried"
    );
}

async fn an_empty_list(backend: Backend) {
    let run = start(
        backend,
        ResponseTemplate::new(200).set_body_json(json!({"approvers": []})),
        &[],
    )
    .await;
    run.post(1).await;
    let doc = run.wait_failed(1).await;
    run.finish("empty", backend, &doc).await;
    assert!(
        doc["reason"]
            .as_str()
            .unwrap()
            .contains("no valid approver"),
        "{doc}"
    );
}

async fn a_50_mb_answer(backend: Backend) {
    let mut body = String::from("{\"approvers\": [");
    body.push_str(&"\"a1@example.com\",".repeat(50 * 1024 * 1024 / 17));
    body.push_str("\"a2@example.com\"]}");
    let run = start(
        backend,
        ResponseTemplate::new(200).set_body_raw(body, "application/json"),
        &[],
    )
    .await;
    run.post(1).await;
    let doc = run.wait_failed(1).await;
    run.finish("50mb", backend, &doc).await;
    assert!(
        doc["reason"]
            .as_str()
            .unwrap()
            .contains("more than 1048576 bytes"),
        "{doc}"
    );
    assert!(
        run.service.peak_rss_kib() < 100 * 1024,
        "memory stays bounded"
    );
}

async fn a_redirect_loop(backend: Backend) {
    let approvers = MockServer::start().await;
    let location = format!("{}/approvers/loop", approvers.uri());
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", location.as_str()))
        .mount(&approvers)
        .await;
    let run = start_with(backend, approvers, &[]).await;
    run.post(1).await;
    let doc = run.wait_failed(1).await;
    run.finish("redirect_loop", backend, &doc).await;
    assert!(
        doc["reason"].as_str().unwrap().contains("redirect"),
        "{doc}"
    );
    // One attempt of at most six requests (the first and five redirects).
    assert!(run.approvers.received_requests().await.unwrap().len() <= 6);
}
