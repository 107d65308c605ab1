//! Test stacks leased per branch (DESIGN "Test stacks leased per branch",
//! seed 000): the seed's choice (same branch, least recently requested,
//! new), leases that expire with fences that grow, the first-come queue
//! kept in the database, `DELETE /stacks/last`, keys and projects; bad
//! input changes nothing.

use std::time::Duration;

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{spawn_app_with, spawn_keyed_app, Backend, TestApp};

both_backends!(
    the_seed_choice_same_branch_then_least_recent_then_new,
    a_holder_heartbeats_sets_its_commit_and_releases,
    a_waiter_is_granted_the_stack_another_releases,
    an_exhausted_pool_answers_409_and_a_request_id_keeps_its_place,
    two_waiters_are_served_in_arrival_order,
    concurrent_requests_on_two_replicas_never_share_a_stack,
    a_lapsed_lease_is_released_by_the_job_and_its_holder_refused,
    an_expiry_job_before_the_lease_ends_queues_itself_again,
    delete_last_removes_an_available_stack_only,
    delete_last_and_a_request_at_once_never_lose_or_double_a_stack,
    bad_input_changes_nothing,
    keys_see_their_own_project_only,
    a_lapse_is_posted_signed_to_the_projects_webhook,
);

// ----------------------------------------------------------------- helpers

const LEASE: &str = "Greenlight-Lease";

/// An app whose `greenlight.toml` holds `policy` (kept while the app runs).
async fn app_with_policy(backend: Backend, policy: &str) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("greenlight.toml");
    std::fs::write(&path, policy).unwrap();
    let config = path.display().to_string();
    let app = spawn_app_with(
        backend,
        |env| {
            env.insert("GREENLIGHT_CONFIG".into(), config);
        },
        true,
    )
    .await;
    (app, dir)
}

async fn app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}, true).await
}

fn ask_body(branch: &str) -> Value {
    json!({"branch": branch, "team_project": "Devx"})
}

