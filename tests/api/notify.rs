//! Telling other systems of a decision: Standard Webhooks, and Azure DevOps
//! tasks waiting in callback mode, each told once, retried until they
//! answer, on both backends.

use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::both_backends;
use crate::helpers::{release_body, spawn_app_with, Backend, TestApp};
use crate::webhooks::{assert_verified, python_library, whsec};

both_backends!(
    webhooks_are_signed_retried_and_delivered_once,
    azure_devops_tasks_are_told_once_each,
    a_refused_release_fails_the_task_and_an_unreachable_one_gives_up,
    an_azure_devops_that_was_down_is_told_once_it_is_back,
    a_callback_to_a_private_address_is_refused_by_default,
    a_polling_gate_with_the_default_headers_is_never_called_back,
    an_azure_devops_4xx_gives_up_at_once,
);

// PostgreSQL only: SQLite's one writer never lets two writes interleave.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_task_that_subscribes_while_the_release_is_decided_is_told_postgres() {
    a_task_that_subscribes_while_the_release_is_decided_is_told(Backend::Postgres).await
}

const VERIFY_PY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/docs/examples/verify-webhook.py"
);
const VERIFY_SH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/docs/examples/verify-webhook.sh"
);
const AUTH_TOKEN: &str = "azdo-job-token-s3cr3t";

async fn approve_all(app: &TestApp, n: usize) {
    for mail in app.wait_for_mails(n).await.iter().rev().take(2) {
        let _ = app.approve(&mail.token()).await;
    }
}

