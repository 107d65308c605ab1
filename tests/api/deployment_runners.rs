//! Runners (DESIGN "Runners" and "`greenlight runner`"): claims by long
//! poll, one runner per deployment across runners and replicas, claims
//! renewed by the runner's posts and lost when it goes silent, and the
//! real `greenlight runner` process with its signals. Bad input changes
//! nothing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{spawn_app_with, Backend, TestApp};

both_backends!(
    claims_refuse_bad_input_and_change_nothing,
    a_claim_answers_204_when_nothing_is_queued,
    a_waiting_claim_receives_a_deployment_created_meanwhile,
    a_wrong_or_stale_claim_token_changes_nothing,
    a_heartbeat_renews_the_claim,
    a_lapsed_claim_ends_the_deployment_error_runner_lost,
    two_runners_on_two_replicas_run_each_deployment_exactly_once,
    a_runner_killed_mid_deployment_ends_it_error_within_the_lease,
    sigterm_stops_an_idle_runner_at_once,
    sigterm_lets_a_running_command_finish_and_reports_it,
    sigterm_stops_a_command_that_outlives_the_grace,
);

// ----------------------------------------------------------------- helpers

async fn app_with(backend: Backend, vars: &[(&str, &str)]) -> TestApp {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    spawn_app_with(backend, move |env| env.extend(vars), true).await
}

fn post(app: &TestApp, address: &str, path: &str, key: Option<&str>) -> reqwest::RequestBuilder {
    let request = app.client.post(format!("{address}{path}"));
    match key {
        Some(key) => request.header("X-API-Key", key),
        None => request,
    }
}

