//! The inventory of provisioned versions (DESIGN "Inventory of provisioned
//! versions", seed 003): the seed's examples replayed as its clients send
//! them, both route prefixes, instances kept by `resource_id`, deletions,
//! lists, bad input in the seed's error shape changing nothing, keys, and
//! deployments keeping it current.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{cli, spawn_app, spawn_keyed_app, Backend, TestApp};

both_backends!(
    the_seed_examples_replay_as_documented,
    both_prefixes_serve_one_inventory,
    instances_are_kept_by_resource_id,
    deletions_and_their_404s,
    lists_filter_and_page_newest_first,
    bad_input_gets_the_seeds_400_and_changes_nothing,
    keys_scope_the_inventory_to_their_project,
    a_successful_deployment_records_its_version,
);

const SEED: &str = "/stackstudio/v1/provisioning";
const FORM: &str = "application/x-www-form-urlencoded";

// ----------------------------------------------------------------- helpers

/// Sends `body` as the seed's clients do: JSON labelled as a form.
async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<&str>,
    key: Option<&str>,
) -> reqwest::Response {
    let mut request = app.client.request(method, format!("{}{path}", app.address));
    if let Some(body) = body {
        request = request.header("content-type", FORM).body(body.to_owned());
    }
    if let Some(key) = key {
        request = request.header("X-API-Key", key);
    }
    request.send().await.unwrap()
}

async fn post(app: &TestApp, path: &str, body: &str) -> reqwest::Response {
    send(app, reqwest::Method::POST, path, Some(body), None).await
}

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    send(app, reqwest::Method::GET, path, None, None).await
}

async fn delete(app: &TestApp, path: &str) -> reqwest::Response {
    send(app, reqwest::Method::DELETE, path, None, None).await
}

/// Expects `status` with a JSON body in the seed's content type.
async fn json_of(answer: reqwest::Response, status: u16) -> Value {
    assert_eq!(answer.status(), status);
    let content_type = answer.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    answer.json().await.unwrap()
}

fn version_body(stack: &str, version: &str, environment: &str) -> String {
    json!({"provisioned_version": {"stack_name": stack, "version": version, "environment": environment}})
        .to_string()
}

/// Creates a version of `project` (201); answers its document.
async fn create(app: &TestApp, project: &str, stack: &str, version: &str, env: &str) -> Value {
    let answer = post(
        app,
        &format!("/provisioning/{project}"),
        &version_body(stack, version, env),
    )
    .await;
    json_of(answer, 201).await
}