/// Waits until `server` has received `n` requests; returns them all.
async fn received(server: &MockServer, n: usize) -> Vec<wiremock::Request> {
    for _ in 0..200 {
        let requests = server.received_requests().await.unwrap();
        if requests.len() >= n {
            return requests;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("fewer than {n} requests arrived");
}

fn event_types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

/// A receiver down at the first attempt (500), then up; the global secret
/// is being rotated. Both attempts carry one `webhook-id` and one body,
/// each signed for its own timestamp with the new secret and the previous
/// one: the standard's libraries and the documented verifiers accept
/// either secret, and refuse a third one, a changed body and a replay.
async fn webhooks_are_signed_retried_and_delivered_once(backend: Backend) {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks/greenlight"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&receiver)
        .await;
    Mock::given(method("POST"))
        .and(path("/hooks/greenlight"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let url = format!("{}/hooks/greenlight", receiver.uri());
    let (new, old, other) = (whsec(1), whsec(2), whsec(3));
    let app = spawn_app_with(
        backend,
        |env| {
            env.insert("GREENLIGHT_WEBHOOK_URL".into(), url.clone());
            env.insert("GREENLIGHT_WEBHOOK_SECRET".into(), new.clone());
            env.insert("GREENLIGHT_WEBHOOK_SECRET_PREVIOUS".into(), old.clone());
        },
        true,
    )
    .await;
    assert_eq!(app.post_release(&release_body("w1")).await.status(), 202);
    approve_all(&app, 2).await;
    received(&receiver, 2).await;
    app.wait_for_idle_queue().await;
    let requests = receiver.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2, "one failed attempt, one delivery");
    let delivery = requests[0].headers["webhook-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        !delivery.is_empty() && !delivery.contains('.'),
        "{delivery}"
    );
    let document = app.status("w1").await;
    for request in &requests {
        assert_eq!(
            request.headers["webhook-id"],
            delivery.as_str(),
            "a retry keeps its id"
        );
        assert_eq!(request.body, requests[0].body, "and its body");
        assert_eq!(request.headers["content-type"], "application/json");
        assert!(
            request
                .headers
                .keys()
                .all(|name| !name.as_str().starts_with("greenlight-")),
            "the old scheme's headers are gone: {:?}",
            request.headers
        );
        let signature = request.headers["webhook-signature"].to_str().unwrap();
        assert_eq!(
            signature.split(' ').count(),
            2,
            "new and previous: {signature}"
        );
        for secret in [&new, &old] {
            assert_verified(secret, request, true);
        }
        assert_verified(&other, request, false);
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(
            body,
            json!({"type": "release.approved", "timestamp": document["decided_at"], "data": document})
        );
        assert_eq!(body["data"]["approvals"], 2);
    }

    // The documented verifiers, as written: Python with the standard's
    // library and without it, and the shell's openssl. The delivery passes
    // with either secret; a changed body, a third secret, or a replay ten
    // minutes old (signed right, but late) fails.
    let request = &requests[1];
    let header = |name: &str| request.headers[name].to_str().unwrap().to_owned();
    let (id, timestamp, signature) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    let stale_timestamp = timestamp.parse::<i64>().unwrap() - 600;
    let stale_signature = standardwebhooks::Webhook::new(&new)
        .unwrap()
        .sign(&id, stale_timestamp, &request.body)
        .unwrap();
    let mut changed = request.body.clone();
    changed.extend_from_slice(b" ");
    let library = python_library();
    for (case, secret, timestamp, signature, bytes, valid) in [
        (
            "as delivered",
            &new,
            &timestamp,
            &signature,
            &request.body,
            true,
        ),
        (
            "the previous secret",
            &old,
            &timestamp,
            &signature,
            &request.body,
            true,
        ),
        (
            "another secret",
            &other,
            &timestamp,
            &signature,
            &request.body,
            false,
        ),
        (
            "a changed body",
            &new,
            &timestamp,
            &signature,
            &changed,
            false,
        ),
        (
            "ten minutes late",
            &new,
            &stale_timestamp.to_string(),
            &stale_signature,
            &request.body,
            false,
        ),
    ] {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), bytes).unwrap();
        for (verifier, pythonpath, says) in [
            (["python3", VERIFY_PY], Some(&library), "(standardwebhooks)"),
            (["python3", VERIFY_PY], None, "(stdlib)"),
            (["sh", VERIFY_SH], None, ""),
        ] {
            let mut command = std::process::Command::new(verifier[0]);
            command
                .arg(verifier[1])
                .args([&id, timestamp, signature])
                .arg(file.path())
                .env("WEBHOOK_SECRET", secret)
                .env_remove("PYTHONPATH");
            if let Some(dir) = pythonpath {
                command.env("PYTHONPATH", dir);
            }
            let out = command.output().unwrap();
            assert_eq!(out.status.success(), valid, "{verifier:?} {case}: {out:?}");
            let said = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(said.contains(says), "{verifier:?} {case}: {said}");
        }
    }

    let events = app.events("w1").await;
    let types = event_types(&events);
    assert_eq!(
        types.iter().filter(|t| *t == "webhook.sent").count(),
        1,
        "{types:?}"
    );
    assert_eq!(
        types.last().unwrap(),
        "webhook.sent",
        "after the decision: {types:?}"
    );
    let sent = events.last().unwrap();
    assert_eq!(sent["detail"]["delivery"], delivery.as_str());
    assert_eq!(sent["detail"]["to"], url.as_str());
    let trail = serde_json::to_string(&events).unwrap();
    for secret in [&new, &old] {
        assert!(!trail.contains(&secret[6..]), "no secret in an event");
    }
}

fn task_headers(plan_url: &str, plan: &str, task: &str) -> Vec<(&'static str, String)> {
    vec![
        ("PlanUrl", plan_url.to_owned()),
        ("ProjectId", "4f3c5a10-proj".to_owned()),
        ("HubName", "build".to_owned()),
        ("PlanId", plan.to_owned()),
        ("JobId", "job-1".to_owned()),
        ("TimelineId", "timeline-1".to_owned()),
        ("TaskInstanceId", task.to_owned()),
        ("AuthToken", AUTH_TOKEN.to_owned()),
    ]
}

async fn post_with(
    app: &TestApp,
    body: &Value,
    headers: &[(&'static str, String)],
) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}/release?completion=callback", app.address))
        .json(body);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request.send().await.unwrap()
}

/// An Azure DevOps events endpoint for `plan`, checking what the real one
/// checks: method, path, api-version, the job token as Basic password.
async fn azure_stub(server: &MockServer, plan: &str, status: u16) {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(":{AUTH_TOKEN}"));
    Mock::given(method("POST"))
        .and(path(format!(
            "/contoso/4f3c5a10-proj/_apis/distributedtask/hubs/build/plans/{plan}/events"
        )))
        .and(query_param("api-version", "2.0-preview.1"))
        .and(header("authorization", format!("Basic {basic}").as_str()))
        .and(header("content-type", "application/json"))
        .respond_with(ResponseTemplate::new(status))
        .mount(server)
        .await;
}

