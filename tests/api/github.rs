//! Greenlight as a GitHub App's deployment protection rule, against a
//! stub of GitHub's API that checks what GitHub checks.

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::both_backends;
use crate::helpers::{spawn_app_with, Backend, TestApp};

both_backends!(
    a_deployment_protection_rule_is_answered_with_the_decision,
    a_signed_event_with_any_text_in_it_is_answered,
    a_callback_url_from_an_event_may_not_be_private_by_default,
    a_re_run_of_a_decided_run_is_answered,
    a_suspended_installation_gives_up_at_once,
);

const APP_ID: &str = "12345";
const WEBHOOK_SECRET: &str = "gh-webhook-secret";
const INSTALLATION_TOKEN: &str = "ghs_installation_token_for_tests";
const PRIVATE_KEY: &str = include_str!("../fixtures/github-app-test.pem");
const PUBLIC_KEY: &[u8] = include_bytes!("../fixtures/github-app-test.pub.pem");

/// GitHub's installation token endpoint, handing out a token valid for an
/// hour to a caller asking for GitHub's media type.
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

/// The app as the GitHub App of `api`; `configure` edits the rest.
async fn github_app(
    backend: Backend,
    api: &MockServer,
    default_approvers: bool,
    configure: impl FnOnce(&mut std::collections::HashMap<String, String>),
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
            // These stubs count GitHub's calls: the recurring redeliveries
            // have tests of their own (github_redelivery.rs).
            env.insert("GREENLIGHT_GITHUB_REDELIVERY_INTERVAL".into(), "off".into());
            configure(env);
        },
        default_approvers,
    )
    .await
}