async fn ask_at(app: &TestApp, address: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(format!("{address}/stacks/request"))
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn ask(app: &TestApp, body: &Value) -> reqwest::Response {
    ask_at(app, &app.address, body).await
}

/// A stack leased to `branch` of Devx (200): its document.
async fn lease(app: &TestApp, branch: &str) -> Value {
    let answer = ask(app, &ask_body(branch)).await;
    assert_eq!(answer.status(), 200, "{branch}");
    answer.json().await.unwrap()
}

fn name_of(stack: &Value) -> String {
    stack["stackName"].as_str().unwrap().to_owned()
}

fn token_of(stack: &Value) -> String {
    stack["lease"]["token"].as_str().unwrap().to_owned()
}

/// A holder's call on a Devx stack with `token`.
async fn holder(
    app: &TestApp,
    method: reqwest::Method,
    stack: &str,
    action: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app.client.request(
        method,
        format!("{}/stacks/{stack}/{action}?team_project=Devx", app.address),
    );
    if let Some(token) = token {
        request = request.header(LEASE, token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn release(app: &TestApp, stack: &Value) -> reqwest::Response {
    holder(
        app,
        reqwest::Method::POST,
        &name_of(stack),
        "release",
        Some(&token_of(stack)),
        None,
    )
    .await
}

async fn released(app: &TestApp, stack: &Value) {
    let answer = release(app, stack).await;
    assert_eq!(answer.status(), 200, "release {}", name_of(stack));
}

async fn list(app: &TestApp) -> Vec<Value> {
    let answer = app
        .client
        .get(format!("{}/stacks?team_project=Devx", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    answer.json().await.unwrap()
}

async fn events(app: &TestApp) -> Vec<Value> {
    let page = app.get_json("/projects/Devx/events?limit=200").await;
    page["events"].as_array().unwrap().clone()
}

fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

/// Waits (up to 20 s) until `sql` counts `n`.
async fn until_count(app: &TestApp, sql: &str, n: i64) {
    for _ in 0..400 {
        if app.db.count(sql) == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{sql} never reached {n}: {}", app.db.count(sql));
}

async fn problem(answer: reqwest::Response, status: u16, slug: &str) -> Value {
    assert_eq!(answer.status(), status, "expected {slug}");
    assert_eq!(answer.headers()["content-type"], "application/problem+json");
    let body: Value = answer.json().await.unwrap();
    assert_eq!(
        body["type"],
        format!("urn:greenlight:problem:{slug}"),
        "{body}"
    );
    body
}

fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

// ------------------------------------------------------------------- tests

async fn the_seed_choice_same_branch_then_least_recent_then_new(backend: Backend) {
    let app = app(backend).await;
    // None yet: new ones, numbered from 1 with the default prefix.
    let a = lease(&app, "feature/a").await;
    let b = lease(&app, "feature/b").await;
    assert_eq!(
        (name_of(&a), name_of(&b)),
        ("test-1".into(), "test-2".into())
    );
    assert_eq!(a["lease"]["fence"], 1);
    assert_eq!(a["entity"], "Stack");
    assert_eq!(a["isAvailable"], false);
    assert_eq!(a["branch"], "feature/a");
    assert!(token_of(&a).starts_with("stl_"));
    released(&app, &a).await;
    released(&app, &b).await;

    // 1. The branch's own stack, though test-1 was requested earlier.
    let a2 = lease(&app, "feature/a").await;
    assert_eq!(name_of(&a2), "test-1");
    assert_eq!(a2["lease"]["fence"], 2, "the fence grows with each grant");
    // 2. Another branch: the only one available.
    let c = lease(&app, "feature/c").await;
    assert_eq!(name_of(&c), "test-2");
    released(&app, &c).await;
    released(&app, &a2).await;
    // Both available; test-1 was requested before test-2: least recent.
    let d = lease(&app, "feature/d").await;
    assert_eq!(name_of(&d), "test-1");
    assert_eq!(d["lease"]["fence"], 3);
    let e = lease(&app, "feature/e").await;
    assert_eq!(name_of(&e), "test-2");
    // 3. None available: a new one.
    let f = lease(&app, "feature/f").await;
    assert_eq!(name_of(&f), "test-3");

    // The list: the seed's shape, no lease, by number.
    let stacks = list(&app).await;
    let names: Vec<String> = stacks.iter().map(name_of).collect();
    assert_eq!(names, ["test-1", "test-2", "test-3"]);
    for stack in &stacks {
        let mut keys: Vec<&str> = stack
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "branch",
                "created",
                "entity",
                "isAvailable",
                "lastDeployedCommit",
                "modified",
                "stackName"
            ]
        );
        assert!(stack["created"].as_str().unwrap().ends_with('Z'));
    }
    assert_eq!(stacks[0]["branch"], "feature/d");

    // Each grant and release is in the project's trail.
    let trail = types(&events(&app).await);
    assert_eq!(trail.iter().filter(|t| *t == "stack.created").count(), 3);
    assert_eq!(trail.iter().filter(|t| *t == "stack.leased").count(), 7);
    assert_eq!(trail.iter().filter(|t| *t == "stack.released").count(), 4);

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
        metrics.contains(r#"greenlight_stacks{state="leased"} 3"#),
        "{metrics}"
    );
    assert!(metrics.contains("greenlight_stack_wait_seconds_count"));
}

async fn a_holder_heartbeats_sets_its_commit_and_releases(backend: Backend) {
    let app = app(backend).await;
    let stack = lease(&app, "main").await;
    let (name, token) = (name_of(&stack), token_of(&stack));

    let beat = holder(
        &app,
        reqwest::Method::POST,
        &name,
        "heartbeat",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(beat.status(), 200);
    let beat: Value = beat.json().await.unwrap();
    assert_eq!(beat["lease"]["fence"], 1);
    assert!(
        beat["lease"].get("token").is_none(),
        "the token is shown once"
    );
    assert!(
        beat["lease"]["expiresAt"].as_str().unwrap()
            >= stack["lease"]["expiresAt"].as_str().unwrap()
    );

    let set = holder(
        &app,
        reqwest::Method::PUT,
        &name,
        "commit",
        Some(&token),
        Some(json!({"commit": "0123ABC"})),
    )
    .await;
    assert_eq!(set.status(), 200);
    let set: Value = set.json().await.unwrap();
    assert_eq!(set["lastDeployedCommit"], "0123abc");

    released(&app, &stack).await;
    let listed = list(&app).await;
    assert_eq!(listed[0]["isAvailable"], true);
    assert_eq!(listed[0]["lastDeployedCommit"], "0123abc");

    // Its token is spent: a second release, a late heartbeat.
    let again = release(&app, &stack).await;
    let body = problem(again, 409, "lease-expired").await;
    assert!(
        body["detail"].as_str().unwrap().contains("released"),
        "{body}"
    );
    let late = holder(
        &app,
        reqwest::Method::POST,
        &name,
        "heartbeat",
        Some(&token),
        None,
    )
    .await;
    problem(late, 409, "lease-expired").await;

    let trail = events(&app).await;
    let commit = trail
        .iter()
        .find(|e| e["type"] == "stack.commit_set")
        .unwrap();
    assert_eq!(commit["detail"]["commit"], "0123abc");
    assert_eq!(commit["detail"]["stack_name"], "test-1");
}

async fn a_waiter_is_granted_the_stack_another_releases(backend: Backend) {
    let (app, _dir) = app_with_policy(
        backend,
        "[projects.Devx]\nmax_stacks = 1\nstack_prefix = \"qa-\"\n",
    )
    .await;
    let first = lease(&app, "feature/a").await;
    assert_eq!(name_of(&first), "qa-1");

    let (client, address) = (app.client.clone(), app.address.clone());
    let waiting = tokio::spawn(async move {
        client
            .post(format!("{address}/stacks/request"))
            .json(&json!({"branch": "feature/b", "team_project": "Devx", "wait": 30}))
            .send()
            .await
            .unwrap()
    });
    until_count(&app, "SELECT COUNT(*) FROM stack_waiters", 1).await;
    assert!(!waiting.is_finished());
    released(&app, &first).await;

    let answer = waiting.await.unwrap();
    assert_eq!(answer.status(), 200);
    let granted: Value = answer.json().await.unwrap();
    assert_eq!(name_of(&granted), "qa-1");
    assert_eq!(granted["branch"], "feature/b");
    assert_eq!(granted["lease"]["fence"], 2);
    assert_eq!(app.db.count("SELECT COUNT(*) FROM stack_waiters"), 0);
    assert_eq!(app.db.count("SELECT COUNT(*) FROM stacks"), 1);
}

async fn an_exhausted_pool_answers_409_and_a_request_id_keeps_its_place(backend: Backend) {
    let (app, _dir) = app_with_policy(backend, "[projects.Devx]\nmax_stacks = 1\n").await;
    let held = lease(&app, "main").await;
    let body = |branch: &str, id: &str| json!({"branch": branch, "team_project": "Devx", "wait": 0, "request_id": id});

    let answer = ask(&app, &body("feature/b", "run-b")).await;
    assert_eq!(answer.headers()["retry-after"], "5");
    let b = problem(answer, 409, "pool-exhausted").await;
    assert_eq!(b["queue_position"], 1);
    assert_eq!(b["request_id"], "run-b");
    // A restart, or another replica: the queue is in the database.
    let replica = app.start_replica().await;
    let c = problem(
        ask_at(&app, &replica, &body("feature/c", "run-c")).await,
        409,
        "pool-exhausted",
    )
    .await;
    assert_eq!(c["queue_position"], 2);
    // Asking again keeps the place.
    let b = problem(
        ask_at(&app, &replica, &body("feature/b", "run-b")).await,
        409,
        "pool-exhausted",
    )
    .await;
    assert_eq!(b["queue_position"], 1);
    // Without a request_id: a place at the end and the id that keeps it.
    let anonymous = problem(
        ask(&app, &ask_body("feature/d")).await,
        409,
        "pool-exhausted",
    )
    .await;
    assert_eq!(anonymous["queue_position"], 3);
    assert!(!anonymous["request_id"].as_str().unwrap().is_empty());
    assert_eq!(
        app.db.count("SELECT COUNT(*) FROM stacks"),
        1,
        "no stack past max_stacks"
    );

    // Released: the first in line gets it, not a later one asking first.
    released(&app, &held).await;
    let c = problem(
        ask(&app, &body("feature/c", "run-c")).await,
        409,
        "pool-exhausted",
    )
    .await;
    assert_eq!(c["queue_position"], 2);
    let b = ask(&app, &body("feature/b", "run-b")).await;
    assert_eq!(b.status(), 200);
    let b: Value = b.json().await.unwrap();
    assert_eq!(b["branch"], "feature/b");
    // Next in line moves up.
    let c = problem(
        ask(&app, &body("feature/c", "run-c")).await,
        409,
        "pool-exhausted",
    )
    .await;
    assert_eq!(c["queue_position"], 1);
}

async fn two_waiters_are_served_in_arrival_order(backend: Backend) {
    let (app, _dir) = app_with_policy(backend, "[projects.Devx]\nmax_stacks = 1\n").await;
    let held = lease(&app, "main").await;
    let waiter = |branch: &'static str| {
        let (client, address) = (app.client.clone(), app.address.clone());
        tokio::spawn(async move {
            client
                .post(format!("{address}/stacks/request"))
                .json(&json!({"branch": branch, "team_project": "Devx", "wait": 40}))
                .send()
                .await
                .unwrap()
        })
    };
    let first = waiter("feature/first");
    until_count(&app, "SELECT COUNT(*) FROM stack_waiters", 1).await;
    let second = waiter("feature/second");
    until_count(&app, "SELECT COUNT(*) FROM stack_waiters", 2).await;

    released(&app, &held).await;
    let got: Value = first.await.unwrap().json().await.unwrap();
    assert_eq!(got["branch"], "feature/first", "{got}");
    assert!(
        !second.is_finished(),
        "the second waits for the first's release"
    );
    released(&app, &got).await;
    let got: Value = second.await.unwrap().json().await.unwrap();
    assert_eq!(got["branch"], "feature/second", "{got}");
    assert_eq!(got["lease"]["fence"], 3);
}

/// Requests at once, for as many branches, half on each replica.
const CONCURRENT: usize = 200;

async fn concurrent_requests_on_two_replicas_never_share_a_stack(backend: Backend) {
    // The requests of a project queue on its lock: on a loaded machine the
    // last of 200 may wait longer than the tests' usual 1 s for the database.
    let app = spawn_app_with(
        backend,
        |env| {
            env.insert("GREENLIGHT_DB_TIMEOUT".into(), "20s".into());
        },
        true,
    )
    .await;
    let replica = app.start_replica().await;
    let requests = (0..CONCURRENT).map(|i| {
        let client = app.client.clone();
        let address = if i % 2 == 0 {
            app.address.clone()
        } else {
            replica.clone()
        };
        tokio::spawn(async move {
            let answer = client
                .post(format!("{address}/stacks/request"))
                .json(&json!({"branch": format!("feature/{i}"), "team_project": "Devx"}))
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 200);
            answer.json::<Value>().await.unwrap()
        })
    });
    let mut names = Vec::new();
    for request in requests.collect::<Vec<_>>() {
        names.push(name_of(&request.await.unwrap()));
    }
    names.sort_by_key(|n| n.trim_start_matches("test-").parse::<u32>().unwrap());
    let expected: Vec<String> = (1..=CONCURRENT).map(|n| format!("test-{n}")).collect();
    assert_eq!(names, expected, "distinct stacks, no name twice");
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM stack_leases WHERE ended_at IS NULL"),
        CONCURRENT as i64
    );

    // Released, then asked for again at once: still one holder each.
    for stack in list(&app).await {
        assert_eq!(stack["isAvailable"], false);
    }
    app.db.execute("UPDATE stacks SET is_available = TRUE");
    app.db
        .execute("UPDATE stack_leases SET ended_at = granted_at, end_reason = 'released'");
    let again = (0..CONCURRENT).map(|i| {
        let client = app.client.clone();
        let address = if i % 2 == 0 {
            app.address.clone()
        } else {
            replica.clone()
        };
        tokio::spawn(async move {
            let answer = client
                .post(format!("{address}/stacks/request"))
                .json(&json!({"branch": format!("other/{i}"), "team_project": "Devx"}))
                .send()
                .await
                .unwrap();
            let body = answer.json::<Value>().await.unwrap();
            assert!(body["stackName"].is_string(), "{body}");
            name_of(&body)
        })
    });
    let mut names = Vec::new();
    for request in again.collect::<Vec<_>>() {
        names.push(request.await.unwrap());
    }
    names.sort();
    names.dedup();
    assert_eq!(names.len(), CONCURRENT, "no stack leased twice: {names:?}");
    assert_eq!(
        app.db.count("SELECT COUNT(*) FROM stacks"),
        CONCURRENT as i64
    );
}

async fn a_lapsed_lease_is_released_by_the_job_and_its_holder_refused(backend: Backend) {
    let (app, _dir) = app_with_policy(backend, "[projects.Devx]\nstack_lease_ttl = \"1s\"\n").await;
    let stack = lease(&app, "feature/a").await;
    // Only the job acts here: nothing else reads or writes the stacks.
    until_count(
        &app,
        "SELECT COUNT(*) FROM events WHERE type = 'stack.lease_expired'",
        1,
    )
    .await;
    let listed = list(&app).await;
    assert_eq!(listed[0]["isAvailable"], true);
    let expired = events(&app)
        .await
        .into_iter()
        .find(|e| e["type"] == "stack.lease_expired")
        .unwrap();
    assert_eq!(expired["detail"]["stack_name"], "test-1");
    assert_eq!(expired["detail"]["fence"], 1);

    // The late holder: refused, whatever it tries.
    for (method, action, body) in [
        (reqwest::Method::POST, "heartbeat", None),
        (
            reqwest::Method::PUT,
            "commit",
            Some(json!({"commit": "abcd"})),
        ),
        (reqwest::Method::POST, "release", None),
    ] {
        let answer = holder(
            &app,
            method,
            "test-1",
            action,
            Some(&token_of(&stack)),
            body,
        )
        .await;
        let body = problem(answer, 409, "lease-expired").await;
        assert!(
            body["detail"].as_str().unwrap().contains("expired"),
            "{body}"
        );
    }
    // The next holder gets it with a higher fence; the old token still
    // cannot touch it.
    let next = lease(&app, "feature/b").await;
    assert_eq!(name_of(&next), "test-1");
    assert_eq!(next["lease"]["fence"], 2);
    let late = holder(
        &app,
        reqwest::Method::POST,
        "test-1",
        "release",
        Some(&token_of(&stack)),
        None,
    )
    .await;
    problem(late, 409, "lease-expired").await;
    assert_eq!(list(&app).await[0]["isAvailable"], false);
}

async fn an_expiry_job_before_the_lease_ends_queues_itself_again(backend: Backend) {
    let app = app(backend).await;
    let stack = lease(&app, "main").await;
    let first = app
        .db
        .count("SELECT MAX(id) FROM jobs WHERE kind = 'expire_stack_lease'");
    // As if a heartbeat had moved the lease's end past its job's time.
    app.db
        .execute("UPDATE jobs SET run_at = created_at WHERE kind = 'expire_stack_lease'");
    until_count(
        &app,
        &format!("SELECT COUNT(*) FROM jobs WHERE kind = 'expire_stack_lease' AND id > {first}"),
        1,
    )
    .await;
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM jobs WHERE kind = 'expire_stack_lease'"),
        1
    );
    assert!(!types(&events(&app).await).contains(&"stack.lease_expired".to_owned()));
    let beat = holder(
        &app,
        reqwest::Method::POST,
        &name_of(&stack),
        "heartbeat",
        Some(&token_of(&stack)),
        None,
    )
    .await;
    assert_eq!(beat.status(), 200);
    // Released: its expiry job goes with it.
    released(&app, &stack).await;
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM jobs WHERE kind = 'expire_stack_lease'"),
        0
    );
}

async fn delete_last_removes_an_available_stack_only(backend: Backend) {
    let app = app(backend).await;
    let delete = || async {
        app.client
            .delete(format!("{}/stacks/last?team_project=Devx", app.address))
            .send()
            .await
            .unwrap()
    };
    problem(delete().await, 404, "stack-not-found").await;
    let one = lease(&app, "a").await;
    let two = lease(&app, "b").await;
    released(&app, &one).await;
    // test-2 is the last, and leased.
    problem(delete().await, 409, "stack-leased").await;
    assert_eq!(list(&app).await.len(), 2);
    released(&app, &two).await;
    let deleted = delete().await;
    assert_eq!(deleted.status(), 200);
    let deleted: Value = deleted.json().await.unwrap();
    assert_eq!(name_of(&deleted), "test-2");
    let names: Vec<String> = list(&app).await.iter().map(name_of).collect();
    assert_eq!(names, ["test-1"]);
    // Recreated when needed, its fences going on from the deleted one's.
    let _held = lease(&app, "a").await;
    let again = lease(&app, "c").await;
    assert_eq!(name_of(&again), "test-2");
    assert_eq!(again["lease"]["fence"], 2);
    assert!(types(&events(&app).await).contains(&"stack.deleted".to_owned()));
}

async fn delete_last_and_a_request_at_once_never_lose_or_double_a_stack(backend: Backend) {
    let app = app(backend).await;
    let _first = lease(&app, "main").await;
    let mut second = lease(&app, "feature/x").await;
    for round in 0..10 {
        released(&app, &second).await;
        // Either the delete goes first (and the request creates test-2
        // again) or the request does (and the delete finds it leased).
        let (client, address) = (app.client.clone(), app.address.clone());
        let delete = tokio::spawn(async move {
            client
                .delete(format!("{address}/stacks/last?team_project=Devx"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
        let answer = ask(&app, &ask_body(&format!("feature/{round}"))).await;
        assert_eq!(answer.status(), 200);
        second = answer.json().await.unwrap();
        let deleted = delete.await.unwrap();
        assert!(deleted == 200 || deleted == 409, "{deleted}");
        assert_eq!(name_of(&second), "test-2");
        let stacks = list(&app).await;
        let names: Vec<String> = stacks.iter().map(name_of).collect();
        assert_eq!(names, ["test-1", "test-2"], "round {round}");
        assert_eq!(stacks[1]["isAvailable"], false);
        assert_eq!(stacks[1]["branch"], format!("feature/{round}"));
    }
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM stack_leases WHERE ended_at IS NULL"),
        2
    );
}

async fn bad_input_changes_nothing(backend: Backend) {
    let app = app(backend).await;
    let stack = lease(&app, "main").await;
    let token = token_of(&stack);
    let before = (list(&app).await, events(&app).await.len());

    for (body, field) in [
        (json!({"team_project": "Devx"}), "branch"),
        (json!({"team_project": "Devx", "branch": "   "}), "branch"),
        (
            json!({"team_project": "Devx", "branch": "b".repeat(256)}),
            "branch",
        ),
        (
            json!({"team_project": "Devx", "branch": "b", "wait": 61}),
            "wait",
        ),
        (
            json!({"team_project": "Devx", "branch": "b", "request_id": ""}),
            "request_id",
        ),
        (json!({"branch": "b"}), "team_project"),
    ] {
        let p = problem(ask(&app, &body).await, 422, "validation-error").await;
        assert_eq!(fields(&p), [field], "{body}");
    }
    let not_json = app
        .client
        .post(format!("{}/stacks/request", app.address))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    problem(not_json, 400, "malformed-body").await;
    let form = app
        .client
        .post(format!("{}/stacks/request", app.address))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("branch=b")
        .send()
        .await
        .unwrap();
    problem(form, 415, "unsupported-media-type").await;

    let name = name_of(&stack);
    let post = reqwest::Method::POST;
    let missing = holder(&app, post.clone(), &name, "heartbeat", None, None).await;
    assert_eq!(
        fields(&problem(missing, 422, "validation-error").await),
        [LEASE]
    );
    let shapeless = holder(&app, post.clone(), &name, "release", Some("secret"), None).await;
    assert_eq!(
        fields(&problem(shapeless, 422, "validation-error").await),
        [LEASE]
    );
    let other = format!("stl_{}", "0".repeat(64));
    let wrong = holder(&app, post.clone(), &name, "release", Some(&other), None).await;
    problem(wrong, 403, "wrong-lease").await;
    let unknown = holder(
        &app,
        post.clone(),
        "test-9",
        "heartbeat",
        Some(&token),
        None,
    )
    .await;
    problem(unknown, 404, "stack-not-found").await;
    for commit in [json!("not-hex"), json!("ab"), json!(42), Value::Null] {
        let answer = holder(
            &app,
            reqwest::Method::PUT,
            &name,
            "commit",
            Some(&token),
            Some(json!({"commit": commit})),
        )
        .await;
        assert_eq!(
            fields(&problem(answer, 422, "validation-error").await),
            ["commit"],
            "{commit}"
        );
    }
    let get = app
        .client
        .get(format!("{}/stacks/request", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405);

    let after = (list(&app).await, events(&app).await.len());
    assert_eq!(before, after, "a refusal changes nothing");
    // The holder's token still works.
    let beat = holder(&app, post, &name, "heartbeat", Some(&token), None).await;
    assert_eq!(beat.status(), 200);
}

async fn keys_see_their_own_project_only(backend: Backend) {
    let app = spawn_keyed_app(backend).await;
    let devx = app.create_key(&["--project", "Devx"]);
    let other = app.create_key(&["--project", "Other"]);
    let admin = app.create_key(&["--admin"]);
    let as_key = |method: reqwest::Method, path: &str, key: Option<&str>| {
        let request = app.client.request(method, format!("{}{path}", app.address));
        match key {
            Some(key) => request.header("X-API-Key", key),
            None => request,
        }
    };

    let none = as_key(reqwest::Method::POST, "/stacks/request", None)
        .json(&json!({"branch": "main"}))
        .send()
        .await
        .unwrap();
    problem(none, 401, "unauthorized").await;
    // A project key needs no team_project: its own.
    let mine = as_key(reqwest::Method::POST, "/stacks/request", Some(&devx))
        .json(&json!({"branch": "main"}))
        .send()
        .await
        .unwrap();
    assert_eq!(mine.status(), 200);
    let mine: Value = mine.json().await.unwrap();
    let token = token_of(&mine);

    // Another project's key: 403 on Devx, and its own project has no test-1.
    let theirs = as_key(reqwest::Method::POST, "/stacks/request", Some(&other))
        .json(&json!({"branch": "main", "team_project": "Devx"}))
        .send()
        .await
        .unwrap();
    problem(theirs, 403, "forbidden").await;
    let listed = as_key(
        reqwest::Method::GET,
        "/stacks?team_project=devx",
        Some(&other),
    )
    .send()
    .await
    .unwrap();
    problem(listed, 403, "forbidden").await;
    let release = as_key(
        reqwest::Method::POST,
        "/stacks/test-1/release",
        Some(&other),
    )
    .header(LEASE, &token)
    .send()
    .await
    .unwrap();
    problem(release, 404, "stack-not-found").await;
    let delete = as_key(
        reqwest::Method::DELETE,
        "/stacks/last?team_project=Devx",
        Some(&other),
    )
    .send()
    .await
    .unwrap();
    problem(delete, 403, "forbidden").await;

    // An admin key names the project.
    let unnamed = as_key(reqwest::Method::GET, "/stacks", Some(&admin))
        .send()
        .await
        .unwrap();
    assert_eq!(
        fields(&problem(unnamed, 422, "validation-error").await),
        ["team_project"]
    );
    let all: Vec<Value> = as_key(
        reqwest::Method::GET,
        "/stacks?team_project=Devx",
        Some(&admin),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(all.len(), 1);
    assert!(all[0].get("lease").is_none(), "no token in a list");
    let own: Vec<Value> = as_key(reqwest::Method::GET, "/stacks", Some(&devx))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(own.len(), 1);

    // The holder releases with its key; the trail names the key.
    let release = as_key(reqwest::Method::POST, "/stacks/test-1/release", Some(&devx))
        .header(LEASE, &token)
        .send()
        .await
        .unwrap();
    assert_eq!(release.status(), 200);
    let trail: Value = as_key(reqwest::Method::GET, "/projects/Devx/events", Some(&devx))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let trail = trail["events"].as_array().unwrap();
    assert_eq!(
        types(trail),
        ["stack.created", "stack.leased", "stack.released"]
    );
    assert!(trail
        .iter()
        .all(|e| e["actor"].as_str().unwrap().starts_with("key ")));
    assert_eq!(app.db.count("SELECT COUNT(*) FROM stacks"), 1);
}

/// The lapse reaches the project's webhook (no environment) once, signed
/// as Standard Webhooks sign, with the stack as the seed shapes it and no
/// lease token.
async fn a_lapse_is_posted_signed_to_the_projects_webhook(backend: Backend) {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use crate::webhooks::{assert_verified, whsec};

    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let policy = format!(
        "[projects.Devx]\nstack_lease_ttl = \"1s\"\nwebhook_url = \"{}/hook\"\n\
         webhook_secret = \"{}\"\n",
        receiver.uri(),
        whsec(5)
    );
    let (app, _dir) = app_with_policy(backend, &policy).await;
    let stack = lease(&app, "feature/a").await;
    let token = token_of(&stack);
    let mut requests = Vec::new();
    for _ in 0..400 {
        requests = receiver.received_requests().await.unwrap();
        if !requests.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(requests.len(), 1, "one delivery");
    let request = &requests[0];
    assert_verified(&whsec(5), request, true);
    let payload: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(payload["type"], "stack.lease_expired");
    assert!(payload["timestamp"].is_string(), "{payload}");
    let data = &payload["data"];
    assert_eq!(data["stackName"], "test-1");
    assert_eq!(data["branch"], "feature/a");
    assert_eq!(data["isAvailable"], true);
    assert_eq!(data["entity"], "Stack");
    assert!(data.get("lease").is_none(), "{payload}");
    let text = String::from_utf8_lossy(&request.body);
    assert!(!text.contains(&token), "no lease token: {text}");
    // Delivered once: nothing is retried after the 200.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received_requests().await.unwrap().len(), 1);
}
