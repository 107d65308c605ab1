//! Azure DevOps callback mode beyond the basics (tests/api/notify.rs): a
//! newer task moving the release's deadline, and classic release gates
//! told the way Microsoft's own server-task client tells them.

use base64::Engine;
use chrono::{DateTime, Duration, NaiveDateTime, Timelike, Utc};
use serde_json::{json, Value};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::both_backends;
use crate::helpers::{release_body, spawn_app_with, Backend, TestApp};

both_backends!(
    a_newer_callback_task_moves_the_deadline_and_polls_do_not,
    classic_gates_are_told_as_microsofts_server_task_client_tells_them,
);

const AUTH_TOKEN: &str = "azdo-gate-token-s3cr3t";
const PROJECT: &str = "4f3c5a10-0000-4000-8000-00000000aaaa";

fn task(plan_url: &str, hub: &str, plan: &str, task: &str) -> Vec<(&'static str, String)> {
    vec![
        ("PlanUrl", plan_url.to_owned()),
        ("ProjectId", PROJECT.to_owned()),
        ("HubName", hub.to_owned()),
        ("PlanId", plan.to_owned()),
        ("JobId", format!("job-of-{task}")),
        ("TimelineId", "timeline-1".to_owned()),
        ("TaskInstanceId", task.to_owned()),
        ("AuthToken", AUTH_TOKEN.to_owned()),
    ]
}

async fn post_callback(app: &TestApp, id: &str, headers: &[(&'static str, String)]) -> Value {
    let mut request = app
        .client
        .post(format!("{}/release?completion=callback", app.address))
        .json(&release_body(id));
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.unwrap()
}

fn time(doc: &Value, key: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(doc[key].as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

/// The stored expiry job's due time, to the second (as documents show).
fn expiry_job_at(app: &TestApp) -> DateTime<Utc> {
    let runs = app.db.texts(
        "jobs WHERE kind = 'expire_release' AND state = 'queued'",
        "run_at",
    );
    assert_eq!(runs.len(), 1, "one expiry job: {runs:?}");
    let at = NaiveDateTime::parse_from_str(&runs[0], "%Y-%m-%d %H:%M:%S%.f").unwrap();
    at.and_utc()
        .with_nanosecond(0)
        .expect("a time to the second")
}

/// Moves the release, its policy limit and its expiry job `hours` into the
/// past, as if it had been created that long ago (no test waits a day).
fn backdate(app: &TestApp, backend: Backend, hours: i64) {
    let shift = |col: &str| match backend {
        Backend::Postgres => format!("{col} = {col} - interval '{hours} hours'"),
        Backend::Sqlite => {
            format!("{col} = strftime('%Y-%m-%d %H:%M:%f', {col}, '-{hours} hours')")
        }
    };
    app.db.execute(&format!(
        "UPDATE releases SET {}, {}",
        shift("created_at"),
        shift("expires_at")
    ));
    app.db.execute(&format!(
        "UPDATE release_limits SET {}",
        shift("ttl_expires_at")
    ));
    app.db.execute(&format!(
        "UPDATE jobs SET {} WHERE kind = 'expire_release'",
        shift("run_at")
    ));
}

fn token_expiry(token: &str) -> DateTime<Utc> {
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    DateTime::from_timestamp(claims["exp"].as_i64().unwrap(), 0).unwrap()
}

async fn a_newer_callback_task_moves_the_deadline_and_polls_do_not(backend: Backend) {
    let azure = MockServer::start().await;
    let plan_url = format!("{}/contoso/", azure.uri());
    let app = spawn_app_with(
        backend,
        |env| {
            env.insert("GREENLIGHT_RELEASE_TTL".into(), "100h".into());
        },
        true,
    )
    .await;
    let created = post_callback(&app, "moving", &task(&plan_url, "build", "p1", "t1")).await;
    let created_at = time(&created, "created_at");
    assert_eq!(
        time(&created, "expires_at") - created_at,
        Duration::hours(48)
    );
    assert_eq!(expiry_job_at(&app), time(&created, "expires_at"));
    let mails = app.wait_for_mails(2).await;

    // 30 hours later: 18 hours are left of the first task's 48.
    backdate(&app, backend, 30);
    let created_at = created_at - Duration::hours(30);
    let deadline = created_at + Duration::hours(48);
    assert_eq!(time(&app.status("moving").await, "expires_at"), deadline);

    // Polls, also with the task headers Azure DevOps sends in the polling
    // mode, move nothing.
    assert_eq!(
        app.post_release(&release_body("moving")).await.status(),
        200
    );
    let mut polling = app
        .client
        .post(format!("{}/release", app.address))
        .json(&release_body("moving"));
    for (name, value) in task(&plan_url, "build", "p1", "t9") {
        polling = polling.header(name, value);
    }
    assert_eq!(polling.send().await.unwrap().status(), 200);
    assert_eq!(time(&app.status("moving").await, "expires_at"), deadline);
    assert_eq!(expiry_job_at(&app), deadline);
    // The same task asking again moves nothing either: its token is the same.
    post_callback(&app, "moving", &task(&plan_url, "build", "p1", "t1")).await;
    assert_eq!(time(&app.status("moving").await, "expires_at"), deadline);

    // A newer task (a later check of the same release) waits 48 hours from
    // its own request: the deadline and the expiry job move later.
    let before = Utc::now().with_nanosecond(0).unwrap();
    let moved = post_callback(&app, "moving", &task(&plan_url, "build", "p2", "t2")).await;
    let after = Utc::now();
    let new_deadline = time(&moved, "expires_at");
    assert!(
        new_deadline >= before + Duration::hours(48) && new_deadline <= after + Duration::hours(48),
        "{new_deadline} is 48 h after the request ({before}..{after})"
    );
    assert_eq!(
        time(&moved, "created_at"),
        created_at,
        "only the deadline moves"
    );
    assert_eq!(expiry_job_at(&app), new_deadline);

    // 70 hours after creation, a third task: 48 hours from now would pass
    // the policy's 100 hours, so the deadline stops there.
    backdate(&app, backend, 40);
    let created_at = created_at - Duration::hours(40);
    post_callback(&app, "moving", &task(&plan_url, "build", "p3", "t3")).await;
    let limited = app.status("moving").await;
    assert_eq!(
        time(&limited, "expires_at"),
        created_at + Duration::hours(100)
    );
    assert_eq!(expiry_job_at(&app), created_at + Duration::hours(100));

    let moves: Vec<Value> = app
        .events("moving")
        .await
        .into_iter()
        .filter(|e| e["type"] == "release.expiry_moved")
        .collect();
    assert_eq!(moves.len(), 2, "{moves:?}");
    assert_eq!(moves[1]["detail"]["expires_at"], limited["expires_at"]);

    // The links mailed when the deadline was 48 hours away still work up
    // to the moved deadline: their tokens live to the policy's limit.
    for mail in &mails {
        assert!(token_expiry(&mail.token()) >= time(&limited, "expires_at"));
    }
    for mail in &mails {
        assert_eq!(app.approve(&mail.token()).await.status(), 200);
    }
    app.wait_for_status("moving", "approved").await;
}

/// An Azure DevOps plan: `GET plan` answers its version, events are
/// accepted only with the job token as Basic password and the exact body.
async fn azure_hub(server: &MockServer, hub: &str, plan: &str, version: i64, body: Value) {
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(":{AUTH_TOKEN}"))
    );
    let base = format!("/contoso/{PROJECT}/_apis/distributedtask/hubs/{hub}/plans/{plan}");
    Mock::given(method("GET"))
        .and(path(base.clone()))
        .and(query_param("api-version", "4.0"))
        .and(header("authorization", basic.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "planId": plan, "planType": "Release", "version": version,
        })))
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{base}/events")))
        .and(query_param("api-version", "2.0-preview.1"))
        .and(header("authorization", basic.as_str()))
        .and(header("content-type", "application/json"))
        .and(body_json(body))
        .respond_with(ResponseTemplate::new(200))
        .mount(server)
        .await;
}

