//! GitHub as a deployment provider: `deployment` events through the
//! App's webhook become deployments (the event and the request it was
//! mapped to both kept), their statuses go back to a stub of GitHub's API
//! that checks what GitHub checks, and the seed's scoped routes answer
//! one repository's deployments.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};
use wiremock::matchers::{header, method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::both_backends;
use crate::github::sign;
use crate::helpers::{spawn_app_with, Backend, TestApp, PUBLIC_URL};

both_backends!(
    a_deployment_event_is_recorded_and_its_statuses_reach_github,
    bad_deployment_events_change_nothing,
    github_refusing_a_status_gives_up_and_an_outage_is_retried,
    scoped_routes_answer_one_repository_only,
);

const APP_ID: &str = "12345";
const WEBHOOK_SECRET: &str = "gh-webhook-secret";
const INSTALLATION_TOKEN: &str = "ghs_installation_token_for_deployments";
const PRIVATE_KEY: &str = include_str!("../fixtures/github-app-test.pem");
const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

/// The states "Create a deployment status" accepts.
const GITHUB_STATES: [&str; 7] = [
    "error",
    "failure",
    "inactive",
    "in_progress",
    "queued",
    "pending",
    "success",
];

/// What GitHub checks of a status's body: JSON, an allowed `state`, a
/// `description` of at most 140 characters, URLs as text, a boolean
/// `auto_inactive`.
struct GithubStatusBody;

impl wiremock::Match for GithubStatusBody {
    fn matches(&self, request: &Request) -> bool {
        let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&request.body) else {
            return false;
        };
        let text_or_absent = |name: &str| body.get(name).is_none_or(Value::is_string);
        body.get("state")
            .and_then(Value::as_str)
            .is_some_and(|s| GITHUB_STATES.contains(&s))
            && body
                .get("description")
                .is_none_or(|d| d.as_str().is_some_and(|d| d.chars().count() <= 140))
            && text_or_absent("log_url")
            && text_or_absent("environment_url")
            && body.get("auto_inactive").is_none_or(Value::is_boolean)
    }
}

async fn mount_installation_token(api: &MockServer) {
    let expires = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    Mock::given(method("POST"))
        .and(path("/app/installations/42/access_tokens"))
        .and(header("accept", "application/vnd.github+json"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"token": INSTALLATION_TOKEN, "expires_at": expires})),
        )
        .mount(api)
        .await;
}

/// GitHub's statuses endpoint for `github_id`'s deployment of
/// `repository`, answering `status` to what GitHub would accept.
fn statuses(repository: &str, github_id: i64, status: u16) -> Mock {
    Mock::given(method("POST"))
        .and(path(format!(
            "/repos/{repository}/deployments/{github_id}/statuses"
        )))
        .and(header(
            "authorization",
            format!("Bearer {INSTALLATION_TOKEN}").as_str(),
        ))
        .and(header("accept", "application/vnd.github+json"))
        .and(header("x-github-api-version", "2022-11-28"))
        .and(header("content-type", "application/json"))
        .and(GithubStatusBody)
        .respond_with(ResponseTemplate::new(status).set_body_json(json!({"id": 1})))
}

async fn github_app(
    backend: Backend,
    api: &MockServer,
    configure: impl FnOnce(&mut HashMap<String, String>),
) -> TestApp {
    let api_url = api.uri();
    spawn_app_with(
        backend,
        move |env| {
            env.insert("GREENLIGHT_GITHUB_APP_ID".into(), APP_ID.into());
            env.insert("GREENLIGHT_GITHUB_PRIVATE_KEY".into(), PRIVATE_KEY.into());
            env.insert(
                "GREENLIGHT_GITHUB_WEBHOOK_SECRET".into(),
                WEBHOOK_SECRET.into(),
            );
            env.insert("GREENLIGHT_GITHUB_API_URL".into(), api_url);
            env.insert("GREENLIGHT_GITHUB_REDELIVERY_INTERVAL".into(), "off".into());
            configure(env);
        },
        true,
    )
    .await
}

