//! No secret anywhere people read: a whole flow through the real binary
//! with credentials in every configured URL and every outside service
//! failing, then every answer, every stored row an API shows (and the
//! jobs' own error record), and the whole log searched for each secret.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::both_backends;
use crate::helpers::{cli, free_port, test_env, Backend, Service, SmtpServer, TestDb};

both_backends!(no_secret_reaches_an_answer_a_row_or_the_log);

const SIGNING: &str = "signing-s3cr3t-signing-s3cr3t-signing";
const PREVIOUS: &str = "previous-s3cr3t-previous-s3cr3t-previous";
/// Standard Webhooks secrets: base64 of "webhook-signing-s3cr3t-webhook"
/// and "webhook-previous-s3cr3t-webhook".
const WEBHOOK_SECRET: &str = "whsec_d2ViaG9vay1zaWduaW5nLXMzY3IzdC13ZWJob29r";
const WEBHOOK_PREVIOUS: &str = "whsec_d2ViaG9vay1wcmV2aW91cy1zM2NyM3Qtd2ViaG9vaw==";
const GITHUB_KEY: &str = include_str!("../fixtures/github-app-test.pem");

async fn no_secret_reaches_an_answer_a_row_or_the_log(backend: Backend) {
    let db = TestDb::new(backend);
    let api = MockServer::start().await;
    // Devx: the approvers API fails. Mail: it answers, then mail fails.
    // Redir: it redirects to a URL with credentials that does not answer.
    Mock::given(method("GET"))
        .and(path_regex("^/approvers/Devx/"))
        .respond_with(ResponseTemplate::new(500).set_body_string("upstream broke"))
        .mount(&api)
        .await;
    Mock::given(method("GET"))
        .and(path_regex("^/approvers/Mail/"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"approvers": ["ana@example.com", "bruno@example.com"]})),
        )
        .mount(&api)
        .await;
    let dead = free_port();
    Mock::given(method("GET"))
        .and(path_regex("^/approvers/Redir/"))
        .respond_with(
            ResponseTemplate::new(302).insert_header(
                "location",
                format!("http://redir-user:redir-s3cr3t@127.0.0.1:{dead}/x?sig=redir-qs-s3cr3t")
                    .as_str(),
            ),
        )
        .mount(&api)
        .await;

    let mut secrets = vec![
        "apiuser-s3cr3t",
        "apipass-s3cr3t",
        "qs-s3cr3t-99",
        "redir-s3cr3t",
        "redir-qs-s3cr3t",
        "smtpuser-s3cr3t",
        "smtppass-s3cr3t",
        "hookpass-s3cr3t",
        "hook-qs-s3cr3t",
        WEBHOOK_SECRET,
        &WEBHOOK_SECRET[6..],
        WEBHOOK_PREVIOUS,
        &WEBHOOK_PREVIOUS[6..],
        "azdo-token-s3cr3t",
        "plan-pass-s3cr3t",
        "gh-hook-s3cr3t",
        GITHUB_KEY.lines().nth(5).unwrap(),
        SIGNING,
        PREVIOUS,
    ];
    let smtp = SmtpServer::start();
    let mut env: HashMap<String, String> = test_env(&db, smtp.port, &api);
    let host = api.uri().trim_start_matches("http://").to_owned();
    env.extend(
        [
            (
                "GREENLIGHT_APPROVERS_URL",
                format!(
                    "http://apiuser-s3cr3t:apipass-s3cr3t@{host}/approvers/{{team_project}}/{{release_id}}?code=qs-s3cr3t-99"
                ),
            ),
            // Credentials send mail through lettre's transport; nothing listens.
            (
                "GREENLIGHT_SMTP_URL",
                format!("smtp://smtpuser-s3cr3t:smtppass-s3cr3t@127.0.0.1:{dead}"),
            ),
            // Every decision posted to a webhook that is down.
            (
                "GREENLIGHT_WEBHOOK_URL",
                format!("http://hookuser:hookpass-s3cr3t@127.0.0.1:{dead}/hook?token=hook-qs-s3cr3t"),
            ),
            ("GREENLIGHT_WEBHOOK_SECRET", WEBHOOK_SECRET.to_owned()),
            ("GREENLIGHT_WEBHOOK_SECRET_PREVIOUS", WEBHOOK_PREVIOUS.to_owned()),
            ("GREENLIGHT_GITHUB_APP_ID", "12345".to_owned()),
            // No call to the real GitHub from a test.
            ("GREENLIGHT_GITHUB_REDELIVERY_INTERVAL", "off".to_owned()),
            ("GREENLIGHT_GITHUB_PRIVATE_KEY", GITHUB_KEY.to_owned()),
            ("GREENLIGHT_GITHUB_WEBHOOK_SECRET", "gh-hook-s3cr3t".to_owned()),
            ("GREENLIGHT_SECRET", SIGNING.to_owned()),
            ("GREENLIGHT_SECRET_PREVIOUS", PREVIOUS.to_owned()),
            ("GREENLIGHT_REQUIRE_API_KEY", "true".to_owned()),
            ("GREENLIGHT_JOB_MAX_ATTEMPTS", "2".to_owned()),
            ("RUST_LOG", "info,greenlight=debug".to_owned()),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    if backend == Backend::Postgres {
        // Trust authentication ignores the password, so it can be a secret here.
        env.insert(
            "DATABASE_URL".into(),
            db.url
                .replacen("postgres://postgres@", "postgres://postgres:db-s3cr3t@", 1),
        );
        secrets.push("db-s3cr3t");
    }
    let service = Service::start(&env).await;
    let (ok, key, err) = cli(&env, &["api-key", "create", "--project", "Devx"]);
    assert!(ok, "{err}");
    let key = key.trim().to_owned();
    let (_, admin, _) = cli(&env, &["api-key", "create", "--admin"]);
    let admin = admin.trim().to_owned();

    let client = reqwest::Client::new();
    let mut bodies = Vec::new();
    // Mail's pipeline waits in Azure DevOps' callback mode, on a dead host.
    let plan_url = format!("http://plan-user:plan-pass-s3cr3t@127.0.0.1:{dead}/org");
    let callback = [
        ("PlanUrl", plan_url.as_str()),
        ("ProjectId", "p1"),
        ("HubName", "build"),
        ("PlanId", "plan-1"),
        ("JobId", "job-1"),
        ("TaskInstanceId", "task-1"),
        ("AuthToken", "azdo-token-s3cr3t"),
    ];
    for project in ["Devx", "Mail", "Redir"] {
        let query = if project == "Mail" {
            "?completion=callback"
        } else {
            ""
        };
        let mut request = client
            .post(format!("{}/release{query}", service.address))
            .header("X-API-Key", &admin);
        if project == "Mail" {
            for (name, value) in callback {
                request = request.header(name, value);
            }
        }
        let response = request
            .json(&json!({"ReleaseName": "R", "ReleaseId": "1", "TeamProject": project}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        bodies.push(response.text().await.unwrap());
    }
    // Refusals: a wrong key, a bad token.
    for request in [
        client
            .get(format!("{}/releases", service.address))
            .header("X-API-Key", "glk_wrong"),
        client.get(format!("{}/approval?token=a.b.c", service.address)),
    ] {
        bodies.push(request.send().await.unwrap().text().await.unwrap());
    }

    // Every job has run out of attempts (or succeeded).
    let mut settled = false;
    for _ in 0..300 {
        if db.count("SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND kind NOT IN ('expire_release', 'remind_approvers')") == 0 {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(settled, "jobs still queued: {}", db.dump_jobs());

    let get = |path: String| {
        let (client, admin) = (client.clone(), admin.clone());
        async move {
            let response = client
                .get(path)
                .header("X-API-Key", admin)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.text().await.unwrap()
        }
    };
    for project in ["Devx", "Mail", "Redir"] {
        bodies.push(get(format!("{}/releases/{project}/1", service.address)).await);
        bodies.push(get(format!("{}/releases/{project}/1/events", service.address)).await);
    }
    bodies.push(get(format!("{}/releases", service.address)).await);

    // The failures are there, and say what failed.
    let devx: Value = serde_json::from_str(&bodies[bodies.len() - 7]).unwrap();
    assert_eq!(devx["status"], "failed", "{devx}");
    assert!(
        devx["reason"].as_str().unwrap().contains("HTTP 500"),
        "{devx}"
    );
    let redir: Value = serde_json::from_str(&bodies[bodies.len() - 3]).unwrap();
    assert_eq!(redir["status"], "failed", "{redir}");
    let mail_events = &bodies[bodies.len() - 4];
    for kind in ["email.failed", "callback.failed", "webhook.failed"] {
        assert!(mail_events.contains(kind), "{kind}: {mail_events}");
    }

    let mut stored = Vec::new();
    for (table, column) in [
        ("releases", "reason"),
        ("releases", "release_name"),
        ("events", "detail"),
        ("events", "actor"),
        ("approvals", "comment"),
        ("jobs", "last_error"),
        ("jobs", "payload"),
        // Not `subscribers`: where to deliver (the configured URL, the
        // AuthToken) is private configuration that no API shows.
    ] {
        stored.extend(db.texts(table, column));
    }
    assert!(
        stored.iter().any(|t| t.contains("HTTP 500")),
        "the jobs' record keeps the error: {stored:?}"
    );

    let log = service.output();
    assert!(log.contains("greenlight starting"), "the log was captured");
    assert!(
        log.contains("job failed"),
        "the failures were logged: {log}"
    );
    let api_key_hex = key[4..].to_owned();
    let everything = [
        ("an answer", bodies.join("\n")),
        ("a stored row", stored.join("\n")),
        ("the log", log),
    ];
    for secret in secrets
        .iter()
        .copied()
        .chain([key.as_str(), api_key_hex.as_str(), &admin[4..]])
    {
        for (place, text) in &everything {
            assert!(
                !text.contains(secret),
                "{secret:?} found in {place}:\n{}",
                text.lines()
                    .filter(|l| l.contains(secret))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }
}