fn completed(request: &wiremock::Request) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

async fn azure_devops_tasks_are_told_once_each(backend: Backend) {
    let azure = MockServer::start().await;
    azure_stub(&azure, "plan-1", 200).await;
    let plan_url = format!("{}/contoso/", azure.uri());
    // The AuthToken is kept sealed (and opened to post: the stub checks it).
    let app = spawn_app_with(
        backend,
        |env| {
            env.insert(
                "GREENLIGHT_ENCRYPTION_KEY".into(),
                "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".into(),
            );
        },
        true,
    )
    .await;
    let task = task_headers(&plan_url, "plan-1", "task-1");

    let created = post_with(&app, &release_body("cb"), &task).await;
    assert_eq!(created.status(), 202);
    let doc: Value = created.json().await.unwrap();
    let at = |k: &str| chrono::DateTime::parse_from_rfc3339(doc[k].as_str().unwrap()).unwrap();
    assert_eq!(
        (at("expires_at") - at("created_at")).num_hours(),
        48,
        "capped at the AuthToken's life"
    );
    // The check asks again (a retry): still one task to tell.
    assert_eq!(
        post_with(&app, &release_body("cb"), &task).await.status(),
        200
    );
    // A release without the headers is never called back.
    assert_eq!(app.post_release(&release_body("plain")).await.status(), 202);

    let mails = app.wait_for_mails(4).await;
    for mail in &mails {
        let _ = app.approve(&mail.token()).await;
    }
    app.wait_for_status("cb", "approved").await;
    app.wait_for_status("plain", "approved").await;
    let requests = received(&azure, 1).await;
    app.wait_for_idle_queue().await;
    let requests: Vec<_> = requests
        .into_iter()
        .chain(azure.received_requests().await.unwrap().into_iter().skip(1))
        .collect();
    assert_eq!(requests.len(), 1, "told once, and only the task that asked");
    assert_eq!(
        completed(&requests[0]),
        json!({"name": "TaskCompleted", "taskId": "task-1", "jobId": "job-1", "result": "succeeded"})
    );

    // The same task asking after the decision is not told again; another
    // task (a re-run of the check) is told at once.
    assert_eq!(
        post_with(&app, &release_body("cb"), &task).await.status(),
        200
    );
    let rerun = task_headers(&plan_url, "plan-1", "task-2");
    let answer: Value = post_with(&app, &release_body("cb"), &rerun)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["status"], "approved");
    // A task whose request renames the release is refused and never told.
    let mut renamed = release_body("cb");
    renamed["ReleaseName"] = json!("Another name");
    let stranger = task_headers(&plan_url, "plan-1", "task-3");
    assert_eq!(post_with(&app, &renamed, &stranger).await.status(), 409);
    let requests = received(&azure, 2).await;
    app.wait_for_idle_queue().await;
    assert_eq!(azure.received_requests().await.unwrap().len(), 2);
    assert_eq!(completed(&requests[1])["taskId"], "task-2");

    let events = app.events("cb").await;
    let types = event_types(&events);
    assert_eq!(
        types.iter().filter(|t| *t == "callback.sent").count(),
        2,
        "{types:?}"
    );
    let stored = app.db.texts("subscribers", "credential");
    assert_eq!(stored.len(), 2, "{stored:?}");
    for credential in &stored {
        assert!(
            credential.starts_with("sealed:v1:") && !credential.contains(AUTH_TOKEN),
            "{credential}"
        );
    }
    // The AuthToken is in no answer and no event.
    let everything = format!("{events:?} {answer} {doc}");
    assert!(!everything.contains(AUTH_TOKEN), "{everything}");
    let listed = app.get_json("/releases").await.to_string();
    assert!(!listed.contains(AUTH_TOKEN));
}

