//! API keys, limits, forged posts and signing key rotation: every way in
//! that is not a pipeline's or an approver's own is refused, on both
//! backends.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{
    cli, release_body, spawn_app_with, spawn_keyed_app, start, Backend, TestApp, PUBLIC_URL,
};

both_backends!(
    api_keys_from_the_cli_guard_every_pipeline_route,
    the_command_line_helps_and_masks_secrets,
    wrong_keys_are_rate_limited_per_client,
    the_approval_route_is_rate_limited_per_client,
    a_cross_site_form_post_records_nothing,
    more_approvers_than_the_limit_fail_the_release,
    links_survive_a_signing_secret_rotation,
);

/// What a pipeline sends its key as.
#[derive(Clone, Copy, Debug)]
enum Carrier {
    Header,
    Bearer,
    Basic,
}

fn with_key(
    request: reqwest::RequestBuilder,
    key: &str,
    carrier: Carrier,
) -> reqwest::RequestBuilder {
    match carrier {
        Carrier::Header => request.header("X-API-Key", key),
        Carrier::Bearer => request.bearer_auth(key),
        // What an Azure DevOps Generic service connection sends.
        Carrier::Basic => request.basic_auth("azure-devops", Some(key)),
    }
}

/// The environment the CLI needs: the app's database, nothing else.
fn cli_env(app: &TestApp) -> HashMap<String, String> {
    HashMap::from([("DATABASE_URL".to_owned(), app.db.url.clone())])
}

fn create_key(app: &TestApp, args: &[&str]) -> String {
    let mut all = vec!["api-key", "create"];
    all.extend_from_slice(args);
    let (ok, out, err) = cli(&cli_env(app), &all);
    assert!(ok, "api-key create {args:?}: {err}");
    let key = out.trim().to_owned();
    assert!(key.starts_with("glk_") && key.len() == 68, "{out}");
    assert!(err.contains("shown only this once"), "{err}");
    key
}

async fn post(app: &TestApp, body: &Value, key: Option<(&str, Carrier)>) -> reqwest::Response {
    let request = app
        .client
        .post(format!("{}/release", app.address))
        .json(body);
    let request = match key {
        Some((key, carrier)) => with_key(request, key, carrier),
        None => request,
    };
    request.send().await.unwrap()
}

async fn get(app: &TestApp, path: &str, key: Option<&str>) -> reqwest::Response {
    get_as(app, path, key, Carrier::Header).await
}

async fn get_as(
    app: &TestApp,
    path: &str,
    key: Option<&str>,
    carrier: Carrier,
) -> reqwest::Response {
    let request = app.client.get(format!("{}{path}", app.address));
    let request = match key {
        Some(key) => with_key(request, key, carrier),
        None => request,
    };
    request.send().await.unwrap()
}

async fn expect_problem(
    response: reqwest::Response,
    status: u16,
    kind: &str,
) -> reqwest::header::HeaderMap {
    assert_eq!(response.status(), status, "{kind}");
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/problem+json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["type"],
        format!("urn:greenlight:problem:{kind}"),
        "{body}"
    );
    headers
}

