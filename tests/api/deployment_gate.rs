//! Approval is the gate (`deploy_requires_approval`): a deployment waits
//! on its release, created or joined through the releases wing, is queued
//! when the release is approved through the real approval links and
//! canceled with the reason when it is rejected; the project's webhook
//! gets the deployment's events, signed as Standard Webhooks sign; the
//! dashboard shows a deployment with its log, escaped.

use std::time::Duration;

use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::both_backends;
use crate::helpers::{cli, spawn_app_with, Backend, TestApp};
use crate::webhooks::{assert_verified, whsec};

both_backends!(
    a_gated_deployment_waits_and_is_queued_when_its_release_is_approved,
    a_deployment_behind_a_rejected_release_is_canceled_and_never_in_progress,
    deployments_with_one_release_id_share_their_release,
    a_bad_release_id_is_refused_and_changes_nothing,
    the_project_webhook_gets_each_deployment_event_signed,
    the_dashboard_shows_a_deployment_with_its_log_escaped,
);

const SHA: &str = "0123abcdef4567";

/// An app whose `octo/app` production deployments wait for approval (by
/// `greenlight.toml`); staging does not.
async fn gated_app(
    backend: Backend,
    configure: impl FnOnce(&mut std::collections::HashMap<String, String>),
) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("greenlight.toml");
    std::fs::write(
        &config,
        "[projects.\"octo/app\".environments.production]\ndeploy_requires_approval = true\n",
    )
    .unwrap();
    let app = spawn_app_with(
        backend,
        |env| {
            env.insert("GREENLIGHT_CONFIG".into(), config.display().to_string());
            configure(env);
        },
        true,
    )
    .await;
    (app, dir)
}

async fn create(app: &TestApp, body: Value) -> Value {
    let answer = app
        .client
        .post(format!("{}/deployments", app.address))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201, "{body}");
    answer.json().await.unwrap()
}

fn body(environment: &str) -> Value {
    json!({"repository_url": "https://github.com/octo/app.git", "commit_sha": SHA, "environment": environment})
}

async fn deployment(app: &TestApp, id: &str) -> Value {
    app.get_json(&format!("/deployments/{id}")).await
}

