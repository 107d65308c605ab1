//! Request ids and JSON logs, from the real binary's own output.

use std::time::Duration;

use serde_json::Value;

use crate::both_backends;
use crate::helpers::{
    approvers_stub, release_body, test_env, Backend, Service, SmtpServer, TestDb,
};

both_backends!(every_line_of_a_request_carries_its_id);

async fn every_line_of_a_request_carries_its_id(backend: Backend) {
    let db = TestDb::new(backend);
    let smtp = SmtpServer::start();
    let approvers = approvers_stub(&["ana@example.com"], Duration::ZERO).await;
    let mut env = test_env(&db, smtp.port, &approvers);
    env.insert("GREENLIGHT_LOG_FORMAT".into(), "json".into());
    env.insert("RUST_LOG".into(), "info".into());
    let service = Service::start(&env).await;
    let client = reqwest::Client::new();

    let created = client
        .post(format!("{}/release", service.address))
        .header("X-Request-Id", "pipeline-run-42")
        .json(&release_body("r1"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 202);
    assert_eq!(
        created.headers()["x-request-id"],
        "pipeline-run-42",
        "the caller's id comes back"
    );
    // No id, or one not fit for a log line: a new one.
    for sent in [None, Some("two words")] {
        let mut request = client.get(format!("{}/healthz", service.address));
        if let Some(id) = sent {
            request = request.header("X-Request-Id", id);
        }
        let answer = request.send().await.unwrap();
        let id = answer.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{id}"
        );
    }
    // The worker's lines for this release (approvers fetched, email sent).
    // The email job logs its line after the mail server has accepted the
    // mail: wait for the line, not for the mail.
    for _ in 0..200 {
        if service.output().contains("approval email accepted") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(smtp.mails().len(), 1);

    let log = service.output();
    let lines: Vec<Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let of_request: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            l["spans"]
                .as_array()
                .is_some_and(|spans| spans.iter().any(|s| s["request_id"] == "pipeline-run-42"))
        })
        .collect();
    let messages: Vec<&str> = of_request
        .iter()
        .filter_map(|l| l["fields"]["message"].as_str())
        .collect();
    assert!(
        messages.iter().any(|m| m.contains("release accepted")),
        "{messages:?}"
    );
    // The jobs the request caused log under its id: the approvers fetched,
    // then the email the fetch queued.
    let job_kinds: Vec<&str> = of_request
        .iter()
        .filter_map(|l| {
            l["spans"].as_array()?.iter().find(|s| s["name"] == "job")?["kind"].as_str()
        })
        .collect();
    for kind in ["process_release", "send_approval_email"] {
        assert!(job_kinds.contains(&kind), "{kind} not in {job_kinds:?}");
    }
    assert!(
        messages
            .iter()
            .any(|m| m.contains("approval email accepted")),
        "{messages:?}"
    );
    let access = of_request
        .iter()
        .find(|l| l["fields"]["message"] == "POST /release")
        .expect("the access line");
    assert_eq!(access["fields"]["status"], 202, "{access}");
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "greenlight starting"),
        "{log}"
    );

    // A malformed request is the client's problem: logged at INFO with its
    // cause, never at ERROR (anyone could fill the error log).
    malformed_request(&service.address).await;
    let mut demoted = None;
    for _ in 0..200 {
        demoted = service
            .output()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|l| l["target"] == "greenlight::http::client");
        if demoted.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let demoted = demoted.unwrap_or_else(|| panic!("no line for it: {}", service.output()));
    assert_eq!(demoted["level"], "INFO", "{demoted}");
    assert!(
        demoted["fields"]["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{demoted}"
    );
    let output = service.output();
    let errors: Vec<&str> = output
        .lines()
        .filter(|l| l.contains("\"level\":\"ERROR\""))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}

/// A request head no HTTP parser takes.
async fn malformed_request(address: &str) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let authority = address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(authority).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 400"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}