async fn a_refused_release_fails_the_task_and_an_unreachable_one_gives_up(backend: Backend) {
    let azure = MockServer::start().await;
    // Down once, then up.
    Mock::given(method("POST"))
        .and(path(
            "/contoso/4f3c5a10-proj/_apis/distributedtask/hubs/build/plans/plan-r/events",
        ))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&azure)
        .await;
    azure_stub(&azure, "plan-r", 200).await;
    azure_stub(&azure, "plan-down", 503).await;
    let plan_url = format!("{}/contoso", azure.uri());
    let app = spawn_app_with(backend, |_| {}, true).await;

    // Some of the headers: a clear 422 naming the missing ones, nothing stored.
    let partial = &task_headers(&plan_url, "plan-r", "t")[..3];
    let refused = post_with(&app, &release_body("r"), partial).await;
    assert_eq!(refused.status(), 422);
    let problem: Value = refused.json().await.unwrap();
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["PlanId", "JobId", "TaskInstanceId", "AuthToken"]);
    // A PlanUrl off the trusted hosts (here, the cloud's metadata address):
    // refused, so that Greenlight posts a token nowhere it should not.
    let elsewhere = task_headers("http://169.254.169.254/latest", "plan-r", "t");
    let refused = post_with(&app, &release_body("r"), &elsewhere).await;
    assert_eq!(refused.status(), 422);
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "PlanUrl", "{problem}");
    assert_eq!(app.db.count("SELECT COUNT(*) FROM releases"), 0);

    assert_eq!(
        post_with(
            &app,
            &release_body("r"),
            &task_headers(&plan_url, "plan-r", "t1")
        )
        .await
        .status(),
        202
    );
    assert_eq!(
        post_with(
            &app,
            &release_body("d"),
            &task_headers(&plan_url, "plan-down", "t2")
        )
        .await
        .status(),
        202
    );
    let mails = app.wait_for_mails(4).await;
    let token_of = |release: &str| {
        mails
            .iter()
            .find(|m| m.subject.contains(&format!("#{release})")))
            .unwrap()
            .token()
    };
    let rejected = app
        .post_decision(&[
            ("token", &token_of("r")),
            ("decision", "reject"),
            ("comment", "not today"),
        ])
        .await;
    assert_eq!(rejected.status(), 200);
    let _ = app
        .post_decision(&[("token", &token_of("d")), ("decision", "reject")])
        .await;
    received(&azure, 2).await;
    app.wait_for_idle_queue().await;
    let to_r: Vec<Value> = azure
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().contains("plan-r"))
        .map(completed)
        .collect();
    assert_eq!(to_r.len(), 2, "retried after the 500");
    assert!(
        to_r.iter()
            .all(|b| b["result"] == "failed" && b["taskId"] == "t1"),
        "{to_r:?}"
    );
    assert_eq!(
        event_types(&app.events("r").await).last().unwrap(),
        "callback.sent"
    );

    // Always 503: retried up to the attempts, then a callback.failed event.
    let events = app.events("d").await;
    let failed = events
        .iter()
        .find(|e| e["type"] == "callback.failed")
        .expect("callback.failed");
    assert_eq!(failed["detail"]["task_instance_id"], "t2");
    assert!(
        failed["detail"]["reason"]
            .as_str()
            .unwrap()
            .contains("HTTP 503"),
        "{failed}"
    );
    assert_eq!(
        app.status("d").await["status"],
        "rejected",
        "the release's decision stands"
    );
}

