//! Following a deployment's log (`GET /deployments/{id}/logs?follow=true`):
//! a follower started before a chunk is appended receives it, as bytes or
//! as server-sent events, also when the chunk is appended on another
//! replica; the stream ends when the deployment is final (with or without
//! a last chunk); a finished deployment's follow answers the whole log and
//! ends; bad `follow` values are refused; a follower does not hold up the
//! server's shutdown.

use std::time::Duration;

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{spawn_app, Backend, Service, TestApp};

both_backends!(
    a_follower_receives_each_chunk_and_ends_when_the_deployment_is_final,
    server_sent_events_carry_one_line_each_and_an_end,
    a_follower_on_one_replica_receives_chunks_appended_on_another,
    following_a_finished_deployment_answers_its_log_and_ends,
    bad_follow_values_are_refused,
);

/// A stream that ends within this is finished; a test that waits longer
/// has found a bug (this bounds the test, it measures nothing).
const PATIENCE: Duration = Duration::from_secs(20);

async fn create(app: &TestApp, address: &str) -> String {
    let answer = app
        .client
        .post(format!("{address}/deployments"))
        .json(&json!({"repository_url": "github.com/octo/app", "commit_sha": "0123abcd", "environment": "staging"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
    let document: Value = answer.json().await.unwrap();
    document["id"].as_str().unwrap().to_owned()
}

async fn append(app: &TestApp, address: &str, id: &str, chunk: &str) {
    let answer = app
        .client
        .post(format!("{address}/deployments/{id}/logs"))
        .header("Content-Type", "text/plain")
        .body(chunk.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());
}

async fn post_status(app: &TestApp, address: &str, id: &str, state: &str) {
    let answer = app
        .client
        .post(format!("{address}/deployments/{id}/statuses"))
        .json(&json!({"state": state}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201, "{}", answer.text().await.unwrap());
}

async fn follow(app: &TestApp, address: &str, id: &str, accept: &str) -> reqwest::Response {
    let answer = app
        .client
        .get(format!("{address}/deployments/{id}/logs?follow=true"))
        .header("Accept", accept)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    answer
}

/// Reads the stream until what it sent contains `wanted`; answers all it
/// sent so far.
async fn read_until(stream: &mut reqwest::Response, got: &mut String, wanted: &str) {
    tokio::time::timeout(PATIENCE, async {
        while !got.contains(wanted) {
            let chunk = stream
                .chunk()
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("the stream ended before {wanted:?}: {got:?}"));
            got.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {wanted:?} came: {got:?}"));
}

/// Reads the stream to its end.
async fn read_to_end(stream: &mut reqwest::Response, got: &mut String) {
    tokio::time::timeout(PATIENCE, async {
        while let Some(chunk) = stream.chunk().await.unwrap() {
            got.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the stream did not end: {got:?}"));
}

async fn a_follower_receives_each_chunk_and_ends_when_the_deployment_is_final(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = create(&app, &app.address).await;
    append(&app, &app.address, &id, "stored before\n").await;
    let mut stream = follow(&app, &app.address, &id, "text/plain").await;
    assert!(stream.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let mut got = String::new();
    read_until(&mut stream, &mut got, "stored before\n").await;
    // Appended while it follows: each arrives, in order, once.
    for n in 1..=3 {
        append(&app, &app.address, &id, &format!("line {n}\n")).await;
        read_until(&mut stream, &mut got, &format!("line {n}\n")).await;
    }
    post_status(&app, &app.address, &id, "in_progress").await;
    append(&app, &app.address, &id, "no newline at the end").await;
    // Final without another chunk: the stream ends.
    post_status(&app, &app.address, &id, "success").await;
    read_to_end(&mut stream, &mut got).await;
    assert_eq!(
        got,
        "stored before\nline 1\nline 2\nline 3\nno newline at the end"
    );
}

async fn server_sent_events_carry_one_line_each_and_an_end(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = create(&app, &app.address).await;
    let mut stream = follow(&app, &app.address, &id, "text/event-stream").await;
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let mut got = String::new();
    // A line in two chunks is one event, once whole.
    append(&app, &app.address, &id, "first <b>line</b>\nsecond ").await;
    read_until(&mut stream, &mut got, "data: first <b>line</b>\n\n").await;
    append(&app, &app.address, &id, "half\r\nthird\n").await;
    read_until(&mut stream, &mut got, "data: third\n\n").await;
    // Canceled: the stream says so and ends.
    let canceled = app
        .client
        .post(format!("{}/deployments/{id}/cancel", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(canceled.status(), 200);
    read_to_end(&mut stream, &mut got).await;
    assert_eq!(
        got,
        "data: first <b>line</b>\n\ndata: second half\n\ndata: third\n\nevent: end\ndata: canceled\n\n"
    );
}

async fn a_follower_on_one_replica_receives_chunks_appended_on_another(backend: Backend) {
    let app = spawn_app(backend).await;
    let other = app.start_replica().await;
    let id = create(&app, &app.address).await;
    // Followed on the replica, appended on the first app.
    let mut plain = follow(&app, &other, &id, "text/plain").await;
    let mut events = follow(&app, &other, &id, "text/event-stream").await;
    let (mut got_plain, mut got_events) = (String::new(), String::new());
    for n in 1..=3 {
        append(&app, &app.address, &id, &format!("from A {n}\n")).await;
        read_until(&mut plain, &mut got_plain, &format!("from A {n}\n")).await;
        read_until(
            &mut events,
            &mut got_events,
            &format!("data: from A {n}\n\n"),
        )
        .await;
    }
    // Final on the first app, without a chunk: both streams on the
    // replica end.
    post_status(&app, &app.address, &id, "failure").await;
    read_to_end(&mut plain, &mut got_plain).await;
    read_to_end(&mut events, &mut got_events).await;
    assert_eq!(got_plain, "from A 1\nfrom A 2\nfrom A 3\n");
    assert!(
        got_events.ends_with("data: from A 3\n\nevent: end\ndata: failure\n\n"),
        "{got_events}"
    );
    // The log bytes and the followers are counted.
    let metrics = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "greenlight_deployment_log_bytes_total",
        "greenlight_deployment_log_followers",
        "greenlight_deployment_transitions_total{state=\"failure\"}",
    ] {
        assert!(metrics.contains(name), "{name} in {metrics}");
    }
}

async fn following_a_finished_deployment_answers_its_log_and_ends(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = create(&app, &app.address).await;
    append(&app, &app.address, &id, "built\n").await;
    append(&app, &app.address, &id, "deployed\n").await;
    post_status(&app, &app.address, &id, "success").await;
    let plain = follow(&app, &app.address, &id, "*/*").await;
    assert_eq!(plain.text().await.unwrap(), "built\ndeployed\n");
    let events = follow(&app, &app.address, &id, "text/event-stream").await;
    assert_eq!(
        events.text().await.unwrap(),
        "data: built\n\ndata: deployed\n\nevent: end\ndata: success\n\n"
    );
    // `follow=false` is the plain read.
    let read = app
        .client
        .get(format!(
            "{}/deployments/{id}/logs?follow=false",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(read.text().await.unwrap(), "built\ndeployed\n");
}

async fn bad_follow_values_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = create(&app, &app.address).await;
    append(&app, &app.address, &id, "kept\n").await;
    for bad in ["yes", "", "TRUE%00", "2"] {
        let answer = app
            .client
            .get(format!(
                "{}/deployments/{id}/logs?follow={bad}",
                app.address
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 422, "follow={bad}");
        assert_eq!(answer.headers()["content-type"], "application/problem+json");
        let problem: Value = answer.json().await.unwrap();
        assert_eq!(problem["errors"][0]["field"], "follow", "{problem}");
    }
    // An unknown deployment is a 404 either way.
    let unknown = app
        .client
        .get(format!(
            "{}/deployments/dpl_01JD0000000000000000000000/logs?follow=true",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    // Nothing changed.
    let log = app
        .client
        .get(format!("{}/deployments/{id}/logs", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(log.text().await.unwrap(), "kept\n");
}

/// SIGTERM with a follower connected: the follower's stream ends and the
/// process exits, well before the shutdown timeout it would otherwise
/// wait out for the open request.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_follower_does_not_hold_up_shutdown() {
    let app = spawn_app(Backend::Sqlite).await;
    let mut env = app.env.clone();
    env.insert("GREENLIGHT_SHUTDOWN_TIMEOUT".into(), "120s".into());
    let mut service = Service::start(&env).await;
    let id = create(&app, &service.address).await;
    append(&app, &service.address, &id, "running\n").await;
    let mut stream = follow(&app, &service.address, &id, "text/plain").await;
    let mut got = String::new();
    read_until(&mut stream, &mut got, "running\n").await;
    service.terminate();
    // The stream ends (the deployment is not final: no end of its own).
    read_to_end(&mut stream, &mut got).await;
    assert_eq!(got, "running\n");
    let exited = tokio::time::timeout(PATIENCE, async {
        loop {
            if service.child.try_wait().unwrap().is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(
        exited.is_ok(),
        "the service exits without waiting out its 120 s shutdown timeout: {}",
        service.output()
    );
}