/// Waits until deployment `id` is `state`.
async fn wait_for_state(app: &TestApp, id: &str, state: &str) -> Value {
    for _ in 0..400 {
        let d = deployment(app, id).await;
        if d["status"] == state {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{id} never became {state}: {}", deployment(app, id).await);
}

fn states(document: &Value) -> Vec<String> {
    document["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap().to_owned())
        .collect()
}

/// A runner's claim for production: 200 with what it got, or 204.
async fn claim(app: &TestApp, wait: u64) -> (u16, Value) {
    claim_at(&app.client, &app.address, wait).await
}

async fn claim_at(client: &reqwest::Client, address: &str, wait: u64) -> (u16, Value) {
    let answer = client
        .post(format!("{address}/runners/claim"))
        .json(&json!({"environments": ["production"], "wait": wait}))
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

async fn a_gated_deployment_waits_and_is_queued_when_its_release_is_approved(backend: Backend) {
    let (app, _dir) = gated_app(backend, |env| {
        env.insert(
            "GREENLIGHT_ENCRYPTION_KEY".into(),
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".into(),
        );
    })
    .await;
    let secret = app
        .client
        .put(format!(
            "{}/projects/octo%2Fapp/environments/production/variables/DB_PASSWORD",
            app.address
        ))
        .json(&json!({"value": "gate-secret-1", "secret": true}))
        .send()
        .await
        .unwrap();
    assert!(secret.status().is_success(), "{}", secret.status());
    let gated = create(&app, body("production")).await;
    assert_eq!(gated["status"], "waiting", "{gated}");
    let release = &gated["release"];
    assert_eq!(release["release_id"], SHA);
    assert_eq!(release["release_name"], "octo/app@0123abc");
    assert_eq!(release["team_project"], "octo/app");
    assert_eq!(release["environment"], "production");
    assert_eq!(release["status"], "pending");
    // Staging is not gated.
    let free = create(&app, body("staging")).await;
    assert_eq!(free["status"], "queued");
    assert!(free["release"].is_null());
    // A waiting deployment cannot be moved on by hand.
    let id = gated["id"].as_str().unwrap();
    let early = app
        .client
        .post(format!("{}/deployments/{id}/statuses", app.address))
        .json(&json!({"state": "in_progress"}))
        .send()
        .await
        .unwrap();
    assert_eq!(early.status(), 409);
    // Nor can a runner take it, nor learn the environment's secret.
    assert_eq!(claim(&app, 0).await.0, 204);
    // A runner waiting when the release is approved gets it at once, with
    // the environment's variables, the secret opened.
    let waiting = {
        let (client, address) = (app.client.clone(), app.address.clone());
        tokio::spawn(async move { claim_at(&client, &address, 30).await })
    };
    // The approvers get the usual emails; their links approve.
    for mail in app.wait_for_mails(2).await {
        assert_eq!(app.approve(&mail.token()).await.status(), 200);
    }
    let (status, claimed) = waiting.await.unwrap();
    assert_eq!(status, 200, "{claimed}");
    assert_eq!(claimed["id"], id);
    assert_eq!(claimed["variables"]["DB_PASSWORD"], "gate-secret-1");
    let taken = deployment(&app, id).await;
    assert_eq!(states(&taken), ["waiting", "queued", "in_progress"]);
    assert_eq!(taken["release"]["status"], "approved");
    let last = &taken["statuses"][1];
    assert_eq!(last["description"], format!("release {SHA} approved"));
    // The pipeline may poll the release as before.
    let polled = app.get_json(&format!("/releases/octo%2Fapp/{SHA}")).await;
    assert_eq!(polled["status"], "approved", "{polled}");
}

async fn a_deployment_behind_a_rejected_release_is_canceled_and_never_in_progress(
    backend: Backend,
) {
    let (app, _dir) = gated_app(backend, |_| {}).await;
    let gated = create(&app, body("production")).await;
    let id = gated["id"].as_str().unwrap();
    assert_eq!(claim(&app, 0).await.0, 204);
    let mails = app.wait_for_mails(2).await;
    let rejected = app
        .post_decision(&[
            ("token", &mails[0].token()),
            ("decision", "reject"),
            ("comment", "not today"),
        ])
        .await;
    assert_eq!(rejected.status(), 200);
    let canceled = wait_for_state(&app, id, "canceled").await;
    assert_eq!(states(&canceled), ["waiting", "canceled"]);
    // No runner gets it.
    assert_eq!(claim(&app, 1).await.0, 204);
    assert_eq!(
        canceled["statuses"][1]["description"],
        format!("release {SHA} rejected")
    );
    assert!(canceled["finished_at"].is_string());
    // Final: nothing moves it (no runner may start it) and its log is closed.
    for state in ["queued", "in_progress", "success"] {
        let refused = app
            .client
            .post(format!("{}/deployments/{id}/statuses", app.address))
            .json(&json!({"state": state}))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 409, "{state}");
    }
    let log = app
        .client
        .post(format!("{}/deployments/{id}/logs", app.address))
        .body("too late")
        .send()
        .await
        .unwrap();
    assert_eq!(log.status(), 409);
    let after = deployment(&app, id).await;
    assert_eq!(states(&after), ["waiting", "canceled"]);
    // A new deployment behind the same (rejected) release is canceled at once.
    let again = create(&app, body("production")).await;
    assert_eq!(again["status"], "canceled", "{again}");
    assert_eq!(states(&again), ["waiting", "canceled"]);
}

async fn deployments_with_one_release_id_share_their_release(backend: Backend) {
    let (app, _dir) = gated_app(backend, |_| {}).await;
    let mut first = body("production");
    first["release_id"] = json!("2026.12.1");
    let mut second = first.clone();
    second["commit_sha"] = json!(SHA);
    let a = create(&app, first).await;
    let b = create(&app, second).await;
    assert_eq!(a["release"]["release_id"], "2026.12.1");
    assert_eq!(b["release"]["release_id"], "2026.12.1");
    assert_eq!(
        app.db.count("SELECT COUNT(*) FROM releases"),
        1,
        "one release for both"
    );
    for mail in app.wait_for_mails(2).await {
        assert_eq!(app.approve(&mail.token()).await.status(), 200);
    }
    for d in [&a, &b] {
        wait_for_state(&app, d["id"].as_str().unwrap(), "queued").await;
    }
}

async fn a_bad_release_id_is_refused_and_changes_nothing(backend: Backend) {
    let (app, _dir) = gated_app(backend, |_| {}).await;
    for bad in [
        json!(""),
        json!("a".repeat(200)),
        json!("tab\there"),
        json!(7),
    ] {
        let mut request = body("production");
        request["release_id"] = bad.clone();
        let answer = app
            .client
            .post(format!("{}/deployments", app.address))
            .json(&request)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 422, "{bad}");
        let problem: Value = answer.json().await.unwrap();
        assert_eq!(problem["errors"][0]["field"], "release_id", "{problem}");
    }
    assert_eq!(app.db.count("SELECT COUNT(*) FROM deployments"), 0);
    assert_eq!(app.db.count("SELECT COUNT(*) FROM releases"), 0);
    // `greenlight config` shows the key and where it is set.
    let (ok, out, err) = cli(&app.env, &["config"]);
    assert!(ok, "{err}");
    let line = out
        .lines()
        .skip_while(|l| !l.contains("projects.octo/app.environments.production"))
        .find(|l| l.contains("deploy_requires_approval"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(line.contains("true"), "{line}");
}

async fn the_project_webhook_gets_each_deployment_event_signed(backend: Backend) {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let uri = receiver.uri();
    let (app, _dir) = gated_app(backend, |env| {
        env.insert("GREENLIGHT_WEBHOOK_URL".into(), format!("{uri}/hook"));
        env.insert("GREENLIGHT_WEBHOOK_SECRET".into(), whsec(9));
    })
    .await;
    let d = create(&app, body("staging")).await;
    let id = d["id"].as_str().unwrap();
    for state in ["in_progress", "success"] {
        let answer = app
            .client
            .post(format!("{}/deployments/{id}/statuses", app.address))
            .json(&json!({"state": state}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 201);
    }
    let mut requests = Vec::new();
    for _ in 0..400 {
        requests = receiver.received_requests().await.unwrap();
        if requests.len() >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(requests.len(), 4, "created, two statuses, finished");
    let mut seen: Vec<(String, String, String)> = requests
        .iter()
        .map(|r| {
            assert_verified(&whsec(9), r, true);
            let payload: Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(payload["data"]["id"], id);
            assert!(
                payload["data"].get("original_request").is_none(),
                "{payload}"
            );
            assert!(payload["timestamp"].is_string());
            (
                payload["type"].as_str().unwrap().to_owned(),
                payload["data"]["status"].as_str().unwrap().to_owned(),
                r.headers["webhook-id"].to_str().unwrap().to_owned(),
            )
        })
        .collect();
    let ids: std::collections::HashSet<_> = seen.iter().map(|s| s.2.clone()).collect();
    assert_eq!(ids.len(), 4, "each delivery has its own id");
    let mut kinds: Vec<(String, String)> = seen.drain(..).map(|(t, s, _)| (t, s)).collect();
    kinds.sort();
    let expected: Vec<(String, String)> = [
        ("deployment.created", "queued"),
        ("deployment.finished", "success"),
        ("deployment.status", "in_progress"),
        ("deployment.status", "success"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    assert_eq!(kinds, expected);
}

async fn the_dashboard_shows_a_deployment_with_its_log_escaped(backend: Backend) {
    let (app, _dir) = gated_app(backend, |_| {}).await;
    let mut request = body("production");
    request["ref"] = json!("<i>main</i>");
    let d = create(&app, request).await;
    let id = d["id"].as_str().unwrap();
    // Gated, so the page links its release; canceled so it has statuses.
    let log = app
        .client
        .post(format!("{}/deployments/{id}/logs", app.address))
        .body("step 1 <script>alert(1)</script>\n")
        .send()
        .await
        .unwrap();
    assert_eq!(log.status(), 200);
    // The releases dashboard links the deployments.
    let home = app
        .client
        .get(format!("{}/ui", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(home.contains("href=\"ui/deployments\""), "{home}");
    let list = app
        .client
        .get(format!("{}/ui/deployments", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200);
    let list = list.text().await.unwrap();
    assert!(
        list.contains(&format!("href=\"deployments/{id}\"")),
        "{list}"
    );
    let page = app
        .client
        .get(format!("{}/ui/deployments/{id}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    let page = page.text().await.unwrap();
    assert!(
        page.contains("step 1 &#60;script&#62;alert(1)&#60;/script&#62;"),
        "{page}"
    );
    assert!(!page.contains("<script>"), "{page}");
    assert!(page.contains("&#60;i&#62;main&#60;/i&#62;"), "{page}");
    assert!(
        page.contains(&format!("href=\"{id}\"")),
        "a refresh link: {page}"
    );
    assert!(page.contains("waiting"), "{page}");
    assert!(
        page.contains(&format!("releases/octo%2Fapp/production/{SHA}")),
        "the release's link: {page}"
    );
    // An unknown one is a page that says so.
    let unknown = app
        .client
        .get(format!("{}/ui/deployments/dpl_nope", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}