async fn an_azure_devops_that_was_down_is_told_once_it_is_back(backend: Backend) {
    // Nothing listens on the plan URL's port until the first attempts failed.
    let port = crate::helpers::free_port();
    let app = spawn_app_with(
        backend,
        |env| {
            env.insert("GREENLIGHT_JOB_MAX_ATTEMPTS".into(), "50".into());
        },
        true,
    )
    .await;
    let plan_url = format!("http://127.0.0.1:{port}/contoso");
    let task = task_headers(&plan_url, "plan-b", "t-back");
    assert_eq!(
        post_with(&app, &release_body("b"), &task).await.status(),
        202
    );
    approve_all(&app, 2).await;
    let failed_once =
        "SELECT COUNT(*) FROM jobs WHERE kind = 'send_azure_callback' AND attempts >= 1 \
                       AND last_error LIKE '%unreachable%'";
    for _ in 0..200 {
        if app.db.count(failed_once) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(app.db.count(failed_once), 1, "{}", app.db.dump_jobs());
    // Azure DevOps is back.
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let azure = MockServer::builder().listener(listener).start().await;
    azure_stub(&azure, "plan-b", 200).await;
    let requests = received(&azure, 1).await;
    app.wait_for_idle_queue().await;
    assert_eq!(azure.received_requests().await.unwrap().len(), 1);
    assert_eq!(completed(&requests[0])["result"], "succeeded");
    let types = event_types(&app.events("b").await);
    assert_eq!(
        types.iter().filter(|t| *t == "callback.sent").count(),
        1,
        "{types:?}"
    );
    assert!(!types.iter().any(|t| t == "callback.failed"), "{types:?}");
}

/// A PlanUrl arrives in a request's headers: whoever sends it must not
/// make Greenlight post (with a token) into the network it runs in. By
/// default a loopback target is refused, named as an IP or as a name that
/// resolves to one, for good at the first attempt; the approvers source,
/// the operator's own URL on the same loopback, is still called.
async fn a_callback_to_a_private_address_is_refused_by_default(backend: Backend) {
    let azure = MockServer::start().await;
    azure_stub(&azure, "plan-ip", 200).await;
    azure_stub(&azure, "plan-name", 200).await;
    let port = azure.address().port();
    let app = spawn_app_with(
        backend,
        |env| {
            env.remove("GREENLIGHT_OUTBOUND_ALLOW_PRIVATE");
            env.insert(
                "GREENLIGHT_AZURE_DEVOPS_HOSTS".into(),
                "127.0.0.1,localhost".into(),
            );
        },
        true,
    )
    .await;
    for (release, host, plan) in [
        ("ip", "127.0.0.1", "plan-ip"),
        ("name", "localhost", "plan-name"),
    ] {
        let plan_url = format!("http://{host}:{port}/contoso");
        let task = task_headers(&plan_url, plan, &format!("t-{release}"));
        assert_eq!(
            post_with(&app, &release_body(release), &task)
                .await
                .status(),
            202
        );
    }
    for mail in app.wait_for_mails(4).await {
        assert_eq!(app.approve(&mail.token()).await.status(), 200);
    }
    for (release, why) in [
        ("ip", "the host is a loopback address"),
        ("name", "the host resolves to a loopback address"),
    ] {
        app.wait_for_status(release, "approved").await;
        let failed = app.wait_for_event(release, "callback.failed").await;
        let reason = failed["detail"]["reason"].as_str().unwrap();
        assert!(
            reason.contains(&format!("refused to connect: {why}"))
                && reason.contains("GREENLIGHT_OUTBOUND_ALLOW_PRIVATE")
                && reason.ends_with("(gave up after 1 attempt)"),
            "{reason}"
        );
        assert!(
            !reason.contains(&port.to_string()),
            "no URL in the reason: {reason}"
        );
        assert_eq!(app.status(release).await["status"], "approved");
    }
    assert!(
        azure.received_requests().await.unwrap().is_empty(),
        "no request reached the stub"
    );
}

/// A pipeline task subscribes to a pending release while its last approval
/// is being recorded. Either the decision sees the new subscriber waiting,
/// or the subscribe sees the decision: the task is told either way. The
/// subscriber's insert is held (a table lock from the test) after
/// subscribe has read the release as pending; the decision then tries to
/// commit in that window. Subscribe's lock on the release must still be
/// held there, or the decision commits without seeing the subscriber.
async fn a_task_that_subscribes_while_the_release_is_decided_is_told(backend: Backend) {
    use diesel::connection::SimpleConnection;
    let azure = MockServer::start().await;
    azure_stub(&azure, "plan-race", 200).await;
    let plan_url = format!("{}/contoso", azure.uri());
    let app = spawn_app_with(
        backend,
        // Lock waits in this test last longer than the tests' usual 1 s.
        |env| {
            env.insert("GREENLIGHT_DB_TIMEOUT".into(), "20000ms".into());
        },
        true,
    )
    .await;
    assert_eq!(app.post_release(&release_body("race")).await.status(), 202);
    let mails = app.wait_for_mails(2).await;
    assert_eq!(app.approve(&mails[0].token()).await.status(), 200);

    let waiting = || {
        app.db.count(
            "SELECT COUNT(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
    };
    let mut blocker = app.db.connect();
    blocker
        .batch_execute("BEGIN; LOCK TABLE subscribers IN SHARE ROW EXCLUSIVE MODE")
        .unwrap();
    let subscribe = tokio::spawn({
        let (client, address) = (app.client.clone(), app.address.clone());
        let task = task_headers(&plan_url, "plan-race", "task-race");
        async move {
            let mut request = client
                .post(format!("{address}/release?completion=callback"))
                .json(&release_body("race"));
            for (name, value) in task {
                request = request.header(name, value);
            }
            request.send().await.unwrap().status().as_u16()
        }
    });
    let until = |n: i64| async move {
        for _ in 0..400 {
            if waiting() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("fewer than {n} sessions wait on a lock");
    };
    until(1).await; // subscribe waits for its insert
    let decide = tokio::spawn({
        let (client, token) = (app.client.clone(), mails[1].token());
        let address = app.address.clone();
        async move {
            client
                .get(format!("{address}/approval?token={token}"))
                .header("accept", "application/json")
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    // The decision either waits for subscribe's lock on the release (right)
    // or commits without it (the defect).
    for _ in 0..400 {
        if decide.is_finished() || waiting() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    blocker.batch_execute("COMMIT").unwrap();
    assert_eq!(subscribe.await.unwrap(), 200);
    assert_eq!(decide.await.unwrap(), 200);
    app.wait_for_status("race", "approved").await;
    let requests = received(&azure, 1).await;
    app.wait_for_idle_queue().await;
    assert_eq!(
        completed(&requests[0]),
        json!({"name": "TaskCompleted", "taskId": "task-race", "jobId": "job-1", "result": "succeeded"})
    );
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM subscribers WHERE notified_at IS NULL"),
        0,
        "every subscriber told"
    );
}

/// Azure DevOps sends its task's headers by default in the polling
/// (ApiResponse) mode too: without `?completion=callback` they are
/// ignored, nothing of them is stored, and nobody is called back.
async fn a_polling_gate_with_the_default_headers_is_never_called_back(backend: Backend) {
    let azure = MockServer::start().await;
    azure_stub(&azure, "plan-p", 200).await;
    let app = spawn_app_with(backend, |_| {}, true).await;
    let task = task_headers(&format!("{}/contoso/", azure.uri()), "plan-p", "task-p");
    let mut request = app
        .client
        .post(format!("{}/release", app.address))
        .json(&release_body("poll"));
    for (name, value) in &task {
        request = request.header(*name, value);
    }
    let created = request.send().await.unwrap();
    assert_eq!(created.status(), 202);
    let doc: Value = created.json().await.unwrap();
    let at = |k: &str| chrono::DateTime::parse_from_rfc3339(doc[k].as_str().unwrap()).unwrap();
    assert_eq!(
        (at("expires_at") - at("created_at")).num_hours(),
        72,
        "no 48 h cap: nobody waits for a callback"
    );
    assert_eq!(app.db.count("SELECT COUNT(*) FROM subscribers"), 0);
    for mail in app.wait_for_mails(2).await {
        let _ = app.approve(&mail.token()).await;
    }
    app.wait_for_status("poll", "approved").await;
    app.wait_for_idle_queue().await;
    assert!(azure.received_requests().await.unwrap().is_empty());
    // Another completion than `callback` is a mistake worth saying.
    let wrong = app
        .client
        .post(format!("{}/release?completion=later", app.address))
        .json(&release_body("poll"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 422);
    let problem: Value = wrong.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "completion");
}

/// An expired AuthToken (401) or a finished run (404) will not change on a
/// retry: the job gives up at the first answer, with the reason.
async fn an_azure_devops_4xx_gives_up_at_once(backend: Backend) {
    let azure = MockServer::start().await;
    azure_stub(&azure, "plan-x", 401).await;
    let app = spawn_app_with(
        backend,
        |env| {
            env.insert("GREENLIGHT_JOB_MAX_ATTEMPTS".into(), "5".into());
        },
        true,
    )
    .await;
    let task = task_headers(&format!("{}/contoso/", azure.uri()), "plan-x", "task-x");
    assert_eq!(
        post_with(&app, &release_body("x401"), &task).await.status(),
        202
    );
    for mail in app.wait_for_mails(2).await {
        let _ = app.approve(&mail.token()).await;
    }
    app.wait_for_status("x401", "approved").await;
    let failed = app.wait_for_event("x401", "callback.failed").await;
    let reason = failed["detail"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("401") && reason.contains("after 1 attempt"),
        "{reason}"
    );
    assert_eq!(azure.received_requests().await.unwrap().len(), 1);
}