pub(crate) fn sign(body: &[u8], secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

fn rule(api: &str, run: u64, environment: &str) -> Value {
    json!({
        "action": "requested",
        "environment": environment,
        "event": "push",
        "deployment_callback_url": format!("{api}/repos/octo/app/actions/runs/{run}/deployment_protection_rule"),
        "deployment": {"ref": "main", "sha": "0123456789abcdef0123456789abcdef01234567"},
        "repository": {"full_name": "octo/app"},
        "installation": {"id": 42},
        "sender": {"login": "octocat"}
    })
}

async fn deliver(app: &TestApp, event: &str, body: &Value, secret: &str) -> reqwest::Response {
    let raw = serde_json::to_vec(body).unwrap();
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

async fn reviews(api: &MockServer, n: usize) -> Vec<(String, Value)> {
    for _ in 0..200 {
        let got: Vec<(String, Value)> = api
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.url.path().ends_with("/deployment_protection_rule"))
            .map(|r| {
                (
                    r.url.path().to_owned(),
                    serde_json::from_slice(&r.body).unwrap(),
                )
            })
            .collect();
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("fewer than {n} reviews reached GitHub");
}

async fn a_deployment_protection_rule_is_answered_with_the_decision(backend: Backend) {
    let api = MockServer::start().await;
    mount_installation_token(&api).await;
    Mock::given(method("POST"))
        .and(wiremock::matchers::path_regex(
            r"^/repos/octo/app/actions/runs/\d+/deployment_protection_rule$",
        ))
        .and(header(
            "authorization",
            format!("Bearer {INSTALLATION_TOKEN}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(204))
        .mount(&api)
        .await;
    let app = github_app(backend, &api, true, |_| {}).await;
    let uri = api.uri();

    // A bad signature is refused before anything is read; nothing is created.
    let forged = deliver(
        &app,
        "deployment_protection_rule",
        &rule(&uri, 777, "production"),
        "wrong",
    )
    .await;
    assert_eq!(forged.status(), 401);
    assert_eq!(app.db.count("SELECT COUNT(*) FROM releases"), 0);
    // Other events and actions: acknowledged, ignored.
    assert_eq!(
        deliver(&app, "push", &json!({"ref": "main"}), WEBHOOK_SECRET)
            .await
            .status(),
        202
    );
    let mut completed = rule(&uri, 777, "production");
    completed["action"] = json!("completed");
    assert_eq!(
        deliver(
            &app,
            "deployment_protection_rule",
            &completed,
            WEBHOOK_SECRET
        )
        .await
        .status(),
        202
    );
    assert_eq!(app.db.count("SELECT COUNT(*) FROM releases"), 0);
    // A callback URL elsewhere than the API host: refused.
    let elsewhere = rule("https://evil.example", 777, "production");
    assert_eq!(
        deliver(
            &app,
            "deployment_protection_rule",
            &elsewhere,
            WEBHOOK_SECRET
        )
        .await
        .status(),
        422
    );

    // The real thing: a release per run and environment.
    let created = deliver(
        &app,
        "deployment_protection_rule",
        &rule(&uri, 777, "production"),
        WEBHOOK_SECRET,
    )
    .await;
    assert_eq!(created.status(), 202);
    let doc: Value = created.json().await.unwrap();
    assert_eq!(
        (
            doc["team_project"].as_str(),
            doc["environment"].as_str(),
            doc["release_id"].as_str(),
            doc["release_name"].as_str()
        ),
        (
            Some("octo/app"),
            Some("production"),
            Some("777"),
            Some("main 0123456")
        )
    );
    // GitHub redelivers: the same release, reviewed once.
    assert_eq!(
        deliver(
            &app,
            "deployment_protection_rule",
            &rule(&uri, 777, "production"),
            WEBHOOK_SECRET
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        deliver(
            &app,
            "deployment_protection_rule",
            &rule(&uri, 778, "staging"),
            WEBHOOK_SECRET
        )
        .await
        .status(),
        202
    );
    let qa = deliver(
        &app,
        "deployment_protection_rule",
        &rule(&uri, 779, "qa"),
        WEBHOOK_SECRET,
    )
    .await;
    assert_eq!(qa.status(), 202);

    let mails = app.wait_for_mails(6).await;
    for mail in mails.iter().filter(|m| m.subject.contains("#777)")) {
        assert_eq!(app.approve(&mail.token()).await.status(), 200);
    }
    let staging = mails
        .iter()
        .find(|m| m.subject.contains("#778)"))
        .unwrap()
        .token();
    // A comment of 2,000 characters (the most an approver may write);
    // GitHub takes 1,024.
    let long_comment = format!("staging is frozen: {}", "é".repeat(1981));
    app.post_decision(&[
        ("token", &staging),
        ("decision", "reject"),
        ("comment", &long_comment),
    ])
    .await;

    // Nobody decides run 779 in time: its deadline moved into the past.
    app.db
        .execute("UPDATE releases SET expires_at = '2000-01-01 00:00:00' WHERE release_id = '779'");
    app.db.execute(
        "UPDATE jobs SET run_at = '2000-01-01 00:00:00' WHERE kind = 'expire_release' \
         AND subject = (SELECT CAST(id AS TEXT) FROM releases WHERE release_id = '779')",
    );

    let mut got = reviews(&api, 3).await;
    app.wait_for_idle_queue().await;
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(
        got[0].0,
        "/repos/octo/app/actions/runs/777/deployment_protection_rule"
    );
    assert_eq!(got[0].1["environment_name"], "production");
    assert_eq!(got[0].1["state"], "approved");
    assert_eq!(got[1].1["environment_name"], "staging");
    assert_eq!(got[1].1["state"], "rejected");
    let comment = got[1].1["comment"].as_str().unwrap();
    assert!(comment.contains("staging is frozen: éé"), "{:?}", got[1]);
    assert_eq!(comment.chars().count(), 1024, "{comment}");

    // One installation token for both (cached), asked for with a JWT that
    // verifies with the app's public key.
    let token_requests: Vec<_> = api
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == "/app/installations/42/access_tokens")
        .collect();
    assert_eq!(token_requests.len(), 1, "the installation token is cached");
    let bearer = token_requests[0].headers["authorization"].to_str().unwrap();
    let jwt = bearer.strip_prefix("Bearer ").unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[APP_ID]);
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(PUBLIC_KEY).unwrap();
    jsonwebtoken::decode::<Value>(jwt, &key, &validation).expect("the app JWT verifies");

    let events: Vec<String> = app.get_json("/releases/octo%2Fapp/777/events").await["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        events.iter().filter(|t| *t == "callback.sent").count(),
        1,
        "{events:?}"
    );
}

/// GitHub's payloads are any UTF-8: a sha or ref with multi-byte
/// characters is answered (the handler once sliced bytes and panicked,
/// dropping the connection), and the name keeps whole characters.
async fn a_signed_event_with_any_text_in_it_is_answered(backend: Backend) {
    let api = MockServer::start().await;
    let app = github_app(backend, &api, false, |_| {}).await;
    let mut event = rule(&api.uri(), 901, "production");
    event["deployment"] = json!({"ref": "main", "sha": "ééééééééé"});
    // GitHub's longest owner/name: 39 + 1 + 100 characters.
    let longest = format!("{}/{}", "o".repeat(39), "r".repeat(100));
    event["repository"]["full_name"] = json!(longest);
    let answer = deliver(&app, "deployment_protection_rule", &event, WEBHOOK_SECRET).await;
    assert_eq!(answer.status(), 202);
    let doc: Value = answer.json().await.unwrap();
    assert_eq!(doc["release_name"], "main ééééééé");
    assert_eq!(doc["team_project"], longest.as_str());

    // A wrong signature is its own problem, not "API key required".
    let forged = deliver(&app, "deployment_protection_rule", &event, "wrong").await;
    assert_eq!(forged.status(), 401);
    let problem: Value = forged.json().await.unwrap();
    assert_eq!(problem["type"], "urn:greenlight:problem:invalid-signature");
    assert_eq!(problem["title"], "Invalid signature");
}

/// The callback URL comes in an event's payload: by default it may not be
/// a private address, even on the configured API host. The installation
/// token, asked of the operator's own API URL, is fetched all the same.
async fn a_callback_url_from_an_event_may_not_be_private_by_default(backend: Backend) {
    let api = MockServer::start().await;
    mount_installation_token(&api).await;
    Mock::given(method("POST"))
        .and(wiremock::matchers::path_regex(
            "/deployment_protection_rule$",
        ))
        .respond_with(ResponseTemplate::new(204))
        .mount(&api)
        .await;
    let app = github_app(backend, &api, true, |env| {
        env.remove("GREENLIGHT_OUTBOUND_ALLOW_PRIVATE");
    })
    .await;
    let created = deliver(
        &app,
        "deployment_protection_rule",
        &rule(&api.uri(), 901, "production"),
        WEBHOOK_SECRET,
    )
    .await;
    assert_eq!(created.status(), 202);
    for mail in app.wait_for_mails(2).await {
        assert_eq!(app.approve(&mail.token()).await.status(), 200);
    }
    let failed = app
        .wait_for_event_at(
            "/releases/octo%2Fapp/901/events?environment=production",
            "callback.failed",
        )
        .await;
    let reason = failed["detail"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("GitHub: refused to connect: the host is a loopback address")
            && reason.ends_with("(gave up after 1 attempt)"),
        "{reason}"
    );
    let paths: Vec<String> = api
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.url.path().to_owned())
        .collect();
    assert_eq!(paths, ["/app/installations/42/access_tokens"]);
}

/// A re-run keeps the run id (so the release and the callback URL) but
/// brings a new deployment, which waits for its own answer: it gets the
/// decision at once. A redelivery of the same deployment is answered once.
async fn a_re_run_of_a_decided_run_is_answered(backend: Backend) {
    let api = MockServer::start().await;
    mount_installation_token(&api).await;
    Mock::given(method("POST"))
        .and(path(
            "/repos/octo/app/actions/runs/555/deployment_protection_rule",
        ))
        .respond_with(ResponseTemplate::new(204))
        .mount(&api)
        .await;
    let app = github_app(backend, &api, true, |_| {}).await;
    let attempt = |deployment: i64| {
        let mut event = rule(&api.uri(), 555, "production");
        event["deployment"]["id"] = json!(deployment);
        event
    };
    let first = deliver(
        &app,
        "deployment_protection_rule",
        &attempt(1),
        WEBHOOK_SECRET,
    )
    .await;
    assert_eq!(first.status(), 202);
    for mail in app.wait_for_mails(2).await {
        assert_eq!(app.approve(&mail.token()).await.status(), 200);
    }
    assert_eq!(reviews(&api, 1).await.len(), 1);
    // The re-run: the same run, a new deployment.
    let rerun = deliver(
        &app,
        "deployment_protection_rule",
        &attempt(2),
        WEBHOOK_SECRET,
    )
    .await;
    assert_eq!(rerun.status(), 200);
    let got = reviews(&api, 2).await;
    assert_eq!(got[1].1["state"], "approved");
    // The same deployment delivered again: no second answer.
    let again = deliver(
        &app,
        "deployment_protection_rule",
        &attempt(2),
        WEBHOOK_SECRET,
    )
    .await;
    assert_eq!(again.status(), 200);
    app.wait_for_idle_queue().await;
    assert_eq!(reviews(&api, 2).await.len(), 2);
}

/// A suspended (403) or removed (404) installation gets no token however
/// often it is asked: the job gives up at the first answer, saying why.
async fn a_suspended_installation_gives_up_at_once(backend: Backend) {
    let api = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/app/installations/42/access_tokens"))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_json(json!({"message": "This installation has been suspended"})),
        )
        .mount(&api)
        .await;
    let app = github_app(backend, &api, true, |env| {
        env.insert("GREENLIGHT_JOB_MAX_ATTEMPTS".into(), "5".into());
    })
    .await;
    let event = rule(&api.uri(), 556, "production");
    let created = deliver(&app, "deployment_protection_rule", &event, WEBHOOK_SECRET).await;
    assert_eq!(created.status(), 202);
    for mail in app.wait_for_mails(2).await {
        assert_eq!(app.approve(&mail.token()).await.status(), 200);
    }
    let failed = app
        .wait_for_event_at(
            "/releases/octo%2Fapp/556/events?environment=production",
            "callback.failed",
        )
        .await;
    let reason = failed["detail"]["reason"].as_str().unwrap().to_owned();
    assert!(
        reason.contains("403") && reason.ends_with("(gave up after 1 attempt)"),
        "{reason}"
    );
    assert_eq!(api.received_requests().await.unwrap().len(), 1);
}