/// A `deployment` event (action `created`) as GitHub sends it, trimmed
/// of the fields nobody reads here.
fn deployment_event(github_id: i64, repository: &str, environment: &str) -> Value {
    json!({
        "action": "created",
        "deployment": {
            "url": format!("https://api.github.com/repos/{repository}/deployments/{github_id}"),
            "id": github_id,
            "node_id": "DE_kwDOABCD",
            "sha": SHA,
            "ref": "main",
            "task": "deploy",
            "payload": {"stack_name": "Demo", "version": "1.0.1", "other": [1, 2]},
            "original_environment": environment,
            "environment": environment,
            "description": "Deploy request from hubot",
            "creator": {"login": "octocat", "id": 1},
            "created_at": "2026-12-03T10:00:00Z",
            "updated_at": "2026-12-03T10:00:00Z",
            "statuses_url": format!("https://api.github.com/repos/{repository}/deployments/{github_id}/statuses"),
            "repository_url": format!("https://api.github.com/repos/{repository}"),
            "transient_environment": false,
            "production_environment": false
        },
        "repository": {
            "id": 7,
            "name": repository.split('/').nth(1).unwrap(),
            "full_name": repository,
            "html_url": format!("https://github.com/{repository}"),
            "private": true,
            "owner": {"login": repository.split('/').next().unwrap()}
        },
        "installation": {"id": 42, "node_id": "MDIz"},
        "sender": {"login": "octocat", "id": 1}
    })
}

async fn deliver_raw(app: &TestApp, event: &str, raw: Vec<u8>, secret: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/integrations/github", app.address))
        .header("X-GitHub-Event", event)
        .header("X-GitHub-Delivery", "d-1")
        .header("X-Hub-Signature-256", sign(&raw, secret))
        .header("Content-Type", "application/json")
        .body(raw)
        .send()
        .await
        .unwrap()
}

async fn deliver(app: &TestApp, body: &Value) -> reqwest::Response {
    deliver_raw(
        app,
        "deployment",
        serde_json::to_vec(body).unwrap(),
        WEBHOOK_SECRET,
    )
    .await
}

/// The status bodies GitHub received for `github_id`'s deployment, once
/// there are at least `n`.
async fn reported(api: &MockServer, github_id: i64, n: usize) -> Vec<Value> {
    let wanted = format!("/deployments/{github_id}/statuses");
    for _ in 0..400 {
        let got: Vec<Value> = api
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.url.path().ends_with(&wanted))
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect();
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("fewer than {n} statuses of deployment {github_id} reached GitHub");
}

