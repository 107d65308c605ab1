//! Deployments and their logs (DESIGN "Deployments and their logs"):
//! recording, the seed's `/deploy`, idempotency, lists, the forward-only
//! statuses with GitHub's auto-inactive, cancel, capped logs, what runs
//! where, and keys; bad input changes nothing.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{
    cli, spawn_app, spawn_app_with, spawn_keyed_app, Backend, TestApp, PUBLIC_URL,
};

both_backends!(
    a_deployment_is_recorded_and_read_back,
    deploy_is_the_same_route_as_the_seed_calls_it,
    an_idempotency_key_answers_the_first_deployment,
    lists_filter_and_page_newest_first,
    statuses_move_forward_only,
    a_success_turns_the_previous_success_inactive,
    cancel_ends_a_deployment_that_has_not_finished,
    logs_are_kept_in_order_byte_for_byte,
    a_log_past_its_limit_ends_with_one_marker,
    environments_show_what_runs_where,
    bad_input_changes_nothing,
    bad_list_queries_are_refused,
    keys_guard_every_deployment_route,
);

// ----------------------------------------------------------------- helpers

fn body(repository: &str, sha: &str, environment: &str) -> Value {
    json!({"repository_url": repository, "commit_sha": sha, "environment": environment})
}

fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    key: Option<&str>,
) -> reqwest::RequestBuilder {
    let request = app.client.request(method, format!("{}{path}", app.address));
    match key {
        Some(key) => request.header("X-API-Key", key),
        None => request,
    }
}