fn id(document: &Value) -> String {
    document["provisioned_version"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn instance(kind: &str, instance_id: &str, resource: &str, properties: Value) -> Value {
    json!({"provisioned_instance": {"instance_type": kind, "instance_id": instance_id,
                                    "resource_id": resource, "properties": properties}})
}

/// The document with its ids blanked, to compare with the seed's.
fn without_ids(mut document: Value) -> Value {
    let version = &mut document["provisioned_version"];
    assert!(is_seed_id(&version["id"]), "{version}");
    version["id"] = json!("<id>");
    for item in version["provisioned_instances"].as_array_mut().unwrap() {
        assert!(is_seed_id(&item["provisioned_instance"]["id"]), "{item}");
        item["provisioned_instance"]["id"] = json!("<id>");
    }
    document
}

/// 24 hex digits, as the seed's (MongoDB) ids.
fn is_seed_id(id: &Value) -> bool {
    id.as_str()
        .is_some_and(|s| s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Expects the seed's 400 naming exactly `fields`; answers it.
async fn invalid(answer: reqwest::Response, fields: &[&str]) -> Value {
    let body = json_of(answer, 400).await;
    let errors = body["error"]["validation_errors"].as_object().unwrap();
    let mut named: Vec<&str> = errors.keys().map(String::as_str).collect();
    named.sort_unstable();
    let mut expected = fields.to_vec();
    expected.sort_unstable();
    assert_eq!(named, expected, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().len() > 5,
        "{body}"
    );
    for messages in errors.values() {
        assert!(!messages.as_array().unwrap().is_empty(), "{body}");
    }
    body
}

/// Expects the seed's other error shape with `status`; answers its message.
async fn error(answer: reqwest::Response, status: u16) -> String {
    let body = json_of(answer, status).await;
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    assert_eq!(body["error"].as_object().unwrap().len(), 1, "{body}");
    body["error"]["message"].as_str().unwrap().to_owned()
}

async fn project_events(app: &TestApp, project: &str, kind: &str) -> Vec<Value> {
    app.get_json(&format!("/projects/{project}/events?type={kind}"))
        .await["events"]
        .as_array()
        .unwrap()
        .clone()
}

fn counts(app: &TestApp) -> (i64, i64, i64) {
    (
        app.db.count("SELECT COUNT(*) FROM provisioned_versions"),
        app.db.count("SELECT COUNT(*) FROM provisioned_instances"),
        app.db.count("SELECT COUNT(*) FROM events"),
    )
}

// ------------------------------------------------------------------- tests

/// Every example request of the seed's document, sent as it shows them
/// (JSON labelled `application/x-www-form-urlencoded`, to the seed's
/// prefix), answered as it shows them, ids aside.
async fn the_seed_examples_replay_as_documented(backend: Backend) {
    let app = spawn_app(backend).await;

    // POST /stackstudio/v1/provisioning/:project_id
    let answer = post(
        &app,
        &format!("{SEED}/Devx"),
        r#"{"provisioned_version":{"stack_name":"Demo","version":"1.0.1","environment":"Production"}}"#,
    )
    .await;
    let location = answer.headers()["location"].to_str().unwrap().to_owned();
    let created = json_of(answer, 201).await;
    let version_id = id(&created);
    assert_eq!(location, format!("{SEED}/{version_id}"));
    let seed_created: Value = serde_json::from_str(
        r#"{"provisioned_version":{"id":"4f95831bbe8a7c4115000001","stack_name":"Demo","version":"1.0.1","environment":"Production","provisioned_instances":[]}}"#,
    )
    .unwrap();
    assert_eq!(
        without_ids(created.clone()),
        without_ids(seed_created.clone())
    );

    // Its error example: a blank field, named, in the seed's shape.
    let refused = post(
        &app,
        &format!("{SEED}/Devx"),
        r#"{"provisioned_version":{"stack_name":"","version":"1.0.1","environment":"Production"}}"#,
    )
    .await;
    let body = invalid(refused, &["stack_name"]).await;
    assert_eq!(
        body,
        json!({"error": {"message": "Stack name can't be blank",
                         "validation_errors": {"stack_name": ["can't be blank"]}}})
    );

    // GET /stackstudio/v1/provisioning/:id.json
    let shown = json_of(get(&app, &format!("{SEED}/{version_id}.json")).await, 200).await;
    assert_eq!(shown, created);

    // POST /stackstudio/v1/provisioning/:id/instances
    let added = json_of(
        post(
            &app,
            &format!("{SEED}/{version_id}/instances"),
            r#"{"instances":[{"provisioned_instance":{"instance_type":"EC2","instance_id":"abcdef","resource_id":"the_resource_id","properties":{}}}]}"#,
        )
        .await,
        200,
    )
    .await;
    let seed_added: Value = serde_json::from_str(
        r#"{"provisioned_version":{"id":"4f95831bbe8a7c4115000001","stack_name":"Demo","version":"1.0.1","environment":"Production","provisioned_instances":[{"provisioned_instance":{"id":"4f9584d7be8a7c4880000001","instance_type":"EC2","instance_id":"abcdef","resource_id":"the_resource_id","properties":{}}}]}}"#,
    )
    .unwrap();
    assert_eq!(without_ids(added.clone()), without_ids(seed_added));
    assert_eq!(id(&added), version_id);
    let instance_id = added["provisioned_version"]["provisioned_instances"][0]
        ["provisioned_instance"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // DELETE /stackstudio/v1/provisioning/:id/instances/:instance_id (the
    // seed's example labels this bodiless request a form too). Its answer
    // is the version as it is now: the instance gone.
    let answer = app
        .client
        .delete(format!(
            "{}{SEED}/{version_id}/instances/{instance_id}",
            app.address
        ))
        .header("content-type", FORM)
        .send()
        .await
        .unwrap();
    let after = json_of(answer, 200).await;
    assert_eq!(without_ids(after), without_ids(seed_created));

    // DELETE /stackstudio/v1/provisioning/:id
    let answer = app
        .client
        .delete(format!("{}{SEED}/{version_id}", app.address))
        .header("content-type", FORM)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    error(get(&app, &format!("{SEED}/{version_id}")).await, 404).await;
    assert_eq!(counts(&app).0, 0);
}

async fn both_prefixes_serve_one_inventory(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = create(&app, "Devx", "Demo", "1.0.1", "Production").await;
    let version_id = id(&created);
    for path in [
        format!("/provisioning/{version_id}"),
        format!("/provisioning/{version_id}.json"),
        format!("{SEED}/{version_id}"),
        format!("{SEED}/{version_id}.json"),
        // Ids are read in either case.
        format!("/provisioning/{}", version_id.to_uppercase()),
    ] {
        let shown = json_of(get(&app, &path).await, 200).await;
        assert_eq!(shown, created, "{path}");
    }
    // Instances posted under one prefix are read under the other.
    let body = json!({"instances": [instance("EC2", "i-1", "web", json!({"zone": "a"}))]});
    json_of(
        post(
            &app,
            &format!("{SEED}/{version_id}/instances"),
            &body.to_string(),
        )
        .await,
        200,
    )
    .await;
    let shown = json_of(get(&app, &format!("/provisioning/{version_id}")).await, 200).await;
    let instances = &shown["provisioned_version"]["provisioned_instances"];
    assert_eq!(instances.as_array().unwrap().len(), 1);
    assert_eq!(
        instances[0]["provisioned_instance"]["properties"],
        json!({"zone": "a"})
    );
    // Lists, under both.
    for path in [
        "/provisioning?project_id=Devx",
        &format!("{SEED}?project_id=devx"),
    ] {
        let list = json_of(get(&app, path).await, 200).await;
        assert_eq!(list["provisioned_versions"][0], shown, "{path}");
        assert_eq!(list["next_cursor"], Value::Null);
    }
    // A project named like a repository's path (deployments' default)
    // travels percent-encoded in the path.
    let slashed = post(
        &app,
        "/provisioning/octo%2Fapp",
        &version_body("Demo", "1", "Production"),
    )
    .await;
    let slashed = id(&json_of(slashed, 201).await);
    let list = json_of(get(&app, "/provisioning?project_id=octo/app").await, 200).await;
    assert_eq!(
        list["provisioned_versions"][0]["provisioned_version"]["id"],
        json!(slashed)
    );

    // application/json works as well as the seed's form label.
    let answer = app
        .client
        .post(format!("{}/provisioning/Devx", app.address))
        .json(&json!({"provisioned_version": {"stack_name": "Api", "version": "2", "environment": "Production"}}))
        .send()
        .await
        .unwrap();
    json_of(answer, 201).await;
}

async fn instances_are_kept_by_resource_id(backend: Backend) {
    let app = spawn_app(backend).await;
    let version_id = id(&create(&app, "Devx", "Demo", "1.0.1", "Production").await);
    let path = format!("/provisioning/{version_id}/instances");
    let first = json!({"instances": [
        instance("EC2", "i-1", "web", json!({"size": "small"})),
        instance("RDS", "db-1", "database", json!({})),
    ]});
    let answer = json_of(post(&app, &path, &first.to_string()).await, 200).await;
    let items = answer["provisioned_version"]["provisioned_instances"].clone();
    let web_id = items[0]["provisioned_instance"]["id"].clone();
    assert_eq!(items.as_array().unwrap().len(), 2);

    // "web" again (twice in one request: the last one counts) and a new
    // one: web updated in place, same id; nothing doubled.
    let second = json!({"instances": [
        instance("EC2", "i-2", "web", json!({"size": "medium"})),
        instance("EC2", "i-3", "web", json!({"size": "large", "tags": ["a"]})),
        instance("SQS", "q-1", "queue", json!({})),
    ]});
    let answer = json_of(post(&app, &path, &second.to_string()).await, 200).await;
    let items = answer["provisioned_version"]["provisioned_instances"]
        .as_array()
        .unwrap()
        .clone();
    let summary: Vec<(String, String)> = items
        .iter()
        .map(|i| {
            let i = &i["provisioned_instance"];
            (
                i["resource_id"].as_str().unwrap().to_owned(),
                i["instance_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("web".to_owned(), "i-3".to_owned()),
            ("database".to_owned(), "db-1".to_owned()),
            ("queue".to_owned(), "q-1".to_owned()),
        ]
    );
    assert_eq!(items[0]["provisioned_instance"]["id"], web_id);
    assert_eq!(
        items[0]["provisioned_instance"]["properties"],
        json!({"size": "large", "tags": ["a"]})
    );
    assert_eq!(
        app.db.count("SELECT COUNT(*) FROM provisioned_instances"),
        3
    );

    // The same resource in another version is another instance.
    let other = id(&create(&app, "Devx", "Demo", "1.0.1", "Staging").await);
    post(
        &app,
        &format!("/provisioning/{other}/instances"),
        &json!({"instances": [instance("EC2", "i-9", "web", json!({}))]}).to_string(),
    )
    .await;
    assert_eq!(
        app.db.count("SELECT COUNT(*) FROM provisioned_instances"),
        4
    );

    // 500 in one request is the most, and fine.
    let many: Vec<Value> = (0..500)
        .map(|n| instance("EC2", &format!("i-{n}"), &format!("r-{n}"), json!({"n": n})))
        .collect();
    let answer = json_of(
        post(&app, &path, &json!({"instances": many}).to_string()).await,
        200,
    )
    .await;
    assert_eq!(
        answer["provisioned_version"]["provisioned_instances"]
            .as_array()
            .unwrap()
            .len(),
        503
    );

    let events = project_events(&app, "Devx", "provisioned_version.instances_added").await;
    assert_eq!(events.len(), 4);
    assert_eq!(events[1]["detail"]["added"], json!(["queue"]));
    assert_eq!(events[1]["detail"]["updated"], json!(["web"]));
    assert_eq!(
        events[1]["detail"]["provisioned_version_id"],
        json!(version_id)
    );
}

async fn deletions_and_their_404s(backend: Backend) {
    let app = spawn_app(backend).await;
    let version_id = id(&create(&app, "Devx", "Demo", "1.0.1", "Production").await);
    let body = json!({"instances": [
        instance("EC2", "i-1", "web", json!({"zone": "a"})),
        instance("RDS", "db-1", "database", json!({})),
    ]});
    let answer = json_of(
        post(
            &app,
            &format!("/provisioning/{version_id}/instances"),
            &body.to_string(),
        )
        .await,
        200,
    )
    .await;
    let web = answer["provisioned_version"]["provisioned_instances"][0]["provisioned_instance"]
        ["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let after = json_of(
        delete(&app, &format!("/provisioning/{version_id}/instances/{web}")).await,
        200,
    )
    .await;
    let left = after["provisioned_version"]["provisioned_instances"]
        .as_array()
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["provisioned_instance"]["resource_id"], "database");

    // Gone, unknown, malformed: 404 in the seed's shape, nothing changed.
    let before = counts(&app);
    let unknown = "0123456789abcdef01234567";
    for path in [
        format!("/provisioning/{version_id}/instances/{web}"),
        format!("/provisioning/{version_id}/instances/{unknown}"),
        format!("/provisioning/{version_id}/instances/not-an-id"),
        format!("/provisioning/{unknown}/instances/{web}"),
        format!("/provisioning/{unknown}"),
        "/provisioning/not-an-id".to_owned(),
        format!("{SEED}/{unknown}"),
    ] {
        let message = error(delete(&app, &path).await, 404).await;
        assert!(message.contains("not found"), "{path}: {message}");
    }
    error(get(&app, &format!("/provisioning/{unknown}")).await, 404).await;
    error(
        get(&app, &format!("/provisioning/{unknown}.json")).await,
        404,
    )
    .await;
    error(
        post(
            &app,
            &format!("/provisioning/{unknown}/instances"),
            &body.to_string(),
        )
        .await,
        404,
    )
    .await;
    assert_eq!(counts(&app), before);

    // Deleting the version answers it and keeps it whole in its event.
    let deleted = json_of(
        delete(&app, &format!("/provisioning/{version_id}")).await,
        200,
    )
    .await;
    assert_eq!(id(&deleted), version_id);
    assert_eq!(
        deleted["provisioned_version"]["provisioned_instances"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    error(get(&app, &format!("/provisioning/{version_id}")).await, 404).await;
    error(
        delete(&app, &format!("/provisioning/{version_id}")).await,
        404,
    )
    .await;
    assert_eq!(counts(&app).0, 0);
    assert_eq!(counts(&app).1, 0);

    let events = project_events(&app, "Devx", "provisioned_version.deleted").await;
    assert_eq!(events.len(), 1);
    let detail = &events[0]["detail"];
    assert_eq!(detail["provisioned_version_id"], json!(version_id));
    assert_eq!(detail["stack_name"], "Demo");
    assert_eq!(detail["version"], "1.0.1");
    assert_eq!(detail["environment"], "Production");
    assert_eq!(
        detail["provisioned_instances"][0]["resource_id"],
        "database"
    );
    let deleted_instance =
        project_events(&app, "Devx", "provisioned_version.instance_deleted").await;
    assert_eq!(deleted_instance.len(), 1);
    assert_eq!(
        deleted_instance[0]["detail"]["provisioned_instance"]["properties"],
        json!({"zone": "a"})
    );
}

async fn lists_filter_and_page_newest_first(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = id(&create(&app, "Devx", "Demo", "1.0.1", "Production").await);
    let b = id(&create(&app, "Devx", "Demo", "1.0.2", "Staging").await);
    let c = id(&create(&app, "Devx", "Api", "3.0", "Production").await);
    let d = id(&create(&app, "Other", "Demo", "9", "Production").await);
    let ids = |list: &Value| -> Vec<String> {
        list["provisioned_versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(id)
            .collect()
    };
    let list = |query: String| {
        let app = &app;
        async move { json_of(get(app, &format!("/provisioning?{query}")).await, 200).await }
    };
    assert_eq!(
        ids(&list("project_id=Devx".into()).await),
        [c.as_str(), b.as_str(), a.as_str()]
    );
    assert_eq!(
        ids(&list(String::new()).await),
        [d.as_str(), c.as_str(), b.as_str(), a.as_str()]
    );
    assert_eq!(
        ids(&list("project_id=DEVX&environment=production".into()).await),
        [c.as_str(), a.as_str()]
    );
    assert_eq!(
        ids(&list("project_id=Devx&stack_name=demo".into()).await),
        [b.as_str(), a.as_str()]
    );
    assert_eq!(
        ids(&list("stack_name=Demo&environment=Production".into()).await),
        [d.as_str(), a.as_str()]
    );
    assert!(ids(&list("project_id=Nobody".into()).await).is_empty());

    // Pages of two, the cursor opaque.
    let first = list("project_id=Devx&limit=2".into()).await;
    assert_eq!(ids(&first), [c.as_str(), b.as_str()]);
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let second = list(format!("project_id=Devx&limit=2&cursor={cursor}")).await;
    assert_eq!(ids(&second), [a.as_str()]);
    assert_eq!(second["next_cursor"], Value::Null);

    // Bad parameters: the seed's 400, each named.
    for (query, fields) in [
        ("limit=0", vec!["limit"]),
        ("limit=201&cursor=nope", vec!["limit", "cursor"]),
        (
            "environment=%20&stack_name=",
            vec!["environment", "stack_name"],
        ),
        (
            &*format!("project_id={}", "p".repeat(141)),
            vec!["project_id"],
        ),
    ] {
        invalid(get(&app, &format!("/provisioning?{query}")).await, &fields).await;
    }
}

async fn bad_input_gets_the_seeds_400_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let version_id = id(&create(&app, "Devx", "Demo", "1.0.1", "Production").await);
    post(
        &app,
        &format!("/provisioning/{version_id}/instances"),
        &json!({"instances": [instance("EC2", "i-1", "web", json!({}))]}).to_string(),
    )
    .await;
    let before = counts(&app);
    let long = "x".repeat(129);

    let creates: Vec<(String, Vec<&str>)> =
        vec![
        (version_body("", "1", "Staging"), vec!["stack_name"]),
        (version_body("   ", "", " "), vec!["stack_name", "version", "environment"]),
        (
            json!({"provisioned_version": {"stack_name": "Api"}}).to_string(),
            vec!["version", "environment"],
        ),
        (
            json!({"provisioned_version": {"stack_name": 1, "version": null, "environment": "Qa"}})
                .to_string(),
            vec!["stack_name", "version"],
        ),
        (version_body(&long, "1", &long), vec!["stack_name", "environment"]),
        (json!({"stack_name": "Api"}).to_string(), vec!["provisioned_version"]),
        (json!({"provisioned_version": "Api"}).to_string(), vec!["provisioned_version"]),
        ("{\"provisioned_version\": {".to_owned(), vec!["body"]),
        ("stack_name=Api&version=1".to_owned(), vec!["body"]),
        (String::new(), vec!["body"]),
        ("[]".to_owned(), vec!["body"]),
        // The project's entry for Demo in Production exists.
        (version_body("demo", "2.0", "PRODUCTION"), vec!["stack_name"]),
    ];
    for (body, fields) in creates {
        invalid(post(&app, "/provisioning/Devx", &body).await, &fields).await;
    }
    // Too long names the limit, in Rails' words.
    let answer = invalid(
        post(&app, "/provisioning/Devx", &version_body(&long, "1", "Qa")).await,
        &["stack_name"],
    )
    .await;
    assert_eq!(
        answer["error"]["validation_errors"]["stack_name"],
        json!(["is too long (maximum is 128 characters)"])
    );
    // A project name over 140 characters, with a bad body: both named.
    invalid(
        post(
            &app,
            &format!("/provisioning/{}", "p".repeat(141)),
            &version_body("", "1", "Qa"),
        )
        .await,
        &["project_id", "stack_name"],
    )
    .await;

    let path = format!("/provisioning/{version_id}/instances");
    let big = json!({"blob": "y".repeat(64 * 1024)});
    let too_many: Vec<Value> = (0..501)
        .map(|n| instance("EC2", "i", &format!("r-{n}"), json!({})))
        .collect();
    let instance_bodies: Vec<(String, Vec<&str>)> = vec![
        (
            json!({"instances": [instance("", "i-1", "web", json!({}))]}).to_string(),
            vec!["instances[0].instance_type"],
        ),
        (
            json!({"instances": [
                instance("EC2", "i-1", "fine", json!({})),
                {"provisioned_instance": {"instance_type": "EC2"}},
            ]})
            .to_string(),
            vec!["instances[1].instance_id", "instances[1].resource_id"],
        ),
        (
            json!({"instances": [instance("EC2", &long, "web", json!({}))]}).to_string(),
            vec!["instances[0].instance_id"],
        ),
        (
            json!({"instances": [instance("EC2", "i-1", "web", json!([1, 2]))]}).to_string(),
            vec!["instances[0].properties"],
        ),
        (
            json!({"instances": [instance("EC2", "i-1", "web", json!("text"))]}).to_string(),
            vec!["instances[0].properties"],
        ),
        (
            json!({"instances": [instance("EC2", "i-1", "web", big)]}).to_string(),
            vec!["instances[0].properties"],
        ),
        (
            json!({"instances": too_many}).to_string(),
            vec!["instances"],
        ),
        (
            json!({"instances": {"provisioned_instance": {}}}).to_string(),
            vec!["instances"],
        ),
        (json!({"instances": []}).to_string(), vec!["instances"]),
        (
            json!({"instances": ["web"]}).to_string(),
            vec!["instances[0]"],
        ),
        (json!({}).to_string(), vec!["instances"]),
        ("{\"instances\": [".to_owned(), vec!["body"]),
    ];
    for (body, fields) in instance_bodies {
        invalid(post(&app, &path, &body).await, &fields).await;
    }
    assert_eq!(counts(&app), before);
    let shown = json_of(get(&app, &format!("/provisioning/{version_id}")).await, 200).await;
    assert_eq!(shown["provisioned_version"]["version"], "1.0.1");
    assert_eq!(
        shown["provisioned_version"]["provisioned_instances"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn keys_scope_the_inventory_to_their_project(backend: Backend) {
    let app = spawn_keyed_app(backend).await;
    let devx = app.create_key(&["--project", "Devx"]);
    let other = app.create_key(&["--project", "Other"]);
    let admin = app.create_key(&["--admin"]);
    let body = version_body("Demo", "1.0.1", "Production");
    use reqwest::Method as M;

    // No key: 401 in the seed's shape, with the Basic challenge.
    let answer = send(&app, M::POST, "/provisioning/Devx", Some(&body), None).await;
    assert!(answer.headers().contains_key("www-authenticate"));
    error(answer, 401).await;
    error(send(&app, M::GET, "/provisioning", None, None).await, 401).await;
    assert_eq!(counts(&app).0, 0);

    // Another project's key may not create in Devx.
    let answer = send(
        &app,
        M::POST,
        "/provisioning/Devx",
        Some(&body),
        Some(&other),
    )
    .await;
    error(answer, 403).await;
    assert_eq!(counts(&app).0, 0);

    let created = send(
        &app,
        M::POST,
        "/provisioning/devx",
        Some(&body),
        Some(&devx),
    )
    .await;
    let version_id = id(&json_of(created, 201).await);
    let instances = json!({"instances": [instance("EC2", "i-1", "web", json!({}))]}).to_string();
    let added = send(
        &app,
        M::POST,
        &format!("{SEED}/{version_id}/instances"),
        Some(&instances),
        Some(&devx),
    )
    .await;
    let instance_id = json_of(added, 200).await["provisioned_version"]["provisioned_instances"][0]
        ["provisioned_instance"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mine = send(
        &app,
        M::POST,
        "/provisioning/Other",
        Some(&body),
        Some(&other),
    )
    .await;
    let other_id = id(&json_of(mine, 201).await);

    // Other's key: 403 on each of Devx's routes, nothing changed.
    let before = counts(&app);
    for (method, path, body) in [
        (M::GET, format!("/provisioning/{version_id}"), None),
        (M::GET, format!("{SEED}/{version_id}.json"), None),
        (
            M::POST,
            format!("/provisioning/{version_id}/instances"),
            Some(instances.as_str()),
        ),
        (
            M::DELETE,
            format!("/provisioning/{version_id}/instances/{instance_id}"),
            None,
        ),
        (M::DELETE, format!("/provisioning/{version_id}"), None),
        (M::GET, "/provisioning?project_id=Devx".to_owned(), None),
    ] {
        let answer = send(&app, method.clone(), &path, body, Some(&other)).await;
        let message = error(answer, 403).await;
        assert!(message.contains("another project"), "{method} {path}");
    }
    assert_eq!(counts(&app), before);

    // A project key lists its own project; an admin key sees all.
    let listed = |key: String, query: &'static str| {
        let app = &app;
        async move {
            let answer = send(
                app,
                M::GET,
                &format!("/provisioning{query}"),
                None,
                Some(&key),
            )
            .await;
            json_of(answer, 200).await["provisioned_versions"]
                .as_array()
                .unwrap()
                .iter()
                .map(id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(listed(other.clone(), "").await, [other_id.as_str()]);
    assert_eq!(listed(devx.clone(), "").await, [version_id.as_str()]);
    assert_eq!(
        listed(admin.clone(), "").await,
        [other_id, version_id.clone()]
    );
    assert_eq!(
        listed(admin.clone(), "?project_id=Devx").await,
        [version_id.as_str()]
    );

    // The admin key may delete Devx's; each write names its key.
    let answer = send(
        &app,
        M::DELETE,
        &format!("/provisioning/{version_id}"),
        None,
        Some(&admin),
    )
    .await;
    json_of(answer, 200).await;
    let answer = send(&app, M::GET, "/projects/Devx/events", None, Some(&admin)).await;
    let events = json_of(answer, 200).await["events"]
        .as_array()
        .unwrap()
        .clone();
    let trail: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let (ok, keys, _) = cli(
        &HashMap::from([("DATABASE_URL".to_owned(), app.db.url.clone())]),
        &["api-key", "list"],
    );
    assert!(ok);
    let key_id = |project: &str| {
        keys.lines()
            .find(|line| line.contains(project))
            .and_then(|line| line.split_whitespace().next())
            .map(|id| format!("key {id}"))
            .unwrap()
    };
    let (devx_key, admin_key) = (key_id("Devx"), key_id("admin"));
    assert_eq!(
        trail,
        [
            ("provisioned_version.created".to_owned(), devx_key.clone()),
            ("provisioned_version.instances_added".to_owned(), devx_key),
            ("provisioned_version.deleted".to_owned(), admin_key),
        ]
    );
}

/// A deployment naming its stack and version that ends `success` records
/// that version for its project, stack and environment; a later one
/// replaces it; other endings record nothing.
async fn a_successful_deployment_records_its_version(backend: Backend) {
    let app = spawn_app(backend).await;
    let deploy = |version: &'static str, stack: Option<&'static str>| {
        let app = &app;
        async move {
            let mut body = json!({"repository_url": "github.com/octo/app", "commit_sha": "abcd1234",
                                  "team_project": "Devx", "environment": "production",
                                  "version": version});
            if let Some(stack) = stack {
                body["stack_name"] = json!(stack);
            }
            let answer = app
                .client
                .post(format!("{}/deployments", app.address))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 201);
            let created: Value = answer.json().await.unwrap();
            created["id"].as_str().unwrap().to_owned()
        }
    };
    let post_state = |id: String, state: &'static str| {
        let app = &app;
        async move {
            let answer = app
                .client
                .post(format!("{}/deployments/{id}/statuses", app.address))
                .json(&json!({"state": state}))
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 201, "{state}");
        }
    };
    let entries = || async {
        json_of(get(&app, "/provisioning?project_id=Devx").await, 200).await["provisioned_versions"]
            .as_array()
            .unwrap()
            .clone()
    };

    // Not yet finished, failed, or without a stack: nothing recorded.
    let running = deploy("1.0.0", Some("Demo")).await;
    post_state(running.clone(), "in_progress").await;
    let failed = deploy("0.9.0", Some("Demo")).await;
    post_state(failed.clone(), "in_progress").await;
    post_state(failed, "failure").await;
    let unnamed = deploy("1.0.0", None).await;
    post_state(unnamed, "success").await;
    assert!(entries().await.is_empty());

    // Success: the entry for Demo in production now says 1.0.0.
    post_state(running.clone(), "success").await;
    let found = entries().await;
    assert_eq!(found.len(), 1);
    let entry = &found[0]["provisioned_version"];
    assert_eq!(entry["stack_name"], "Demo");
    assert_eq!(entry["environment"], "production");
    assert_eq!(entry["version"], "1.0.0");
    let entry_id = entry["id"].as_str().unwrap().to_owned();

    // A second success replaces the version in the same entry, which
    // keeps its instances.
    post(
        &app,
        &format!("/provisioning/{entry_id}/instances"),
        &json!({"instances": [instance("EC2", "i-1", "web", json!({}))]}).to_string(),
    )
    .await;
    let next = deploy("1.0.1", Some("demo")).await;
    post_state(next.clone(), "in_progress").await;
    post_state(next.clone(), "success").await;
    let found = entries().await;
    assert_eq!(found.len(), 1);
    let entry = &found[0]["provisioned_version"];
    assert_eq!(entry["id"], json!(entry_id));
    assert_eq!(entry["version"], "1.0.1");
    assert_eq!(entry["provisioned_instances"].as_array().unwrap().len(), 1);

    // An entry made through the API is updated the same way (the
    // environment matched case-insensitively).
    let api = id(&create(&app, "Devx", "Api", "2.0", "Production").await);
    let api_deploy = deploy("2.1", Some("Api")).await;
    post_state(api_deploy.clone(), "success").await;
    let shown = json_of(get(&app, &format!("/provisioning/{api}")).await, 200).await;
    assert_eq!(shown["provisioned_version"]["version"], "2.1");
    assert_eq!(shown["provisioned_version"]["environment"], "Production");

    let events = project_events(&app, "Devx", "provisioned_version.deployed").await;
    let details: Vec<(Value, Value, Value)> = events
        .iter()
        .map(|e| {
            (
                e["detail"]["deployment_id"].clone(),
                e["detail"]["version"].clone(),
                e["detail"]["previous_version"].clone(),
            )
        })
        .collect();
    assert_eq!(
        details,
        [
            (json!(running), json!("1.0.0"), Value::Null),
            (json!(next), json!("1.0.1"), json!("1.0.0")),
            (json!(api_deploy), json!("2.1"), json!("2.0")),
        ]
    );
}
