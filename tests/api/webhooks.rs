//! Standard Webhooks: every delivery checked by the standard's own
//! libraries (Python's `standardwebhooks` from PyPI, in a subprocess, and
//! the Rust crate in process), with each project's and environment's own
//! secret; configuration mistakes refused naming the key.

use std::collections::HashMap;

use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::both_backends;
use crate::helpers::{cli, release_body, spawn_app_with, Backend, TestApp};

both_backends!(
    each_project_and_environment_signs_with_its_own_secret,
    a_receiver_that_answers_410_gets_no_more_attempts,
);

/// The PyPI release of the standard's Python library the tests verify
/// with (its `Webhook(secret).verify(payload, headers)`).
const STANDARDWEBHOOKS_PY: &str = "1.1.0";

/// `whsec_` + base64 of 32 bytes of `byte`: a secret of the standard's form.
pub fn whsec(byte: u8) -> String {
    use base64::Engine;
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode([byte; 32])
    )
}

/// The folder holding Python's `standardwebhooks`, for PYTHONPATH.
pub fn python_library() -> std::path::PathBuf {
    static DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        crate::helpers::pypi("standardwebhooks", STANDARDWEBHOOKS_PY, "standardwebhooks")
    })
    .clone()
}

/// What the standard's Python library says of `request` with `secret`:
/// `Ok` if it verifies, `Err` with the library's refusal if it raised its
/// verification error (anything else fails the test).
pub fn python_verifies(secret: &str, request: &wiremock::Request) -> Result<(), String> {
    use std::io::Write;
    let headers: HashMap<&str, &str> = ["webhook-id", "webhook-timestamp", "webhook-signature"]
        .into_iter()
        .filter_map(|name| Some((name, request.headers.get(name)?.to_str().ok()?)))
        .collect();
    let script = r#"
import json, sys
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
try:
    Webhook(sys.argv[1]).verify(sys.stdin.buffer.read(), json.loads(sys.argv[2]))
except WebhookVerificationError as e:
    print(e)
    sys.exit(3)
"#;
    let mut child = std::process::Command::new("python3")
        .args([
            "-c",
            script,
            secret,
            &serde_json::to_string(&headers).unwrap(),
        ])
        .env("PYTHONPATH", python_library())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&request.body)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    match out.status.code() {
        Some(0) => Ok(()),
        Some(3) => Err(String::from_utf8_lossy(&out.stdout).trim().to_owned()),
        _ => panic!("the Python check broke: {out:?}"),
    }
}

/// The same check with the standard's Rust crate.
pub fn rust_verifies(secret: &str, request: &wiremock::Request) -> bool {
    standardwebhooks::Webhook::new(secret)
        .unwrap()
        .verify(&request.body, &request.headers)
        .is_ok()
}

/// Both libraries agree that `secret` verifies `request` (or refuses it).
pub fn assert_verified(secret: &str, request: &wiremock::Request, expected: bool) {
    let python = python_verifies(secret, request);
    assert_eq!(python.is_ok(), expected, "Python: {python:?}");
    if let Err(why) = python {
        assert_eq!(
            why, "No matching signature found",
            "refused for the signature"
        );
    }
    assert_eq!(rust_verifies(secret, request), expected, "Rust");
}

/// A receiver answering `status` on `route`.
async fn receiver_on(server: &MockServer, route: &str, status: u16) {
    Mock::given(method("POST"))
        .and(path(route))
        .respond_with(ResponseTemplate::new(status))
        .mount(server)
        .await;
}