async fn post_json(app: &TestApp, path: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(format!("{}{path}", app.address))
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn get(app: &TestApp, path: &str, key: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(format!("{}{path}", app.address));
    if let Some(key) = key {
        request = request.header("X-API-Key", key);
    }
    request.send().await.unwrap()
}

async fn problem(answer: reqwest::Response, status: u16) -> Value {
    assert_eq!(answer.status(), status);
    assert_eq!(
        answer.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    answer.json().await.unwrap()
}

async fn a_deployment_event_is_recorded_and_its_statuses_reach_github(backend: Backend) {
    let api = MockServer::start().await;
    mount_installation_token(&api).await;
    statuses("octo/app", 9001, 201).mount(&api).await;
    let app = github_app(backend, &api, |_| {}).await;

    let event = deployment_event(9001, "octo/app", "staging");
    // Sent as GitHub formats it: the stored original is these bytes.
    let raw = serde_json::to_vec_pretty(&event).unwrap();
    let created = deliver_raw(&app, "deployment", raw.clone(), WEBHOOK_SECRET).await;
    assert_eq!(created.status(), 201);
    let doc: Value = created.json().await.unwrap();
    let id = doc["id"].as_str().unwrap().to_owned();
    let mapped = json!({
        "repository_url": "github.com/octo/app",
        "commit_sha": SHA,
        "environment": "staging",
        "team_project": "octo/app",
        "ref": "main",
        "stack_name": "Demo",
        "version": "1.0.1"
    });
    assert_eq!(doc["team_project"], "octo/app");
    assert_eq!(doc["environment"], "staging");
    assert_eq!(doc["repository_url"], "github.com/octo/app");
    assert_eq!(doc["commit_sha"], SHA);
    assert_eq!(doc["ref"], "main");
    assert_eq!(
        (doc["stack_name"].as_str(), doc["version"].as_str()),
        (Some("Demo"), Some("1.0.1"))
    );
    assert_eq!(doc["status"], "queued");
    assert_eq!(doc["original_request"], event);
    assert_eq!(doc["original_mapped_request"], mapped);
    assert_eq!(
        app.db.texts("deployments", "original_request"),
        vec![String::from_utf8(raw.clone()).unwrap()]
    );
    let stored_mapped: Value = serde_json::from_str(
        &app.db
            .texts("github_deployments", "original_mapped_request")[0],
    )
    .unwrap();
    assert_eq!(stored_mapped, mapped);

    // Its first status reaches GitHub with our log's URL.
    let log_url = format!("{PUBLIC_URL}/deployments/{id}/logs");
    let first = reported(&api, 9001, 1).await;
    assert_eq!(
        first[0],
        json!({"state": "queued", "log_url": log_url, "description": "", "auto_inactive": false})
    );

    // GitHub redelivers: the same record, nothing new.
    let again = deliver_raw(&app, "deployment", raw, WEBHOOK_SECRET).await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], id.as_str());
    assert_eq!(app.db.count("SELECT COUNT(*) FROM deployments"), 1);
    assert_eq!(app.db.count("SELECT COUNT(*) FROM github_deployments"), 1);

    // Statuses a runner posts go to GitHub in order.
    let running = post_json(
        &app,
        &format!("/deployments/{id}/statuses"),
        &json!({"state": "in_progress", "environment_url": "https://staging.example.com"}),
    )
    .await;
    assert_eq!(running.status(), 201);
    let second = reported(&api, 9001, 2).await;
    assert_eq!(
        second[1],
        json!({"state": "in_progress", "log_url": log_url, "description": "",
               "environment_url": "https://staging.example.com", "auto_inactive": false})
    );
    let long = "d".repeat(140);
    let done = post_json(
        &app,
        &format!("/deployments/{id}/statuses"),
        &json!({"state": "success", "description": long}),
    )
    .await;
    assert_eq!(done.status(), 201);
    let third = reported(&api, 9001, 3).await;
    assert_eq!(third[2]["state"], "success");
    assert_eq!(third[2]["description"], long.as_str());
    assert_eq!(third[2]["environment_url"], "https://staging.example.com");

    // The plain document has no mapped request; the scoped one has.
    let plain: Value = get(&app, &format!("/deployments/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert!(plain.get("original_mapped_request").is_none());
    assert_eq!(plain["status"], "success");
    let scoped: Value = get(&app, &format!("/github/octo/app/deployment/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(scoped["original_mapped_request"], mapped);
    assert_eq!(scoped["statuses"], plain["statuses"]);

    // A newer success of the same place turns this one inactive: GitHub
    // is told that too.
    let newer = deliver(&app, &deployment_event(9002, "octo/app", "staging")).await;
    assert_eq!(newer.status(), 201);
    statuses("octo/app", 9002, 201).mount(&api).await;
    let newer: Value = newer.json().await.unwrap();
    let newer_id = newer["id"].as_str().unwrap();
    let done = post_json(
        &app,
        &format!("/deployments/{newer_id}/statuses"),
        &json!({"state": "success"}),
    )
    .await;
    assert_eq!(done.status(), 201);
    let fourth = reported(&api, 9001, 4).await;
    assert_eq!(fourth[3]["state"], "inactive");
    assert_eq!(
        fourth[3]["description"],
        format!("superseded by {newer_id}").as_str()
    );
}

async fn bad_deployment_events_change_nothing(backend: Backend) {
    let api = MockServer::start().await;
    mount_installation_token(&api).await;
    let app = github_app(backend, &api, |_| {}).await;
    let good = deployment_event(1, "octo/app", "production");

    // A bad signature: 401, nothing read.
    let forged = deliver_raw(
        &app,
        "deployment",
        serde_json::to_vec(&good).unwrap(),
        "wrong",
    )
    .await;
    problem(forged, 401).await;

    // Values no deployment can have: 422 naming the event's field.
    let mut cases: Vec<(Value, &str)> = Vec::new();
    let mut bad_sha = good.clone();
    bad_sha["deployment"]["sha"] = json!("not-a-sha");
    cases.push((bad_sha, "deployment.sha"));
    let mut long_sha = good.clone();
    long_sha["deployment"]["sha"] = json!("a".repeat(65));
    cases.push((long_sha, "deployment.sha"));
    let mut blank_environment = good.clone();
    blank_environment["deployment"]["environment"] = json!("  ");
    cases.push((blank_environment, "deployment.environment"));
    let mut control = good.clone();
    control["deployment"]["ref"] = json!("main\u{7}");
    cases.push((control, "deployment.ref"));
    let mut no_installation = good.clone();
    no_installation
        .as_object_mut()
        .unwrap()
        .remove("installation");
    cases.push((no_installation, "installation.id"));
    let mut bad_repository = good.clone();
    bad_repository["repository"]["full_name"] = json!("octo/../app");
    cases.push((bad_repository, "repository.full_name"));
    for (event, field) in cases {
        let refused = problem(deliver(&app, &event).await, 422).await;
        assert_eq!(refused["errors"][0]["field"], field, "{event}");
    }

    // Not a deployment event at all: 400.
    for body in [
        json!({"action": "created"}),
        json!({"action": "created", "deployment": {"id": "x"}, "repository": {}}),
        json!([1, 2]),
    ] {
        problem(deliver(&app, &body).await, 400).await;
    }

    // Another action: acknowledged and ignored.
    let mut other = good.clone();
    other["action"] = json!("deleted");
    let ignored = deliver(&app, &other).await;
    assert_eq!(ignored.status(), 202);
    assert!(ignored.json::<Value>().await.unwrap()["ignored"].is_string());

    assert_eq!(app.db.count("SELECT COUNT(*) FROM deployments"), 0);
    assert_eq!(app.db.count("SELECT COUNT(*) FROM github_deployments"), 0);
    assert_eq!(app.db.count("SELECT COUNT(*) FROM jobs"), 0);
    assert_eq!(app.db.count("SELECT COUNT(*) FROM events"), 0);
}

async fn github_refusing_a_status_gives_up_and_an_outage_is_retried(backend: Backend) {
    let api = MockServer::start().await;
    mount_installation_token(&api).await;
    // Deployment 500: GitHub is down once, then takes it.
    statuses("octo/app", 500, 500)
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&api)
        .await;
    statuses("octo/app", 500, 201).mount(&api).await;
    // Deployment 422: GitHub refuses it for good.
    statuses("octo/app", 422, 422).mount(&api).await;
    let app = github_app(backend, &api, |_| {}).await;

    let outage = deliver(&app, &deployment_event(500, "octo/app", "qa")).await;
    assert_eq!(outage.status(), 201);
    let outage: Value = outage.json().await.unwrap();
    let attempts = reported(&api, 500, 2).await;
    assert_eq!(attempts[0], attempts[1]);
    assert_eq!(attempts[1]["state"], "queued");
    // A cancel: GitHub has no canceled state; an error that says so.
    let id = outage["id"].as_str().unwrap();
    let canceled = post_json(&app, &format!("/deployments/{id}/cancel"), &json!({})).await;
    assert_eq!(canceled.status(), 200);
    let after = reported(&api, 500, 3).await;
    assert_eq!(
        after[2],
        json!({"state": "error", "description": "canceled", "auto_inactive": false,
               "log_url": format!("{PUBLIC_URL}/deployments/{id}/logs")})
    );

    assert_eq!(
        deliver(&app, &deployment_event(422, "octo/app", "qa"))
            .await
            .status(),
        201
    );
    let failed = "SELECT COUNT(*) FROM events WHERE type = 'deployment.github_failed'";
    for _ in 0..400 {
        if app.db.count(failed) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(app.db.count(failed), 1);
    // Refused once, not retried.
    assert_eq!(reported(&api, 422, 1).await.len(), 1);
    let detail: Value = serde_json::from_str(
        &app.db
            .texts("events", "detail")
            .into_iter()
            .find(|d| d.contains("\"to\":\"github\""))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(detail["state"], "queued");
    assert!(
        detail["reason"].as_str().unwrap().contains("422"),
        "{detail}"
    );
    // The refused deployment itself is as it was; the outage left no event.
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM deployments WHERE status = 'queued'"),
        1
    );
    app.wait_for_idle_queue().await;
    assert_eq!(app.db.count(failed), 1);
}

async fn scoped_routes_answer_one_repository_only(backend: Backend) {
    let api = MockServer::start().await;
    mount_installation_token(&api).await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/repos/octo/[a-z]+/deployments/\d+/statuses$"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&api)
        .await;
    let app = github_app(backend, &api, |env| {
        env.insert("GREENLIGHT_REQUIRE_API_KEY".into(), "true".into());
        env.insert(
            "GREENLIGHT_GITHUB_PROJECTS".into(),
            "octo/mapped=Devx".into(),
        );
    })
    .await;
    let app_key = app.create_key(&["--project", "octo/app"]);
    let other_key = app.create_key(&["--project", "octo/other"]);
    let admin = app.create_key(&["--admin"]);

    // The webhook needs no key: its signature is the credential.
    let first: Value = deliver(&app, &deployment_event(11, "octo/app", "production"))
        .await
        .json()
        .await
        .unwrap();
    let elsewhere: Value = deliver(&app, &deployment_event(12, "octo/other", "production"))
        .await
        .json()
        .await
        .unwrap();
    // One recorded through POST /deployments, of the same repository.
    let posted = app
        .client
        .post(format!("{}/deployments", app.address))
        .header("X-API-Key", &app_key)
        .json(
            &json!({"repository_url": "https://github.com/octo/app.git", "commit_sha": "abcdef1"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 201);
    let posted: Value = posted.json().await.unwrap();
    let (first_id, elsewhere_id, posted_id) = (
        first["id"].as_str().unwrap(),
        elsewhere["id"].as_str().unwrap(),
        posted["id"].as_str().unwrap(),
    );

    // The repository's deployments, newest first, matched as GitHub
    // matches names (case-insensitively).
    for (path, key) in [
        ("/github/octo/app/deployments", &app_key),
        ("/github/Octo/App/deployments", &admin),
    ] {
        let list: Value = get(&app, path, Some(key)).await.json().await.unwrap();
        let ids: Vec<&str> = list["deployments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [posted_id, first_id], "{path}");
        assert!(list["deployments"][0]["original_mapped_request"].is_null());
        assert_eq!(
            list["deployments"][1]["original_mapped_request"]["team_project"],
            "octo/app"
        );
        assert!(list["next_cursor"].is_null());
    }
    // Paged, with the same filters as /deployments.
    let page: Value = get(&app, "/github/octo/app/deployments?limit=1", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["deployments"][0]["id"], posted_id);
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest: Value = get(
        &app,
        &format!("/github/octo/app/deployments?limit=1&cursor={cursor}"),
        Some(&admin),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(rest["deployments"][0]["id"], first_id);
    let by_sha: Value = get(
        &app,
        "/github/octo/app/deployments?sha=abcdef",
        Some(&admin),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(by_sha["deployments"].as_array().unwrap().len(), 1);

    // One deployment, and its log, under its own repository only.
    let shown = get(
        &app,
        &format!("/github/octo/app/deployment/{first_id}"),
        Some(&app_key),
    )
    .await;
    assert_eq!(shown.status(), 200);
    let shown: Value = shown.json().await.unwrap();
    assert_eq!(shown["original_request"]["deployment"]["id"], 11);
    let appended = app
        .client
        .post(format!("{}/deployments/{first_id}/logs", app.address))
        .header("X-API-Key", &app_key)
        .header("Content-Type", "text/plain")
        .body("step 1\n")
        .send()
        .await
        .unwrap();
    assert_eq!(appended.status(), 200);
    let log = get(
        &app,
        &format!("/github/octo/app/deployment/{first_id}/logs"),
        Some(&app_key),
    )
    .await;
    assert_eq!(log.status(), 200);
    assert_eq!(log.text().await.unwrap(), "step 1\n");
    for path in [
        format!("/github/octo/app/deployment/{elsewhere_id}"),
        format!("/github/octo/app/deployment/{elsewhere_id}/logs"),
        format!("/github/octo/other/deployment/{first_id}"),
        "/github/octo/app/deployment/dpl_01JD0000000000000000000000".to_owned(),
        "/github/octo/app/deployment/nope".to_owned(),
    ] {
        let missing = problem(get(&app, &path, Some(&admin)).await, 404).await;
        assert!(
            missing["type"]
                .as_str()
                .unwrap()
                .ends_with("deployment-not-found"),
            "{path}"
        );
    }
    let other: Value = get(
        &app,
        &format!("/github/octo/other/deployment/{elsewhere_id}"),
        Some(&other_key),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        other["original_mapped_request"]["repository_url"],
        "github.com/octo/other"
    );

    // A repository the operator mapped deploys to that project, whose key
    // reads it under the repository.
    let devx = app.create_key(&["--project", "Devx"]);
    let mapped = deliver(&app, &deployment_event(13, "Octo/Mapped", "production")).await;
    assert_eq!(mapped.status(), 201);
    let mapped: Value = mapped.json().await.unwrap();
    assert_eq!(mapped["team_project"], "Devx");
    assert_eq!(mapped["original_mapped_request"]["team_project"], "Devx");
    let listed: Value = get(&app, "/github/octo/mapped/deployments", Some(&devx))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["deployments"][0]["id"], mapped["id"]);

    // Keys: none is a 401, another project's a 403.
    problem(get(&app, "/github/octo/app/deployments", None).await, 401).await;
    problem(
        get(
            &app,
            &format!("/github/octo/app/deployment/{first_id}"),
            Some(&other_key),
        )
        .await,
        403,
    )
    .await;
    problem(
        get(
            &app,
            &format!("/github/octo/app/deployment/{first_id}/logs"),
            Some(&other_key),
        )
        .await,
        403,
    )
    .await;
    problem(
        get(
            &app,
            "/github/octo/app/deployments?team_project=octo/app",
            Some(&other_key),
        )
        .await,
        403,
    )
    .await;
    // A project key lists its own project's deployments of the repository.
    let own: Value = get(&app, "/github/octo/app/deployments", Some(&other_key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(own["deployments"], json!([]));

    // Bad path segments and queries: a problem naming them.
    for (path, field) in [
        ("/github/oc!to/app/deployments", "owner"),
        ("/github/octo/a%20pp/deployments", "repo"),
        (
            &*format!("/github/-{}/app/deployments", "o".repeat(40)),
            "owner",
        ),
        ("/github/octo/app/deployments?limit=0", "limit"),
        ("/github/octo/app/deployments?status=done", "status"),
        ("/github/octo/app/deployments?sha=xyz", "sha"),
    ] {
        let refused = problem(get(&app, path, Some(&admin)).await, 422).await;
        assert_eq!(refused["errors"][0]["field"], field, "{path}");
    }
}