async fn api_keys_from_the_cli_guard_every_pipeline_route(backend: Backend) {
    let app = spawn_keyed_app(backend).await;
    // Keys made by another process (the CLI) while the service runs.
    let devx = create_key(&app, &["--project", "Devx"]);
    let other = create_key(&app, &["--project", "Other"]);
    let admin = create_key(&app, &["--admin"]);

    // No key, a wrong key, a malformed key: 401 with the Basic challenge.
    let forged = format!("glk_{}", "0".repeat(64));
    for key in [
        None,
        Some((forged.as_str(), Carrier::Header)),
        Some(("not-a-key", Carrier::Bearer)),
    ] {
        let headers = expect_problem(
            post(&app, &release_body("1"), key).await,
            401,
            "unauthorized",
        )
        .await;
        assert_eq!(headers["www-authenticate"], r#"Basic realm="greenlight""#);
    }
    assert_eq!(
        app.db.count("SELECT COUNT(*) FROM releases"),
        0,
        "nothing created without a key"
    );

    // The project's key, in each form a pipeline sends it.
    assert_eq!(
        post(&app, &release_body("1"), Some((&devx, Carrier::Header)))
            .await
            .status(),
        202
    );
    assert_eq!(
        post(&app, &release_body("1"), Some((&devx, Carrier::Bearer)))
            .await
            .status(),
        200
    );
    assert_eq!(
        post(&app, &release_body("1"), Some((&devx, Carrier::Basic)))
            .await
            .status(),
        200
    );
    // Projects match case-insensitively, keys too.
    let shouting = json!({"ReleaseName": "R", "ReleaseId": "2", "TeamProject": "DEVX"});
    assert_eq!(
        post(&app, &shouting, Some((&devx, Carrier::Header)))
            .await
            .status(),
        202
    );

    // Another project's key: 403 on every route of Devx's releases.
    expect_problem(
        post(&app, &release_body("1"), Some((&other, Carrier::Basic))).await,
        403,
        "forbidden",
    )
    .await;
    for path in [
        "/releases/Devx/1",
        "/releases/Devx/1/events",
        "/releases?team_project=Devx",
    ] {
        expect_problem(get(&app, path, Some(&other)).await, 403, "forbidden").await;
        expect_problem(get(&app, path, None).await, 401, "unauthorized").await;
        assert_eq!(get(&app, path, Some(&devx)).await.status(), 200, "{path}");
        assert_eq!(get(&app, path, Some(&admin)).await.status(), 200, "{path}");
    }
    let theirs = json!({"ReleaseName": "R", "ReleaseId": "9", "TeamProject": "Other"});
    assert_eq!(
        post(&app, &theirs, Some((&other, Carrier::Header)))
            .await
            .status(),
        202
    );

    // Lists: a project key sees its project; the admin key everything.
    let projects = |list: Value| -> Vec<String> {
        list["releases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["team_project"].as_str().unwrap().to_owned())
            .collect()
    };
    let mine: Value = get(&app, "/releases", Some(&devx))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(projects(mine), ["DEVX", "Devx"]);
    let all: Value = get(&app, "/releases", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(projects(all), ["Other", "DEVX", "Devx"]);

    // Approvers never need a key: their token is the credential.
    let mails = app.wait_for_mails(2).await;
    let approved = app.approve(&mails[0].token()).await;
    assert_eq!(approved.status(), 200);
    assert_eq!(get(&app, "/healthz", None).await.status(), 200);

    // The list names each key's project and when it was last used.
    let last_used_recorded = async {
        for _ in 0..100 {
            let (ok, out, _) = cli(&cli_env(&app), &["api-key", "list"]);
            assert!(ok);
            let devx_line = out
                .lines()
                .find(|l| l.contains(" Devx "))
                .unwrap()
                .to_owned();
            if !devx_line.contains(" - ") {
                return out;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the key's use was never recorded");
    }
    .await;
    assert_eq!(
        last_used_recorded.lines().count(),
        4,
        "{last_used_recorded}"
    );
    assert!(
        last_used_recorded.contains("(admin)"),
        "{last_used_recorded}"
    );

    // A revoked key is refused from the next request on.
    let id = last_used_recorded
        .lines()
        .find(|l| l.contains(" Devx "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_owned();
    let (ok, _, err) = cli(&cli_env(&app), &["api-key", "revoke", &id]);
    assert!(ok, "{err}");
    expect_problem(
        post(&app, &release_body("1"), Some((&devx, Carrier::Header))).await,
        401,
        "unauthorized",
    )
    .await;
    let (ok, _, err) = cli(&cli_env(&app), &["api-key", "revoke", &id]);
    assert!(!ok && err.contains("revoked already"), "{err}");
    let (ok, _, err) = cli(&cli_env(&app), &["api-key", "create"]);
    assert!(!ok && err.contains("--project"), "{err}");

    // No key is stored in clear, nor any part of one.
    let stored = [
        app.db.texts("api_keys", "key_hash"),
        app.db.texts("settings", "value"),
    ]
    .concat()
    .join(" ");
    for key in [&devx, &other, &admin] {
        assert!(
            !stored.contains(&key[4..20]),
            "a key in clear in the database"
        );
    }
}

async fn wrong_keys_are_rate_limited_per_client(backend: Backend) {
    let app = spawn_app_with(
        backend,
        |env| {
            env.insert("GREENLIGHT_REQUIRE_API_KEY".into(), "true".into());
            env.insert("GREENLIGHT_AUTH_FAILURE_LIMIT".into(), "3".into());
        },
        true,
    )
    .await;
    let key = create_key(&app, &["--project", "Devx"]);
    let wrong = format!("glk_{}", "1".repeat(64));
    for _ in 0..3 {
        expect_problem(
            post(&app, &release_body("1"), Some((&wrong, Carrier::Bearer))).await,
            401,
            "unauthorized",
        )
        .await;
    }
    let headers = expect_problem(
        get(&app, "/releases/Devx/1", Some("glk_guess")).await,
        429,
        "too-many-requests",
    )
    .await;
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // A right key still works: only guesses are limited.
    assert_eq!(
        post(&app, &release_body("1"), Some((&key, Carrier::Header)))
            .await
            .status(),
        202
    );
}

async fn the_approval_route_is_rate_limited_per_client(backend: Backend) {
    let app = spawn_app_with(
        backend,
        |env| {
            env.insert("GREENLIGHT_APPROVAL_RATE_LIMIT".into(), "4".into());
        },
        true,
    )
    .await;
    for _ in 0..4 {
        expect_problem(app.approve("garbage").await, 403, "invalid-token").await;
    }
    let headers = expect_problem(app.approve("garbage").await, 429, "too-many-requests").await;
    assert!(
        headers["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    // A browser gets a page saying so, HEAD a bare 429; both say when to come back.
    let page = app
        .client
        .get(format!("{}/approval?token=x", app.address))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 429);
    assert!(page.headers().contains_key("retry-after"));
    assert!(page.text().await.unwrap().contains("Too many requests"));
    let head = app
        .client
        .head(format!("{}/approval?token=x", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 429);
    assert!(head.headers().contains_key("retry-after"));
    // Pipelines are not limited by it.
    assert_eq!(app.post_release(&release_body("1")).await.status(), 202);
}

async fn a_cross_site_form_post_records_nothing(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}, true).await;
    assert_eq!(app.post_release(&release_body("x")).await.status(), 202);
    let token = app.wait_for_mails(2).await[0].token();
    let form = [
        ("token", token.as_str()),
        ("decision", "reject"),
        ("comment", "csrf"),
    ];
    for (header, value) in [
        ("Origin", "https://evil.example"),
        ("Origin", "null"),
        ("Referer", "https://evil.example/page.html"),
    ] {
        let response = app
            .client
            .post(format!("{}/approval", app.address))
            .header(header, value)
            .header("accept", "application/json")
            .form(&form)
            .send()
            .await
            .unwrap();
        expect_problem(response, 403, "cross-site-request").await;
    }
    assert_eq!(app.status("x").await["rejections"], 0, "nothing recorded");
    // Our own pages (the public URL's origin) post as before.
    let response = app
        .client
        .post(format!("{}/approval", app.address))
        .header("Origin", PUBLIC_URL)
        .header("accept", "application/json")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(app.status("x").await["status"], "rejected");
}

async fn more_approvers_than_the_limit_fail_the_release(backend: Backend) {
    let app = spawn_app_with(
        backend,
        |env| {
            env.insert("GREENLIGHT_MAX_APPROVERS".into(), "3".into());
        },
        false,
    )
    .await;
    crate::helpers::mount_approvers(
        &app.approvers,
        &[
            "a@example.com",
            "b@example.com",
            "c@example.com",
            "d@example.com",
        ],
        Duration::ZERO,
    )
    .await;
    assert_eq!(app.post_release(&release_body("big")).await.status(), 202);
    let status = app.wait_for_status("big", "failed").await;
    let reason = status["reason"].as_str().unwrap();
    assert!(
        reason.contains("4 approvers") && reason.contains("at most 3"),
        "{reason}"
    );
    assert_eq!(status["approvers"], json!([]));
    assert_eq!(app.db.count("SELECT COUNT(*) FROM approvals"), 0);
    assert!(app.smtp.mails().is_empty());
}

async fn links_survive_a_signing_secret_rotation(backend: Backend) {
    const OLD: &str = "the-old-secret-the-old-secret-the-old";
    const NEW: &str = "the-new-secret-the-new-secret-the-new";
    let app = spawn_app_with(
        backend,
        |env| {
            env.insert("GREENLIGHT_SECRET".into(), OLD.into());
        },
        true,
    )
    .await;
    assert_eq!(app.post_release(&release_body("r")).await.status(), 202);
    let tokens: Vec<String> = app
        .wait_for_mails(2)
        .await
        .iter()
        .map(|m| m.token())
        .collect();

    // Rotated: the new secret signs, the old one still verifies.
    let mut rotated = app.env.clone();
    rotated.insert("GREENLIGHT_SECRET".into(), NEW.into());
    rotated.insert("GREENLIGHT_SECRET_PREVIOUS".into(), OLD.into());
    let rotated = start(&rotated).await;
    // The old secret removed: its links stop working.
    let mut removed = app.env.clone();
    removed.insert("GREENLIGHT_SECRET".into(), NEW.into());
    let removed = start(&removed).await;

    let approve_at = |address: String, token: String| {
        let client = app.client.clone();
        async move {
            client
                .get(format!("{address}/approval?token={token}"))
                .header("accept", "application/json")
                .send()
                .await
                .unwrap()
        }
    };
    expect_problem(
        approve_at(removed, tokens[0].clone()).await,
        403,
        "invalid-token",
    )
    .await;
    assert_eq!(
        approve_at(rotated.clone(), tokens[0].clone())
            .await
            .status(),
        200
    );

    // The links name the key that signed them.
    let kid = |t: &str| jsonwebtoken::decode_header(t).unwrap().kid.unwrap();
    assert_eq!(kid(&tokens[1]), greenlight::token::key_id(OLD.as_bytes()));
}

async fn the_command_line_helps_and_masks_secrets(backend: Backend) {
    let db = crate::helpers::TestDb::new(backend);
    let env = HashMap::from([
        ("DATABASE_URL".to_owned(), db.url.clone()),
        (
            "GREENLIGHT_SMTP_URL".to_owned(),
            "smtps://mailer:hunter2-s3cr3t@mail.example.com".to_owned(),
        ),
        (
            "GREENLIGHT_APPROVERS_URL".to_owned(),
            "https://api.example.com/approvers?code=fn-key-s3cr3t".to_owned(),
        ),
        (
            "GREENLIGHT_SECRET".to_owned(),
            "signing-s3cr3t-signing-s3cr3t-signing".to_owned(),
        ),
    ]);
    let (ok, version, _) = cli(&env, &["--version"]);
    assert!(ok && version.starts_with("greenlight "), "{version}");
    let (ok, help, _) = cli(&env, &["--help"]);
    assert!(ok);
    for command in ["serve", "migrate", "config", "api-key"] {
        assert!(help.contains(command), "{help}");
    }
    let (ok, help, _) = cli(&env, &["api-key", "create", "--help"]);
    assert!(
        ok && help.contains("--project") && help.contains("--admin"),
        "{help}"
    );

    let (ok, config, err) = cli(&env, &["config"]);
    assert!(ok, "{err}");
    let line = |name: &str| {
        config
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in {config}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    // Each value with where it came from.
    assert_eq!(
        line("GREENLIGHT_SMTP_URL"),
        "GREENLIGHT_SMTP_URL = smtps://mailer:***@mail.example.com # GREENLIGHT_SMTP_URL"
    );
    assert_eq!(
        line("GREENLIGHT_APPROVERS_URL"),
        "GREENLIGHT_APPROVERS_URL = https://api.example.com/approvers?*** # GREENLIGHT_APPROVERS_URL"
    );
    assert_eq!(
        line("GREENLIGHT_SECRET"),
        "GREENLIGHT_SECRET = *** (set) # GREENLIGHT_SECRET"
    );
    assert_eq!(
        line("GREENLIGHT_MAX_APPROVERS"),
        "GREENLIGHT_MAX_APPROVERS = 100 # default"
    );
    assert!(!config.contains("s3cr3t"), "{config}");

    let mut wrong = env.clone();
    wrong.insert("GREENLIGHT_MAX_APPROVERS".into(), "many".into());
    let (ok, _, err) = cli(&wrong, &["config"]);
    assert!(!ok && err.contains("GREENLIGHT_MAX_APPROVERS"), "{err}");
    let (ok, _, err) = cli(&env, &["frobnicate"]);
    assert!(!ok && err.contains("frobnicate"), "{err}");

    // Beyond loopback without keys, the start log says so.
    let mut open = env.clone();
    open.remove("GREENLIGHT_SMTP_URL");
    open.insert(
        "GREENLIGHT_OUTBOX_DIR".into(),
        std::env::temp_dir()
            .join(greenlight::random_id())
            .display()
            .to_string(),
    );
    let port = crate::helpers::free_port();
    let log = crate::helpers::log_file("open");
    let service =
        crate::helpers::Service::start_listening(&open, &format!("0.0.0.0:{port}"), port, &log)
            .await;
    let output = service.output();
    assert!(
        output.contains("API keys are off and Greenlight listens beyond loopback"),
        "{output}"
    );
}