/// Records a deployment of `project` to `environment`; answers its id.
async fn deploy_to(
    app: &TestApp,
    address: &str,
    project: &str,
    environment: &str,
    key: Option<&str>,
) -> String {
    let answer = post(app, address, "/deployments", key)
        .json(
            &json!({"repository_url": "github.com/octo/app", "commit_sha": "abcd1234",
                      "team_project": project, "environment": environment}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
    let created: Value = answer.json().await.unwrap();
    created["id"].as_str().unwrap().to_owned()
}

async fn claim_as(app: &TestApp, body: &Value, key: Option<&str>) -> reqwest::Response {
    post(app, &app.address, "/runners/claim", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// A claim that must get a deployment: its answer.
async fn claimed(app: &TestApp, body: &Value, key: Option<&str>) -> Value {
    let answer = claim_as(app, body, key).await;
    assert_eq!(answer.status(), 200, "{body}");
    answer.json().await.unwrap()
}

async fn problem(answer: reqwest::Response, status: u16, kind: &str) -> Value {
    assert_eq!(answer.status(), status, "{kind}");
    assert_eq!(answer.headers()["content-type"], "application/problem+json");
    let body: Value = answer.json().await.unwrap();
    assert_eq!(
        body["type"],
        format!("urn:greenlight:problem:{kind}"),
        "{body}"
    );
    body
}

async fn show(app: &TestApp, id: &str) -> Value {
    app.get_json(&format!("/deployments/{id}")).await
}

async fn show_as(app: &TestApp, id: &str, key: &str) -> Value {
    app.client
        .get(format!("{}/deployments/{id}", app.address))
        .header("X-API-Key", key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn log_of(app: &TestApp, id: &str, key: Option<&str>) -> String {
    let mut request = app
        .client
        .get(format!("{}/deployments/{id}/logs", app.address));
    if let Some(key) = key {
        request = request.header("X-API-Key", key);
    }
    request.send().await.unwrap().text().await.unwrap()
}

async fn status_with(
    app: &TestApp,
    id: &str,
    state: &str,
    token: Option<&str>,
) -> reqwest::Response {
    let mut request = post(
        app,
        &app.address,
        &format!("/deployments/{id}/statuses"),
        None,
    )
    .json(&json!({"state": state}));
    if let Some(token) = token {
        request = request.header("Greenlight-Claim", token);
    }
    request.send().await.unwrap()
}

async fn log_with(app: &TestApp, id: &str, chunk: &str, token: &str) -> reqwest::Response {
    post(app, &app.address, &format!("/deployments/{id}/logs"), None)
        .header("content-type", "text/plain")
        .header("Greenlight-Claim", token)
        .body(chunk.to_owned())
        .send()
        .await
        .unwrap()
}

async fn heartbeat(app: &TestApp, id: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = post(
        app,
        &app.address,
        &format!("/deployments/{id}/heartbeat"),
        None,
    );
    if let Some(token) = token {
        request = request.header("Greenlight-Claim", token);
    }
    request.send().await.unwrap()
}

fn time(text: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

fn last_status(document: &Value) -> Value {
    document["statuses"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone()
}

fn count(app: &TestApp, sql: &str) -> i64 {
    app.db.count(sql)
}

/// Polls the deployment until it is `state` (at most `within`).
async fn wait_for_state(
    app: &TestApp,
    id: &str,
    state: &str,
    key: Option<&str>,
    within: Duration,
) -> Value {
    let until = std::time::Instant::now() + within;
    loop {
        let document = match key {
            Some(key) => show_as(app, id, key).await,
            None => show(app, id).await,
        };
        if document["status"] == state {
            return document;
        }
        assert!(
            std::time::Instant::now() < until,
            "{id} never became {state}: {document}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls the log until it holds `text` (at most `within`).
async fn wait_for_log(
    app: &TestApp,
    id: &str,
    text: &str,
    key: Option<&str>,
    within: Duration,
) -> String {
    let until = std::time::Instant::now() + within;
    loop {
        let log = log_of(app, id, key).await;
        if log.contains(text) {
            return log;
        }
        assert!(
            std::time::Instant::now() < until,
            "the log of {id} never held {text:?}: {log:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A `greenlight runner` process, killed when dropped; its output goes to
/// a file.
struct RunnerProcess {
    child: Child,
    log: PathBuf,
}

impl RunnerProcess {
    fn start(address: &str, args: &[&str], env: &[(&str, &str)], command: &[&str]) -> Self {
        let log =
            std::env::temp_dir().join(format!("greenlight-runner-{}.log", greenlight::random_id()));
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_greenlight"))
            .arg("runner")
            .args(["--url", address])
            .args(args)
            .arg("--")
            .args(command)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start greenlight runner");
        Self { child, log }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until its output holds `text`.
    async fn wait_for_output(&self, text: &str) {
        for _ in 0..300 {
            if self.output().contains(text) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the runner never said {text:?}: {}", self.output());
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for it to exit (at most `within`): its exit code.
    async fn exit_code(&mut self, within: Duration) -> i32 {
        let until = std::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(
                std::time::Instant::now() < until,
                "the runner did not exit: {}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for RunnerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn temp_file(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("greenlight-{name}-{}", greenlight::random_id()))
}

/// Kills the process whose pid a command wrote to `pid_file`, if any.
fn kill_pid_in(pid_file: &Path) {
    if let Ok(pid) = std::fs::read_to_string(pid_file) {
        let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
    }
    let _ = std::fs::remove_file(pid_file);
}

// ------------------------------------------------------------------- API

async fn claims_refuse_bad_input_and_change_nothing(backend: Backend) {
    let app = app_with(backend, &[("GREENLIGHT_REQUIRE_API_KEY", "true")]).await;
    let devx = app.create_key(&["--project", "Devx"]);
    let admin = app.create_key(&["--admin"]);
    // The older one is another project's: a Devx key must not take it.
    let other = deploy_to(&app, &app.address, "Other", "staging", Some(&admin)).await;
    let ours = deploy_to(&app, &app.address, "Devx", "staging", Some(&devx)).await;

    let no_key = claim_as(&app, &json!({"environments": ["staging"], "wait": 0}), None).await;
    problem(no_key, 401, "unauthorized").await;
    for (body, field) in [
        (json!({"environments": ["staging"], "wait": 61}), "wait"),
        (json!({"environments": ["staging"], "wait": -1}), "wait"),
        (json!({"environments": ["staging"], "wait": "5"}), "wait"),
        (
            json!({"environments": "staging", "wait": 0}),
            "environments",
        ),
        (json!({"environments": [], "wait": 0}), "environments"),
        (json!({"environments": [7], "wait": 0}), "environments"),
        (json!({"wait": 0}), "environments"),
        (
            json!({"environments": ["staging"], "team_projects": "Devx", "wait": 0}),
            "team_projects",
        ),
        (
            json!({"environments": ["staging"], "wait": 0, "environment": "prod"}),
            "body",
        ),
    ] {
        let refused = problem(
            claim_as(&app, &body, Some(&devx)).await,
            422,
            "validation-error",
        )
        .await;
        assert_eq!(refused["errors"][0]["field"], field, "{body}");
    }
    let malformed = post(&app, &app.address, "/runners/claim", Some(&devx))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    problem(malformed, 400, "malformed-body").await;
    let not_json = post(&app, &app.address, "/runners/claim", Some(&devx))
        .header("content-type", "text/plain")
        .body(r#"{"environments": ["staging"]}"#)
        .send()
        .await
        .unwrap();
    problem(not_json, 415, "unsupported-media-type").await;
    let elsewhere =
        json!({"environments": ["staging"], "team_projects": ["Devx", "Other"], "wait": 0});
    problem(
        claim_as(&app, &elsewhere, Some(&devx)).await,
        403,
        "forbidden",
    )
    .await;

    // Nothing was taken.
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM deployments WHERE status = 'queued' AND claim_token_hash IS NULL"
        ),
        2
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM deployment_statuses"), 2);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM events WHERE type = 'deployment.claimed'"
        ),
        0
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM jobs WHERE kind = 'deployment_runner_lost'"
        ),
        0
    );

    // The project key, naming no project, takes its own (the newer one).
    let got = claimed(
        &app,
        &json!({"environments": ["Staging"], "wait": 0}),
        Some(&devx),
    )
    .await;
    assert_eq!(got["id"], ours.as_str());
    assert_eq!(show_as(&app, &other, &admin).await["status"], "queued");
    // The admin key takes any project's.
    let got = claimed(
        &app,
        &json!({"environments": ["staging"], "wait": 0}),
        Some(&admin),
    )
    .await;
    assert_eq!(got["id"], other.as_str());
}

async fn a_claim_answers_204_when_nothing_is_queued(backend: Backend) {
    let app = app_with(backend, &[]).await;
    // Queued, but for another environment and another project.
    let prod = deploy_to(&app, &app.address, "octo/app", "production", None).await;
    let elsewhere = deploy_to(&app, &app.address, "octo/other", "staging", None).await;
    let none = claim_as(
        &app,
        &json!({"environments": ["staging"], "team_projects": ["octo/app"], "wait": 1}),
        None,
    )
    .await;
    assert_eq!(none.status(), 204);
    assert!(none.bytes().await.unwrap().is_empty());
    assert_eq!(show(&app, &prod).await["status"], "queued");
    assert_eq!(show(&app, &elsewhere).await["status"], "queued");
    // The claims were counted, by outcome.
    let metrics = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("greenlight_runner_claims_total{outcome=\"none\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("greenlight_runner_claim_wait_seconds_bucket{outcome=\"none\""));
}

async fn a_waiting_claim_receives_a_deployment_created_meanwhile(backend: Backend) {
    let app = app_with(backend, &[]).await;
    let (client, address) = (app.client.clone(), app.address.clone());
    let waiting = tokio::spawn(async move {
        client
            .post(format!("{address}/runners/claim"))
            .json(&json!({"environments": ["staging"], "wait": 30}))
            .send()
            .await
            .unwrap()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "the claim did not wait");
    let id = deploy_to(&app, &app.address, "octo/app", "staging", None).await;
    let answer = waiting.await.unwrap();
    assert_eq!(answer.status(), 200);
    let got: Value = answer.json().await.unwrap();
    assert_eq!(got["id"], id.as_str());
    assert_eq!(got["status"], "in_progress");
    assert_eq!(got["commit_sha"], "abcd1234");
    assert_eq!(got["variables"], json!({}));
    let token = got["claim"]["token"].as_str().unwrap();
    assert!(token.starts_with("glc_"), "{token}");
    assert!(time(&got["claim"]["expires_at"]) > Utc::now());
    assert_eq!(last_status(&got)["state"], "in_progress");
    // Only the token's hash is stored.
    let stored = app.db.texts("deployments", "claim_token_hash");
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].contains(token) && stored[0].len() == 64);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM events WHERE type = 'deployment.claimed' AND actor IS NULL"
        ),
        1
    );
    // The runner-lost job waits for the claim's expiry.
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM jobs WHERE kind = 'deployment_runner_lost' AND state = 'queued'"
        ),
        1
    );
}

async fn a_wrong_or_stale_claim_token_changes_nothing(backend: Backend) {
    let app = app_with(backend, &[]).await;
    let id = deploy_to(&app, &app.address, "octo/app", "staging", None).await;
    let got = claimed(&app, &json!({"environments": ["staging"], "wait": 0}), None).await;
    let token = got["claim"]["token"].as_str().unwrap().to_owned();
    let expiry = || app.db.texts("deployments", "claim_expires_at");
    let before = (show(&app, &id).await, expiry());

    let wrong = "glc_00000000000000000000000000000000";
    problem(
        status_with(&app, &id, "success", Some(wrong)).await,
        409,
        "claim-mismatch",
    )
    .await;
    problem(
        log_with(&app, &id, "not mine\n", wrong).await,
        409,
        "claim-mismatch",
    )
    .await;
    problem(
        heartbeat(&app, &id, Some(wrong)).await,
        409,
        "claim-mismatch",
    )
    .await;
    problem(heartbeat(&app, &id, Some("")).await, 409, "claim-mismatch").await;
    let missing = problem(heartbeat(&app, &id, None).await, 422, "validation-error").await;
    assert_eq!(missing["errors"][0]["field"], "Greenlight-Claim");
    // A refused transition with the right token renews nothing either.
    problem(
        status_with(&app, &id, "queued", Some(&token)).await,
        409,
        "invalid-transition",
    )
    .await;
    assert_eq!((show(&app, &id).await, expiry()), before);
    assert_eq!(log_of(&app, &id, None).await, "");

    // A key's post without the header stays allowed, and renews nothing.
    assert_eq!(
        status_with(&app, &id, "in_progress", None).await.status(),
        201
    );
    assert_eq!(expiry(), before.1);
    // The runner's own posts are accepted...
    assert_eq!(
        log_with(&app, &id, "deploying\n", &token).await.status(),
        200
    );
    assert_eq!(
        status_with(&app, &id, "success", Some(&token))
            .await
            .status(),
        201
    );
    // ...and once it finished, its token is stale.
    let finished = (show(&app, &id).await, expiry());
    let stale = problem(
        heartbeat(&app, &id, Some(&token)).await,
        409,
        "claim-expired",
    )
    .await;
    assert!(
        stale["detail"].as_str().unwrap().contains("success"),
        "{stale}"
    );
    problem(
        log_with(&app, &id, "late\n", &token).await,
        409,
        "claim-expired",
    )
    .await;
    problem(
        status_with(&app, &id, "failure", Some(&token)).await,
        409,
        "claim-expired",
    )
    .await;
    assert_eq!((show(&app, &id).await, expiry()), finished);
    assert_eq!(log_of(&app, &id, None).await, "deploying\n");
}

async fn a_heartbeat_renews_the_claim(backend: Backend) {
    let app = app_with(backend, &[]).await;
    let id = deploy_to(&app, &app.address, "octo/app", "staging", None).await;
    let got = claimed(&app, &json!({"environments": ["staging"], "wait": 0}), None).await;
    let token = got["claim"]["token"].as_str().unwrap();
    let first = time(&got["claim"]["expires_at"]);
    let answer = heartbeat(&app, &id, Some(token)).await;
    assert_eq!(answer.status(), 200);
    let renewed: Value = answer.json().await.unwrap();
    let second = time(&renewed["claim"]["expires_at"]);
    assert!(second > first, "{first} then {second}");
    let again: Value = heartbeat(&app, &id, Some(token))
        .await
        .json()
        .await
        .unwrap();
    assert!(time(&again["claim"]["expires_at"]) > second);
    // A heartbeat is no status and no event.
    assert_eq!(
        show(&app, &id).await["statuses"].as_array().unwrap().len(),
        2
    );
    assert_eq!(show(&app, &id).await["status"], "in_progress");
}

async fn a_lapsed_claim_ends_the_deployment_error_runner_lost(backend: Backend) {
    let app = app_with(backend, &[("GREENLIGHT_RUNNER_LEASE", "2s")]).await;
    let id = deploy_to(&app, &app.address, "octo/app", "staging", None).await;
    let got = claimed(&app, &json!({"environments": ["staging"], "wait": 0}), None).await;
    let token = got["claim"]["token"].as_str().unwrap().to_owned();
    let first_expiry = time(&got["claim"]["expires_at"]);

    // Renewed past its first expiry, it is not lost: the job that ran at
    // that expiry found a later one.
    let mut last_expiry = first_expiry;
    while Utc::now() < first_expiry + chrono::TimeDelta::milliseconds(1500) {
        let renewed: Value = heartbeat(&app, &id, Some(&token))
            .await
            .json()
            .await
            .unwrap();
        last_expiry = time(&renewed["claim"]["expires_at"]);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(show(&app, &id).await["status"], "in_progress");

    // Silent, it is lost: `error`, never queued again.
    let lost = wait_for_state(&app, &id, "error", None, Duration::from_secs(30)).await;
    let status = last_status(&lost);
    assert_eq!(status["description"], "runner lost");
    // Never before the claim lapsed (statuses are shown to the second).
    assert!(time(&status["at"]) >= last_expiry - chrono::TimeDelta::seconds(1));
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM events WHERE type = 'deployment.runner_lost'"
        ),
        1
    );
    problem(
        heartbeat(&app, &id, Some(&token)).await,
        409,
        "claim-expired",
    )
    .await;
    let again = claim_as(&app, &json!({"environments": ["staging"], "wait": 0}), None).await;
    assert_eq!(again.status(), 204);
    assert_eq!(show(&app, &id).await["status"], "error");
}

// -------------------------------------------------------- the real runner

async fn two_runners_on_two_replicas_run_each_deployment_exactly_once(backend: Backend) {
    let app = app_with(backend, &[]).await;
    let replica = app.start_replica().await;
    let ran = temp_file("ran");
    let script = format!(
        "echo \"$GREENLIGHT_DEPLOYMENT_ID\" >> {}; echo \"deploying $COMMIT_SHA of $REPOSITORY_URL to $ENVIRONMENT\"",
        ran.display()
    );
    let command = ["sh", "-c", script.as_str()];
    let args = ["--environment", "staging", "--wait", "5"];
    let _one = RunnerProcess::start(&app.address, &args, &[], &command);
    let _two = RunnerProcess::start(&replica, &args, &[], &command);

    let mut ids = BTreeSet::new();
    for i in 0..50 {
        let address = if i % 2 == 0 { &app.address } else { &replica };
        ids.insert(deploy_to(&app, address, "octo/app", "staging", None).await);
    }
    let until = std::time::Instant::now() + Duration::from_secs(180);
    loop {
        // Each success turns the previous one `inactive` (auto-inactive).
        let done = count(
            &app,
            "SELECT COUNT(DISTINCT deployment_pk) FROM deployment_statuses WHERE state = 'success'",
        );
        if done == 50 {
            break;
        }
        assert!(
            std::time::Instant::now() < until,
            "{done} of 50 succeeded: {}",
            app.db.texts("deployments", "status").join(",")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let lines: Vec<String> = std::fs::read_to_string(&ran)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let _ = std::fs::remove_file(&ran);
    assert_eq!(lines.len(), 50, "each deployment runs once: {lines:?}");
    assert_eq!(lines.into_iter().collect::<BTreeSet<_>>(), ids);
    // One claim each, and the command's output is each one's log.
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM events WHERE type = 'deployment.claimed'"
        ),
        50
    );
    let one = ids.first().unwrap();
    let log = log_of(&app, one, None).await;
    assert_eq!(
        log,
        "deploying abcd1234 of github.com/octo/app to staging\n"
    );
    let statuses = show(&app, one).await["statuses"].clone();
    let success = statuses
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["state"] == "success")
        .unwrap()
        .clone();
    assert_eq!(success["description"], "exit code 0");
}

async fn a_runner_killed_mid_deployment_ends_it_error_within_the_lease(backend: Backend) {
    let app = app_with(
        backend,
        &[
            ("GREENLIGHT_RUNNER_LEASE", "2s"),
            ("GREENLIGHT_REQUIRE_API_KEY", "true"),
        ],
    )
    .await;
    let key = app.create_key(&["--project", "octo/app"]);
    let pid_file = temp_file("pid");
    let script = format!(
        "echo \"key=${{GREENLIGHT_RUNNER_KEY:-none}}\"; echo $$ > {}; exec sleep 60",
        pid_file.display()
    );
    // The key from the environment, where `ps` does not show it.
    let mut runner = RunnerProcess::start(
        &app.address,
        &["--environment", "staging", "--wait", "5"],
        &[("GREENLIGHT_RUNNER_KEY", key.as_str())],
        &["sh", "-c", script.as_str()],
    );
    let id = deploy_to(&app, &app.address, "octo/app", "staging", Some(&key)).await;
    // The command runs without the runner's key.
    wait_for_log(&app, &id, "key=none", Some(&key), Duration::from_secs(30)).await;
    // A quiet command keeps its claim past the lease: the runner renews it.
    let claimed_at = Utc::now();
    while Utc::now() < claimed_at + chrono::TimeDelta::seconds(3) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(show_as(&app, &id, &key).await["status"], "in_progress");

    runner.child.kill().unwrap(); // SIGKILL: no shutdown code runs
    runner.child.wait().unwrap();
    let lost = wait_for_state(&app, &id, "error", Some(&key), Duration::from_secs(30)).await;
    kill_pid_in(&pid_file);
    assert_eq!(last_status(&lost)["description"], "runner lost");
    assert!(!runner.output().contains(&key), "the key was logged");
}

async fn sigterm_stops_an_idle_runner_at_once(backend: Backend) {
    let app = app_with(backend, &[]).await;
    let mut runner = RunnerProcess::start(
        &app.address,
        &["--environment", "staging", "--wait", "60"],
        &[],
        &["true"],
    );
    runner.wait_for_output("waiting for deployments").await;
    // Let its long poll start.
    tokio::time::sleep(Duration::from_millis(300)).await;
    runner.signal("TERM");
    // Well before its 60 s poll would have ended.
    assert_eq!(runner.exit_code(Duration::from_secs(10)).await, 0);
    assert!(
        runner.output().contains("runner stopped"),
        "{}",
        runner.output()
    );
    // It took nothing on its way out.
    let id = deploy_to(&app, &app.address, "octo/app", "staging", None).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(show(&app, &id).await["status"], "queued");
}

async fn sigterm_lets_a_running_command_finish_and_reports_it(backend: Backend) {
    let app = app_with(backend, &[]).await;
    let mut runner = RunnerProcess::start(
        &app.address,
        &["--environment", "staging", "--wait", "5", "--grace", "60s"],
        &[],
        &["sh", "-c", "echo begun; sleep 2; echo finished; exit 3"],
    );
    let id = deploy_to(&app, &app.address, "octo/app", "staging", None).await;
    wait_for_log(&app, &id, "begun", None, Duration::from_secs(30)).await;
    runner.signal("TERM");
    // No more claims: this one stays queued.
    let next = deploy_to(&app, &app.address, "octo/app", "staging", None).await;
    assert_eq!(runner.exit_code(Duration::from_secs(60)).await, 0);
    let done = show(&app, &id).await;
    assert_eq!(done["status"], "failure");
    assert_eq!(last_status(&done)["description"], "exit code 3");
    assert_eq!(log_of(&app, &id, None).await, "begun\nfinished\n");
    assert_eq!(show(&app, &next).await["status"], "queued");
}

async fn sigterm_stops_a_command_that_outlives_the_grace(backend: Backend) {
    let app = app_with(backend, &[]).await;
    let mut runner = RunnerProcess::start(
        &app.address,
        &["--environment", "staging", "--wait", "5", "--grace", "1s"],
        &[],
        &["sh", "-c", "echo begun; sleep 60; echo never"],
    );
    let id = deploy_to(&app, &app.address, "octo/app", "staging", None).await;
    wait_for_log(&app, &id, "begun", None, Duration::from_secs(30)).await;
    runner.signal("TERM");
    assert_eq!(runner.exit_code(Duration::from_secs(30)).await, 0);
    let stopped = show(&app, &id).await;
    assert_eq!(stopped["status"], "error");
    let description = last_status(&stopped)["description"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(description.contains("--grace"), "{description}");
    assert_eq!(log_of(&app, &id, None).await, "begun\n");
}