/// Waits until `server` has received `n` requests; returns them all.
async fn received(server: &MockServer, n: usize) -> Vec<wiremock::Request> {
    for _ in 0..300 {
        let requests = server.received_requests().await.unwrap();
        if requests.len() >= n {
            return requests;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("fewer than {n} requests arrived");
}

async fn approve_every_mail(app: &TestApp, n: usize) {
    for mail in app.wait_for_mails(n).await {
        assert_eq!(app.approve(&mail.token()).await.status(), 200);
    }
}

/// Project A signs with its secret; B's staging environment with its own.
/// A's receiver verifies A's deliveries, and B's secret is refused on them
/// (and the other way round): a receiver cannot forge or replay another's.
async fn each_project_and_environment_signs_with_its_own_secret(backend: Backend) {
    let receiver = MockServer::start().await;
    receiver_on(&receiver, "/a", 200).await;
    receiver_on(&receiver, "/b", 200).await;
    let (a, b) = (whsec(0xA), whsec(0xB));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("greenlight.toml");
    std::fs::write(
        &config,
        format!(
            r#"
            [projects.A]
            webhook_url = "{uri}/a"
            webhook_secret = "{a}"

            [projects.B.environments.staging]
            webhook_url = "{uri}/b"
            webhook_secret = "{b}"
            "#,
            uri = receiver.uri()
        ),
    )
    .unwrap();
    let app = spawn_app_with(
        backend,
        |env| {
            env.insert("GREENLIGHT_CONFIG".into(), config.display().to_string());
        },
        true,
    )
    .await;
    let mut of_a = release_body("a1");
    of_a["TeamProject"] = json!("A");
    let mut of_b = release_body("b1");
    of_b["TeamProject"] = json!("B");
    of_b["Environment"] = json!("staging");
    for body in [&of_a, &of_b] {
        assert_eq!(app.post_release(body).await.status(), 202);
    }
    approve_every_mail(&app, 4).await;
    received(&receiver, 2).await;
    app.wait_for_idle_queue().await;
    let requests = receiver.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2, "one delivery each");
    let to = |route: &str| requests.iter().find(|r| r.url.path() == route).unwrap();
    assert_verified(&a, to("/a"), true);
    assert_verified(&b, to("/a"), false);
    assert_verified(&b, to("/b"), true);
    assert_verified(&a, to("/b"), false);

    for (request, trail, document) in [
        (to("/a"), "/releases/A/a1/events", "/releases/A/a1"),
        (
            to("/b"),
            "/releases/B/b1/events?environment=staging",
            "/releases/B/b1?environment=staging",
        ),
    ] {
        let document = app.get_json(document).await;
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(
            body,
            json!({"type": "release.approved", "timestamp": document["decided_at"], "data": document}),
            "the standard's payload: the event, when it occurred, the status document"
        );
        let sent = app.wait_for_event_at(trail, "webhook.sent").await;
        assert_eq!(
            sent["detail"]["delivery"],
            request.headers["webhook-id"].to_str().unwrap()
        );
    }
}

/// Standard Webhooks: a 410 Gone is a receiver that wants no more
/// deliveries; the job gives up at once (any other failure is retried).
async fn a_receiver_that_answers_410_gets_no_more_attempts(backend: Backend) {
    let receiver = MockServer::start().await;
    receiver_on(&receiver, "/gone", 410).await;
    let app = spawn_app_with(
        backend,
        |env| {
            env.insert(
                "GREENLIGHT_WEBHOOK_URL".into(),
                format!("{}/gone", receiver.uri()),
            );
            env.insert("GREENLIGHT_WEBHOOK_SECRET".into(), whsec(7));
            env.insert("GREENLIGHT_JOB_MAX_ATTEMPTS".into(), "5".into());
        },
        true,
    )
    .await;
    assert_eq!(app.post_release(&release_body("g1")).await.status(), 202);
    approve_every_mail(&app, 2).await;
    let failed = app.wait_for_event("g1", "webhook.failed").await;
    let reason = failed["detail"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("410") && reason.ends_with("(gave up after 1 attempt)"),
        "{reason}"
    );
    app.wait_for_idle_queue().await;
    let requests = receiver.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    assert_verified(&whsec(7), &requests[0], true);
}

/// A bad secret, a previous one without a secret, a webhook URL nothing
/// signs: `greenlight config` (and so `serve`, which loads the same way)
/// fails naming the key and never printing the value; a good one is shown
/// masked, per project and environment too.
#[test]
fn webhook_configuration_mistakes_fail_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("greenlight.toml");
    let env: HashMap<String, String> = [
        ("GREENLIGHT_CONFIG", config.display().to_string()),
        (
            "DATABASE_URL",
            dir.path().join("gl.db").display().to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let short = "whsec_c2hvcnQtczNjcjN0"; // 14 bytes
    for (toml, key) in [
        (
            format!("[projects.Devx.environments.staging]\nwebhook_secret = \"{short}\"\n"),
            "projects.Devx.environments.staging.webhook_secret",
        ),
        (
            format!(
                "[projects.Devx]\nwebhook_secret_previous = \"{}\"\n",
                whsec(1)
            ),
            "projects.Devx.webhook_secret_previous",
        ),
        (
            "[projects.Devx]\nwebhook_url = \"https://hooks.example/devx\"\n".to_owned(),
            "projects.Devx.webhook_url",
        ),
    ] {
        std::fs::write(&config, &toml).unwrap();
        let (ok, _, err) = cli(&env, &["config"]);
        assert!(!ok && err.contains(key), "{toml}: {err}");
        assert!(
            !err.contains("c2hvcnQ") && !err.contains(&whsec(1)[6..]),
            "{err}"
        );
    }
    std::fs::write(
        &config,
        format!(
            "[projects.Devx]\nwebhook_url = \"https://hooks.example/devx\"\n\
             webhook_secret = \"{}\"\nwebhook_secret_previous = \"{}\"\n\
             [projects.Devx.environments.staging]\nwebhook_secret = \"{}\"\n",
            whsec(1),
            whsec(2),
            whsec(3)
        ),
    )
    .unwrap();
    let (ok, out, err) = cli(&env, &["config"]);
    assert!(ok, "{err}");
    for secret in [whsec(1), whsec(2), whsec(3)] {
        assert!(!out.contains(&secret[6..]), "{out}");
    }
    let file = config.display().to_string();
    for line in [
        format!("[projects.Devx] webhook_secret = *** (set) # {file}"),
        format!("[projects.Devx] webhook_secret_previous = *** (set) # {file}"),
        format!("[projects.Devx.environments.staging] webhook_secret = *** (set) # {file}"),
        // The environment's secret is a new one, without the project's rotation.
        format!(
            "[projects.Devx.environments.staging] webhook_secret_previous = (not set) # {file}"
        ),
        "GREENLIGHT_WEBHOOK_SECRET = (not set) # default".to_owned(),
    ] {
        // Lines are aligned in columns: compared with single spaces.
        let shown = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(out.lines().any(|l| shown(l) == line), "{line} in {out}");
    }
}