async fn classic_gates_are_told_as_microsofts_server_task_client_tells_them(backend: Backend) {
    let azure = MockServer::start().await;
    let plan_url = format!("{}/contoso", azure.uri());
    // Gates of an older plan (version 12 or less): jobId is the task
    // instance, taskId the empty GUID.
    azure_hub(
        &azure,
        "Gates",
        "old-plan",
        12,
        json!({"name": "TaskCompleted", "jobId": "gate-1",
               "taskId": "00000000-0000-0000-0000-000000000000", "result": "succeeded"}),
    )
    .await;
    // Gates of a newer plan, and the Release hub: as every other task.
    azure_hub(
        &azure,
        "Gates",
        "new-plan",
        13,
        json!({"name": "TaskCompleted", "jobId": "job-of-gate-2", "taskId": "gate-2",
               "result": "succeeded"}),
    )
    .await;
    azure_hub(
        &azure,
        "Release",
        "rm-plan",
        1,
        json!({"name": "TaskCompleted", "jobId": "job-of-rm-3", "taskId": "rm-3",
               "result": "succeeded"}),
    )
    .await;
    let app = spawn_app_with(backend, |_| {}, true).await;
    for (hub, plan, id) in [
        ("Gates", "old-plan", "gate-1"),
        ("Gates", "new-plan", "gate-2"),
        ("Release", "rm-plan", "rm-3"),
    ] {
        post_callback(&app, "gated", &task(&plan_url, hub, plan, id)).await;
    }
    for mail in app.wait_for_mails(2).await {
        let _ = app.approve(&mail.token()).await;
    }
    app.wait_for_status("gated", "approved").await;
    app.wait_for_idle_queue().await;
    let events = app.events("gated").await;
    let sent: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "callback.sent")
        .collect();
    let failed: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "callback.failed")
        .collect();
    assert_eq!((sent.len(), failed.len()), (3, 0), "{events:?}");
    // Exactly one TaskCompleted per task, each with its hub's body (the
    // stub answers 404 to any other).
    let requests = azure.received_requests().await.unwrap();
    let posts = requests
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .count();
    assert_eq!(posts, 3);
    // Only a gate's plan is read.
    let mut read: Vec<&str> = requests
        .iter()
        .filter(|r| r.method.as_str() == "GET")
        .map(|r| r.url.path().rsplit('/').next().unwrap())
        .collect();
    read.sort_unstable();
    assert_eq!(read, ["new-plan", "old-plan"]);
    // Without a GitHub App there is no redelivery job.
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM jobs WHERE kind = 'redeliver_github_webhooks'"),
        0
    );
}