async fn post_json_as(
    app: &TestApp,
    path: &str,
    body: &Value,
    key: Option<&str>,
) -> reqwest::Response {
    send(app, reqwest::Method::POST, path, key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn post_json(app: &TestApp, path: &str, body: &Value) -> reqwest::Response {
    post_json_as(app, path, body, None).await
}

/// Records a deployment (201) and answers its document.
async fn create(app: &TestApp, body: &Value) -> Value {
    let answer = post_json(app, "/deployments", body).await;
    assert_eq!(answer.status(), 201, "{body}");
    answer.json().await.unwrap()
}

async fn status(app: &TestApp, id: &str, state: &str) -> reqwest::Response {
    post_json(
        app,
        &format!("/deployments/{id}/statuses"),
        &json!({"state": state}),
    )
    .await
}

/// Posts a state that must be accepted; answers the document.
async fn moved(app: &TestApp, id: &str, state: &str) -> Value {
    let answer = status(app, id, state).await;
    assert_eq!(answer.status(), 201, "{id} -> {state}");
    answer.json().await.unwrap()
}

async fn show(app: &TestApp, id: &str) -> Value {
    app.get_json(&format!("/deployments/{id}")).await
}

async fn append(app: &TestApp, id: &str, chunk: impl Into<reqwest::Body>) -> reqwest::Response {
    app.client
        .post(format!("{}/deployments/{id}/logs", app.address))
        .header("content-type", "text/plain")
        .body(chunk)
        .send()
        .await
        .unwrap()
}

async fn log(app: &TestApp, id: &str) -> Vec<u8> {
    let answer = app
        .client
        .get(format!("{}/deployments/{id}/logs", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(answer.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    answer.bytes().await.unwrap().to_vec()
}

/// Expects a problem of `kind` with `status`; answers it.
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

fn ids(page: &Value) -> Vec<String> {
    page["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn list(app: &TestApp, query: &str) -> Value {
    app.get_json(&format!("/deployments?{query}")).await
}

fn states(document: &Value) -> Vec<String> {
    document["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap().to_owned())
        .collect()
}

async fn project_events(app: &TestApp, project: &str, query: &str) -> Vec<Value> {
    app.get_json(&format!("/projects/{project}/events?{query}"))
        .await["events"]
        .as_array()
        .unwrap()
        .clone()
}

// ------------------------------------------------------------------- tests

async fn a_deployment_is_recorded_and_read_back(backend: Backend) {
    let app = spawn_app(backend).await;
    // Fields out of order, spaces, an unknown field, numbers as written:
    // all of it comes back exactly so.
    let raw = r#"{"commit_sha":"0123ABCdef",  "repository_url": "https://GitHub.com/octo/app.git",
 "environment":"Staging","ref":"main","stack_name":"Demo","version":"1.0.1",
 "extra":{"b":1,"a":[1, 2.50, 1e3]}}"#;
    let answer = app
        .client
        .post(format!("{}/deployments", app.address))
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
    let location = answer.headers()["location"].to_str().unwrap().to_owned();
    let text = answer.text().await.unwrap();
    assert!(
        text.contains(&format!(r#""original_request":{raw}"#)),
        "original_request byte for byte: {text}"
    );
    let created: Value = serde_json::from_str(&text).unwrap();
    let id = created["id"].as_str().unwrap();
    assert_eq!(location, format!("/deployments/{id}"));
    assert!(id.starts_with("dpl_") && id.len() == 30, "{id}");
    assert_eq!(created["team_project"], "octo/app", "the repository's path");
    assert_eq!(created["environment"], "Staging");
    assert_eq!(created["repository_url"], "github.com/octo/app");
    assert_eq!(created["commit_sha"], "0123abcdef");
    assert_eq!(created["ref"], "main");
    assert_eq!(created["stack_name"], "Demo");
    assert_eq!(created["version"], "1.0.1");
    assert_eq!(created["status"], "queued");
    assert_eq!(created["release"], Value::Null);
    assert_eq!(created["finished_at"], Value::Null);
    assert_eq!(created["environment_url"], Value::Null);
    assert_eq!(
        created["logs_url"],
        format!("{PUBLIC_URL}/deployments/{id}/logs")
    );
    assert_eq!(created["created_at"], created["updated_at"]);
    assert_eq!(
        created["statuses"],
        json!([{"state": "queued", "at": created["created_at"], "description": null,
                "actor": null, "log_url": null, "environment_url": null}])
    );
    // Read back: the same document, original_request still byte for byte.
    let again = app
        .client
        .get(format!("{}/deployments/{id}", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(again.contains(raw), "{again}");
    assert_eq!(serde_json::from_str::<Value>(&again).unwrap(), created);
    // Its audit event, in its project's control-plane trail.
    let events = project_events(&app, "OCTO%2Fapp", "").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "deployment.created");
    assert_eq!(events[0]["detail"]["deployment_id"], id);
    assert_eq!(events[0]["detail"]["commit_sha"], "0123abcdef");
    assert_eq!(events[0]["detail"]["environment"], "Staging");
}

async fn deploy_is_the_same_route_as_the_seed_calls_it(backend: Backend) {
    let app = spawn_app(backend).await;
    // The seed's body, as its README gives it.
    let seed = json!({"repository_url": "github.com/zetaron/deployment-bot-thing",
                      "commit_sha": "9fceb02d0ae598e95dc970b74767f19372d61af8"});
    let answer = post_json(&app, "/deploy", &seed).await;
    assert_eq!(answer.status(), 201);
    let created: Value = answer.json().await.unwrap();
    assert_eq!(created["team_project"], "zetaron/deployment-bot-thing");
    assert_eq!(created["environment"], "production");
    assert_eq!(created["original_request"], seed);
    assert_eq!(
        ids(&list(&app, "").await),
        [created["id"].as_str().unwrap()]
    );
    assert_eq!(show(&app, created["id"].as_str().unwrap()).await, created);
}

async fn an_idempotency_key_answers_the_first_deployment(backend: Backend) {
    let app = spawn_app(backend).await;
    let request = body("github.com/octo/app", "abcd1234", "staging");
    let with_key = |key: &str| {
        app.client
            .post(format!("{}/deployments", app.address))
            .header("Idempotency-Key", key.to_owned())
            .json(&request)
    };
    let first = with_key("build-42").send().await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let repeat = with_key("build-42").send().await.unwrap();
    assert_eq!(repeat.status(), 200, "a repeat answers the first");
    assert_eq!(repeat.json::<Value>().await.unwrap(), first);
    assert_eq!(app.db.count("SELECT COUNT(*) FROM deployments"), 1);
    // Another key is another deployment; the same key in another project too.
    assert_eq!(with_key("build-43").send().await.unwrap().status(), 201);
    let other = app
        .client
        .post(format!("{}/deployments", app.address))
        .header("Idempotency-Key", "build-42")
        .json(
            &json!({"repository_url": "github.com/octo/app", "commit_sha": "abcd1234",
                      "team_project": "Other"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 201, "keys are scoped per project");
    // Many at once with one key: one deployment, every answer names it.
    let racing: Vec<_> = (0..10).map(|_| with_key("race").send()).collect();
    let answers = futures_util::future::join_all(racing).await;
    let mut created = 0;
    let mut seen = std::collections::HashSet::new();
    for answer in answers {
        let answer = answer.unwrap();
        match answer.status().as_u16() {
            201 => created += 1,
            200 => {}
            other => panic!("answered {other}"),
        }
        seen.insert(answer.json::<Value>().await.unwrap()["id"].clone());
    }
    assert_eq!((created, seen.len()), (1, 1));
    assert_eq!(app.db.count("SELECT COUNT(*) FROM deployments"), 4);
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM events WHERE type = 'deployment.created'"),
        4,
        "one event per deployment, none per repeat"
    );
}

async fn lists_filter_and_page_newest_first(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut made = Vec::new();
    for request in [
        body("github.com/octo/app", "1111aaaa", "staging"),
        body("github.com/octo/api", "2222bbbb", "production"),
        json!({"repository_url": "gitlab.com/octo/app", "commit_sha": "1111cccc",
               "environment": "Staging", "team_project": "octo/app"}),
        json!({"repository_url": "github.com/other/x", "commit_sha": "3333dddd",
               "team_project": "Other"}),
        body("https://github.com/Octo/App", "11112222", "production"),
    ] {
        made.push(
            create(&app, &request).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let pick = |indexes: &[usize]| -> Vec<String> {
        indexes.iter().map(|i| made[i - 1].clone()).collect()
    };
    assert_eq!(ids(&list(&app, "").await), pick(&[5, 4, 3, 2, 1]));
    for (query, expected) in [
        ("repository=github.com/octo/app", vec![5, 1]),
        ("repository=https://GITHUB.com/octo/app.git", vec![5, 1]),
        ("repository=github.com/octo/*", vec![5, 2, 1]),
        ("repository=*/octo/app", vec![5, 3, 1]),
        ("repository=github.com/octo", vec![]),
        ("sha=1111", vec![5, 3, 1]),
        ("sha=1111A", vec![1]),
        ("team_project=OCTO%2Fapp", vec![5, 3, 1]),
        ("environment=staging", vec![3, 1]),
        ("environment=production&team_project=octo/api", vec![2]),
        ("status=queued", vec![5, 4, 3, 2, 1]),
    ] {
        assert_eq!(ids(&list(&app, query).await), pick(&expected), "{query}");
    }
    moved(&app, &made[0], "in_progress").await;
    assert_eq!(ids(&list(&app, "status=in_progress").await), pick(&[1]));
    // created_at never changes: set a few into the past to filter on it.
    for (id, at) in [
        (&made[0], "2026-01-01 00:00:00"),
        (&made[1], "2026-01-01 00:00:00"),
        (&made[2], "2026-02-01 00:00:00"),
    ] {
        app.db.execute(&format!(
            "UPDATE deployments SET created_at = '{at}' WHERE id = '{id}'"
        ));
    }
    for (query, expected) in [
        ("since=2026-01-15T00:00:00Z", vec![5, 4, 3]),
        ("since=2026-01-15T02:00:00%2B02:00", vec![5, 4, 3]),
        ("until=2026-01-15T00:00:00Z", vec![2, 1]),
        (
            "since=2026-01-01T00:00:00Z&until=2026-02-01T00:00:00Z",
            vec![3, 2, 1],
        ),
        ("until=2025-12-31T23:59:59Z", vec![]),
    ] {
        assert_eq!(ids(&list(&app, query).await), pick(&expected), "{query}");
    }
    // Pages stay right while deployments arrive.
    let first = list(&app, "limit=2").await;
    assert_eq!(ids(&first), pick(&[5, 4]));
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    create(&app, &body("github.com/octo/app", "4444", "staging")).await;
    let second = list(&app, &format!("limit=2&cursor={cursor}")).await;
    assert_eq!(ids(&second), pick(&[3, 2]));
    let cursor = second["next_cursor"].as_str().unwrap().to_owned();
    let last = list(&app, &format!("limit=2&cursor={cursor}")).await;
    assert_eq!(ids(&last), pick(&[1]));
    assert!(last["next_cursor"].is_null(), "the end");
    assert_eq!(
        list(&app, "limit=1").await["deployments"][0]["statuses"][0]["state"],
        "queued",
        "each document with its statuses"
    );
}

async fn statuses_move_forward_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = create(&app, &body("github.com/octo/app", "abcd", "staging")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/deployments/{id}/statuses");
    let running = post_json(
        &app,
        &path,
        &json!({"state": "in_progress", "description": "building",
                "log_url": "https://ci.example.com/runs/1"}),
    )
    .await;
    assert_eq!(running.status(), 201);
    let running: Value = running.json().await.unwrap();
    assert_eq!(running["status"], "in_progress");
    assert_eq!(running["statuses"][1]["description"], "building");
    assert_eq!(
        running["statuses"][1]["log_url"],
        "https://ci.example.com/runs/1"
    );
    // A progress note: in_progress again.
    let noted = moved(&app, &id, "in_progress").await;
    assert_eq!(states(&noted), ["queued", "in_progress", "in_progress"]);
    // Backwards, or to a state only the service sets: refused, unchanged.
    for state in ["queued", "waiting", "inactive"] {
        let refused = problem(status(&app, &id, state).await, 409, "invalid-transition").await;
        assert!(
            refused["detail"].as_str().unwrap().contains(state),
            "{refused}"
        );
        assert_eq!(show(&app, &id).await, noted, "{state} changed nothing");
    }
    let done = post_json(
        &app,
        &path,
        &json!({"state": "success", "environment_url": "https://staging.example.com"}),
    )
    .await;
    assert_eq!(done.status(), 201);
    let done: Value = done.json().await.unwrap();
    assert_eq!(done["status"], "success");
    assert_eq!(done["environment_url"], "https://staging.example.com");
    assert!(done["finished_at"].is_string(), "{done}");
    // Final: nothing moves it any more.
    for state in ["failure", "in_progress", "success", "canceled"] {
        problem(status(&app, &id, state).await, 409, "invalid-transition").await;
    }
    let cancel = post_json(&app, &format!("/deployments/{id}/cancel"), &json!({})).await;
    problem(cancel, 409, "invalid-transition").await;
    assert_eq!(
        show(&app, &id).await,
        done,
        "nothing changed after the final state"
    );
    let events = project_events(&app, "octo%2Fapp", "type=deployment.status").await;
    let moves: Vec<_> = events
        .iter()
        .map(|e| e["detail"]["state"].clone())
        .collect();
    assert_eq!(moves, ["in_progress", "in_progress", "success"]);
    assert_eq!(events[0]["detail"]["description"], "building");
    assert_eq!(events[0]["detail"]["previous_state"], "queued");
    // The whole trail a page at a time, oldest first.
    let first = app.get_json("/projects/octo%2Fapp/events?limit=2").await;
    let kinds = |page: &Value| -> Vec<String> {
        page["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["type"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(kinds(&first), ["deployment.created", "deployment.status"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let rest = app
        .get_json(&format!(
            "/projects/octo%2Fapp/events?limit=2&cursor={cursor}"
        ))
        .await;
    assert_eq!(kinds(&rest), ["deployment.status", "deployment.status"]);
    let cursor = rest["next_cursor"].as_str().unwrap();
    let end = app
        .get_json(&format!(
            "/projects/octo%2Fapp/events?limit=2&cursor={cursor}"
        ))
        .await;
    assert_eq!(end, json!({"events": [], "next_cursor": null}));
}

async fn a_success_turns_the_previous_success_inactive(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut made = Vec::new();
    for request in [
        body("github.com/octo/app", "aaaa", "staging"),
        body("github.com/octo/app", "bbbb", "staging"),
        body("github.com/octo/app", "cccc", "production"),
        json!({"repository_url": "github.com/octo/app", "commit_sha": "dddd",
               "environment": "staging", "team_project": "Other"}),
        body("github.com/octo/app", "eeee", "STAGING"),
    ] {
        made.push(
            create(&app, &request).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let a = moved(&app, &made[0], "success").await;
    moved(&app, &made[1], "success").await;
    let old = show(&app, &made[0]).await;
    assert_eq!(old["status"], "inactive");
    assert_eq!(states(&old), ["queued", "success", "inactive"]);
    assert_eq!(
        old["statuses"][2]["description"],
        format!("superseded by {}", made[1])
    );
    assert_eq!(
        old["finished_at"], a["finished_at"],
        "it finished when it did"
    );
    // Another environment, another project: the success of staging stays.
    moved(&app, &made[2], "success").await;
    moved(&app, &made[3], "success").await;
    assert_eq!(show(&app, &made[1]).await["status"], "success");
    assert_eq!(show(&app, &made[3]).await["status"], "success");
    // Environments match case-insensitively: STAGING is staging.
    moved(&app, &made[4], "success").await;
    assert_eq!(show(&app, &made[1]).await["status"], "inactive");
    assert_eq!(show(&app, &made[2]).await["status"], "success");
    let live = list(&app, "status=success&team_project=octo/app").await;
    assert_eq!(ids(&live), [made[4].clone(), made[2].clone()]);
    // An inactive deployment is final.
    problem(
        status(&app, &made[0], "success").await,
        409,
        "invalid-transition",
    )
    .await;
}

async fn cancel_ends_a_deployment_that_has_not_finished(backend: Backend) {
    let app = spawn_app(backend).await;
    let queued = create(&app, &body("github.com/octo/app", "abcd", "staging")).await;
    let id = queued["id"].as_str().unwrap();
    let cancel = |id: String| {
        app.client
            .post(format!("{}/deployments/{id}/cancel", app.address))
            .send()
    };
    let canceled = cancel(id.to_owned()).await.unwrap();
    assert_eq!(canceled.status(), 200);
    let canceled: Value = canceled.json().await.unwrap();
    assert_eq!(canceled["status"], "canceled");
    assert!(canceled["finished_at"].is_string());
    assert_eq!(states(&canceled), ["queued", "canceled"]);
    problem(
        cancel(id.to_owned()).await.unwrap(),
        409,
        "invalid-transition",
    )
    .await;
    problem(
        status(&app, id, "in_progress").await,
        409,
        "invalid-transition",
    )
    .await;
    assert_eq!(show(&app, id).await, canceled);
    // A running one too.
    let running = create(&app, &body("github.com/octo/app", "ef01", "staging")).await;
    let running = running["id"].as_str().unwrap();
    moved(&app, running, "in_progress").await;
    let stopped: Value = cancel(running.to_owned())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(states(&stopped), ["queued", "in_progress", "canceled"]);
    let events = project_events(&app, "octo%2Fapp", "type=deployment.canceled").await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["detail"]["deployment_id"], id);
    assert_eq!(events[1]["detail"]["previous_state"], "in_progress");
}

async fn logs_are_kept_in_order_byte_for_byte(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = create(&app, &body("github.com/octo/app", "abcd", "staging")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(log(&app, &id).await.is_empty(), "no log yet");
    let mut expected = Vec::new();
    for i in 0..20 {
        let chunk = format!("step {i}: ok\n").into_bytes();
        expected.extend_from_slice(&chunk);
        let answer = append(&app, &id, chunk).await;
        assert_eq!(answer.status(), 200);
        let totals: Value = answer.json().await.unwrap();
        assert_eq!(totals["log_bytes"], expected.len());
        assert_eq!(totals["dropped_bytes"], 0);
    }
    // Any bytes: not UTF-8, NUL, a form's content type (curl --data-binary).
    let binary = vec![0xff, 0x00, 0xfe, b'\r', b'\n'];
    expected.extend_from_slice(&binary);
    let answer = app
        .client
        .post(format!("{}/deployments/{id}/logs", app.address))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(binary)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(log(&app, &id).await, expected);
    // Once final, the log is closed: 409, nothing appended.
    moved(&app, &id, "failure").await;
    problem(
        append(&app, &id, "late\n").await,
        409,
        "deployment-finished",
    )
    .await;
    assert_eq!(log(&app, &id).await, expected);
    assert_eq!(
        app.db.count("SELECT COUNT(*) FROM deployment_log_chunks"),
        21
    );
}

async fn a_log_past_its_limit_ends_with_one_marker(backend: Backend) {
    let app = spawn_app_with(
        backend,
        |env| {
            env.insert("GREENLIGHT_DEPLOYMENT_LOG_LIMIT".into(), "16".into());
        },
        true,
    )
    .await;
    let id = create(&app, &body("github.com/octo/app", "abcd", "staging")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    append(&app, &id, "0123456789\n").await;
    let crossing: Value = append(&app, &id, "abcdefghij\n")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(crossing, json!({"log_bytes": 16, "dropped_bytes": 6}));
    let past: Value = append(&app, &id, "xyz").await.json().await.unwrap();
    assert_eq!(past, json!({"log_bytes": 16, "dropped_bytes": 9}));
    let text = String::from_utf8(log(&app, &id).await).unwrap();
    let (kept, marker) = text.split_at(16);
    assert_eq!(kept, "0123456789\nabcde");
    assert_eq!(
        marker,
        "\n[greenlight] 9 bytes of log dropped: a deployment's log keeps at most 16 bytes (GREENLIGHT_DEPLOYMENT_LOG_LIMIT)\n"
    );
    let truncated = project_events(&app, "octo%2Fapp", "type=deployment.log_truncated").await;
    assert_eq!(truncated.len(), 1, "said once: {truncated:?}");
    assert_eq!(truncated[0]["detail"]["limit_bytes"], 16);
}

async fn environments_show_what_runs_where(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = create(&app, &body("github.com/octo/app", "aaaa", "Staging")).await;
    let b = create(&app, &body("github.com/octo/app", "bbbb", "staging")).await;
    let c = create(&app, &body("github.com/octo/app", "cccc", "production")).await;
    create(
        &app,
        &json!({"repository_url": "github.com/octo/app", "commit_sha": "dddd",
                "environment": "qa", "team_project": "Other"}),
    )
    .await;
    let id = |d: &Value| d["id"].as_str().unwrap().to_owned();
    moved(&app, &id(&a), "success").await;
    moved(&app, &id(&b), "failure").await;
    let answer = app.get_json("/environments?team_project=OCTO/APP").await;
    assert_eq!(answer["team_project"], "octo/app");
    let environments = answer["environments"].as_array().unwrap();
    let summary: Vec<_> = environments
        .iter()
        .map(|e| {
            (
                e["environment"].as_str().unwrap().to_owned(),
                e["latest"]["id"].as_str().unwrap().to_owned(),
                e["latest_success"]["id"].as_str().map(str::to_owned),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("production".to_owned(), id(&c), None),
            ("staging".to_owned(), id(&b), Some(id(&a))),
        ]
    );
    assert_eq!(environments[1]["latest"]["status"], "failure");
    assert_eq!(environments[1]["latest_success"]["commit_sha"], "aaaa");
    let nobody = app.get_json("/environments?team_project=nobody").await;
    assert_eq!(
        nobody,
        json!({"team_project": "nobody", "environments": []})
    );
    let missing = app
        .client
        .get(format!("{}/environments", app.address))
        .send()
        .await
        .unwrap();
    let refused = problem(missing, 422, "validation-error").await;
    assert_eq!(refused["errors"][0]["field"], "team_project");
}

async fn bad_input_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let long_sha = "a".repeat(65);
    for (request, field) in [
        (body("github.com/octo/app", "xyz1", "staging"), "commit_sha"),
        (
            body("github.com/octo/app", &long_sha, "staging"),
            "commit_sha",
        ),
        (body("github.com/octo/app", "abc", "staging"), "commit_sha"),
        (
            body("https://user:secret@github.com/octo/app", "abcd", "staging"),
            "repository_url",
        ),
        (
            body("https://token@github.com/octo/app", "abcd", "staging"),
            "repository_url",
        ),
        (
            body("github.com/octo/a\u{1}pp", "abcd", "staging"),
            "repository_url",
        ),
        (
            body("github.com/oc\nto/app", "abcd", "staging"),
            "repository_url",
        ),
        (
            body("github.com/octo/app?x=1", "abcd", "staging"),
            "repository_url",
        ),
        (body("github.com/octo/app", "abcd", ""), "environment"),
        (json!({"commit_sha": "abcd"}), "repository_url"),
        (
            json!({"repository_url": "github.com/octo/app"}),
            "commit_sha",
        ),
        (
            json!({"repository_url": "github.com/octo/app", "commit_sha": 1234}),
            "commit_sha",
        ),
        (
            json!({"repository_url": "github.com/octo/app", "commit_sha": "abcd", "ref": "a\u{0}"}),
            "ref",
        ),
    ] {
        let refused = problem(
            post_json(&app, "/deployments", &request).await,
            422,
            "validation-error",
        )
        .await;
        assert_eq!(refused["errors"][0]["field"], field, "{request}");
        // What was refused is not echoed with its secret.
        assert!(!refused.to_string().contains("secret@"), "{refused}");
    }
    let not_json = app
        .client
        .post(format!("{}/deployments", app.address))
        .header("content-type", "application/json")
        .body("[");
    problem(not_json.send().await.unwrap(), 400, "malformed-body").await;
    let form = app
        .client
        .post(format!("{}/deploy", app.address))
        .header("content-type", "text/plain")
        .body(body("github.com/octo/app", "abcd", "staging").to_string());
    problem(form.send().await.unwrap(), 415, "unsupported-media-type").await;
    let bad_key = app
        .client
        .post(format!("{}/deployments", app.address))
        .header("Idempotency-Key", "x".repeat(256))
        .json(&body("github.com/octo/app", "abcd", "staging"));
    let refused = problem(bad_key.send().await.unwrap(), 422, "validation-error").await;
    assert_eq!(refused["errors"][0]["field"], "Idempotency-Key");
    assert_eq!(app.db.count("SELECT COUNT(*) FROM deployments"), 0);
    assert_eq!(app.db.count("SELECT COUNT(*) FROM events"), 0);

    // A deployment, then bad posts about it: it stays as it was.
    let id = create(&app, &body("github.com/octo/app", "abcd", "staging")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = show(&app, &id).await;
    let path = format!("/deployments/{id}/statuses");
    let long = "d".repeat(141);
    for (request, field) in [
        (json!({"state": "done"}), "state"),
        (json!({}), "state"),
        (
            json!({"state": "success", "description": long}),
            "description",
        ),
        (
            json!({"state": "success", "log_url": "javascript:alert(1)"}),
            "log_url",
        ),
        (
            json!({"state": "success", "environment_url": 7}),
            "environment_url",
        ),
    ] {
        let refused = problem(
            post_json(&app, &path, &request).await,
            422,
            "validation-error",
        )
        .await;
        assert_eq!(refused["errors"][0]["field"], field, "{request}");
    }
    problem(append(&app, &id, "").await, 422, "validation-error").await;
    let unknown = "dpl_01JD0000000000000000000000";
    problem(
        app.client
            .get(format!("{}/deployments/{unknown}", app.address))
            .send()
            .await
            .unwrap(),
        404,
        "deployment-not-found",
    )
    .await;
    problem(
        status(&app, unknown, "success").await,
        404,
        "deployment-not-found",
    )
    .await;
    problem(
        append(&app, unknown, "x").await,
        404,
        "deployment-not-found",
    )
    .await;
    problem(
        post_json(&app, &format!("/deployments/{unknown}/cancel"), &json!({})).await,
        404,
        "deployment-not-found",
    )
    .await;
    problem(
        app.client
            .get(format!("{}/deployments/{unknown}/logs", app.address))
            .send()
            .await
            .unwrap(),
        404,
        "deployment-not-found",
    )
    .await;
    // Ids that are not ids: no query is made of them (a NUL byte is no
    // text PostgreSQL can compare), they name nothing.
    for odd in ["dpl_%00", "%00", "dpl_01JD000000000000000000000%0A", "x"] {
        let answer = app
            .client
            .get(format!("{}/deployments/{odd}", app.address))
            .send()
            .await
            .unwrap();
        problem(answer, 404, "deployment-not-found").await;
        problem(append(&app, odd, "x").await, 404, "deployment-not-found").await;
    }
    assert_eq!(show(&app, &id).await, before);
    assert!(log(&app, &id).await.is_empty());
    assert_eq!(app.db.count("SELECT COUNT(*) FROM deployment_statuses"), 1);
    assert_eq!(app.db.count("SELECT COUNT(*) FROM events"), 1);
}

async fn bad_list_queries_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=ten", "limit"),
        ("cursor=abc", "cursor"),
        ("cursor=c", "cursor"),
        ("since=yesterday", "since"),
        ("until=2026-13-01T00:00:00Z", "until"),
        ("sha=xyz", "sha"),
        ("sha=", "sha"),
        ("status=done", "status"),
        ("repository=https://u:p@github.com/octo/app", "repository"),
        ("repository=github.com/a%20b*", "repository"),
        ("team_project=a%0Ab", "team_project"),
        ("environment=", "environment"),
    ] {
        let answer = app
            .client
            .get(format!("{}/deployments?{query}", app.address))
            .send()
            .await
            .unwrap();
        let refused = problem(answer, 422, "validation-error").await;
        assert_eq!(refused["errors"][0]["field"], field, "{query}");
    }
    for (query, field) in [
        ("limit=0", "limit"),
        ("cursor=zz", "cursor"),
        ("type=", "type"),
    ] {
        let answer = app
            .client
            .get(format!("{}/projects/Devx/events?{query}", app.address))
            .send()
            .await
            .unwrap();
        let refused = problem(answer, 422, "validation-error").await;
        assert_eq!(refused["errors"][0]["field"], field, "{query}");
    }
}

async fn keys_guard_every_deployment_route(backend: Backend) {
    let app = spawn_keyed_app(backend).await;
    let devx = app.create_key(&["--project", "Devx"]);
    let other = app.create_key(&["--project", "Other"]);
    let admin = app.create_key(&["--admin"]);
    let request = json!({"repository_url": "github.com/octo/app", "commit_sha": "abcd",
                         "team_project": "Devx", "environment": "staging"});

    // No key: 401 everywhere, nothing stored.
    let unauthorized = post_json(&app, "/deployments", &request).await;
    let headers = unauthorized.headers().clone();
    problem(unauthorized, 401, "unauthorized").await;
    assert!(headers.contains_key("www-authenticate"));
    for path in [
        "/deployments",
        "/environments?team_project=Devx",
        "/projects/Devx/events",
    ] {
        let answer = send(&app, reqwest::Method::GET, path, None)
            .send()
            .await
            .unwrap();
        problem(answer, 401, "unauthorized").await;
    }
    assert_eq!(app.db.count("SELECT COUNT(*) FROM deployments"), 0);

    // Its project's key records it, named as the actor.
    let created = post_json_as(&app, "/deployments", &request, Some(&devx)).await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let actor = created["statuses"][0]["actor"].as_str().unwrap().to_owned();
    let (ok, keys, _) = cli(
        &HashMap::from([("DATABASE_URL".to_owned(), app.db.url.clone())]),
        &["api-key", "list"],
    );
    assert!(ok);
    let devx_id = keys
        .lines()
        .find(|line| line.contains("Devx"))
        .and_then(|line| line.split_whitespace().next())
        .unwrap()
        .to_owned();
    assert_eq!(actor, format!("key {devx_id}"));

    // Another project's key: 403 on every route, nothing changed.
    let forbidden = [
        (reqwest::Method::GET, format!("/deployments/{id}")),
        (reqwest::Method::GET, format!("/deployments/{id}/logs")),
        (reqwest::Method::POST, format!("/deployments/{id}/cancel")),
        (
            reqwest::Method::GET,
            "/deployments?team_project=Devx".to_owned(),
        ),
        (
            reqwest::Method::GET,
            "/environments?team_project=devx".to_owned(),
        ),
        (reqwest::Method::GET, "/projects/Devx/events".to_owned()),
    ];
    for (method, path) in forbidden {
        let answer = send(&app, method, &path, Some(&other))
            .send()
            .await
            .unwrap();
        problem(answer, 403, "forbidden").await;
    }
    let answer = post_json_as(
        &app,
        &format!("/deployments/{id}/statuses"),
        &json!({"state": "success"}),
        Some(&other),
    )
    .await;
    problem(answer, 403, "forbidden").await;
    let answer = send(
        &app,
        reqwest::Method::POST,
        &format!("/deployments/{id}/logs"),
        Some(&other),
    )
    .body("intruder\n")
    .send()
    .await
    .unwrap();
    problem(answer, 403, "forbidden").await;
    problem(
        post_json_as(&app, "/deployments", &request, Some(&other)).await,
        403,
        "forbidden",
    )
    .await;
    let theirs: Value = send(&app, reqwest::Method::GET, "/deployments", Some(&other))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        theirs["deployments"],
        json!([]),
        "a project key lists its own"
    );
    assert_eq!(app.db.count("SELECT COUNT(*) FROM deployments"), 1);
    assert_eq!(app.db.count("SELECT COUNT(*) FROM deployment_statuses"), 1);
    assert_eq!(
        app.db.count("SELECT COUNT(*) FROM deployment_log_chunks"),
        0
    );

    // Its own key moves it; the admin key sees everything.
    let ran = post_json_as(
        &app,
        &format!("/deployments/{id}/statuses"),
        &json!({"state": "success"}),
        Some(&devx),
    )
    .await;
    assert_eq!(ran.status(), 201);
    let all: Value = send(&app, reqwest::Method::GET, "/deployments", Some(&admin))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&all), [id.as_str()]);
    let own: Value = send(&app, reqwest::Method::GET, "/environments", Some(&devx))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(own["environments"][0]["latest_success"]["id"], id);
    let trail: Value = send(
        &app,
        reqwest::Method::GET,
        "/projects/devx/events",
        Some(&admin),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let actors: Vec<_> = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["type"].as_str().unwrap().to_owned(), e["actor"].clone()))
        .collect();
    assert_eq!(
        actors,
        [
            ("deployment.created".to_owned(), json!(actor)),
            ("deployment.status".to_owned(), json!(actor)),
        ]
    );
}
