//! The OpenAPI document against the routes the app really serves, and
//! against the answers it really sends.

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{release_body, spawn_app_with, Backend, TestApp};

/// The routes Swagger UI serves beside the API's own.
const DOCS: &[(&str, &str)] = &[("get", "/openapi.json"), ("get", "/docs/")];

fn concrete(template: &str) -> String {
    template
        .replace("{team_project}", "Devx")
        .replace("{release_id}", "386")
}

#[tokio::test]
async fn every_served_route_is_documented_and_every_documented_route_is_served() {
    let app = spawn_app_with(
        Backend::Sqlite,
        |env| {
            // Its route answers 404 without an App: configure one.
            env.insert("GREENLIGHT_GITHUB_APP_ID".into(), "1".into());
            // No call to the real GitHub from a test.
            env.insert("GREENLIGHT_GITHUB_REDELIVERY_INTERVAL".into(), "off".into());
            env.insert(
                "GREENLIGHT_GITHUB_PRIVATE_KEY".into(),
                include_str!("../fixtures/github-app-test.pem").into(),
            );
            env.insert("GREENLIGHT_GITHUB_WEBHOOK_SECRET".into(), "s".into());
        },
        true,
    )
    .await;
    let answer = app
        .client
        .get(format!("{}/openapi.json", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let doc: Value = answer.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");

    let served: Vec<(&str, &str)> = greenlight::http::SERVED
        .iter()
        .chain(DOCS)
        .copied()
        .collect();
    let mut documented = Vec::new();
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            documented.push((method.clone(), path.clone()));
        }
    }
    for (method, path) in &served {
        assert!(
            documented.contains(&((*method).to_owned(), (*path).to_owned())),
            "{method} {path} is served but not in /openapi.json"
        );
    }
    for (method, path) in &documented {
        assert!(
            served.contains(&(method.as_str(), path.as_str())),
            "{method} {path} is documented but not served"
        );
        // Really served: whatever it answers, it is not the answer to a
        // path or method the app does not know.
        let url = format!("{}{}", app.address, concrete(path));
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let answer = app
            .client
            .request(method.clone(), &url)
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        assert_ne!(status, 405, "{method} {path}");
        let body: Value = answer.json().await.unwrap_or(Value::Null);
        assert_ne!(
            body["type"], "urn:greenlight:problem:not-found",
            "{method} {path} answered as an unknown route"
        );
    }
    // Each operation says what it answers, problems included, under an
    // id of its own.
    let mut ids = std::collections::HashSet::new();
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            assert!(!responses.is_empty(), "{method} {path}");
            let id = operation["operationId"].as_str().unwrap();
            assert!(ids.insert(id.to_owned()), "{method} {path}: {id} twice");
        }
    }
    let create = &doc["paths"]["/release"]["post"];
    for status in ["200", "202", "401", "403", "422", "503"] {
        assert!(
            create["responses"][status].is_object(),
            "POST /release {status}"
        );
    }
    assert_eq!(
        create["responses"]["422"]["content"]["application/problem+json"]["schema"]["$ref"],
        "#/components/schemas/Problem"
    );
}

#[tokio::test]
async fn the_docs_page_loads_nothing_from_the_internet() {
    let app = spawn_app_with(Backend::Sqlite, |_| {}, true).await;
    let page = app
        .client
        .get(format!("{}/docs/", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui-bundle.js"), "{html}");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "{html}"
    );
    // The page's assets and its configuration come from the binary.
    for asset in [
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "swagger-initializer.js",
    ] {
        let answer = app
            .client
            .get(format!("{}/docs/{asset}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{asset}");
        let body = answer.text().await.unwrap();
        assert!(body.len() > 100, "{asset}");
        if asset == "swagger-initializer.js" {
            assert!(body.contains("/openapi.json"), "{body}");
        }
    }
    // /docs leads to the page.
    let redirect = app
        .client
        .get(format!("{}/docs", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 308);
    assert_eq!(redirect.headers()["location"], "/docs/");
}

// ------------------------------------------------------- answers vs document

both_backends!(every_json_answer_matches_its_documented_schema);

/// A real answer of each JSON route (successes, and problems of each
/// family) is checked against the schema `/openapi.json` gives for its
/// path, method, status and content type: the document describes what is
/// sent, not a copy of it that could drift.
async fn every_json_answer_matches_its_documented_schema(backend: Backend) {
    const SECRET: &str = "gh-secret";
    let app = spawn_app_with(
        backend,
        |env| {
            env.insert("GREENLIGHT_GITHUB_APP_ID".into(), "1".into());
            // No call to the real GitHub from a test.
            env.insert("GREENLIGHT_GITHUB_REDELIVERY_INTERVAL".into(), "off".into());
            env.insert(
                "GREENLIGHT_GITHUB_PRIVATE_KEY".into(),
                include_str!("../fixtures/github-app-test.pem").into(),
            );
            env.insert("GREENLIGHT_GITHUB_WEBHOOK_SECRET".into(), SECRET.into());
            // Slack's route checks signatures before it calls Slack.
            env.insert("GREENLIGHT_SLACK_BOT_TOKEN".into(), "xoxb-unused".into());
            env.insert("GREENLIGHT_SLACK_SIGNING_SECRET".into(), SECRET.into());
            env.insert(
                "GREENLIGHT_SLACK_API_URL".into(),
                "http://127.0.0.1:9/api".into(),
            );
        },
        true,
    )
    .await;
    let doc: Value = app
        .client
        .get(format!("{}/openapi.json", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let checker = Checker { doc: &doc };

    // A release, from creation to rejection, through each read route.
    let created = checker
        .send(
            "post",
            "/release",
            202,
            post_json(&app, "/release", &release_body("386")),
        )
        .await;
    assert_eq!(
        created["approvers"],
        json!([]),
        "before the approvers: {created}"
    );
    let mails = app.wait_for_mails(2).await;
    let polled = checker
        .send(
            "post",
            "/release",
            200,
            post_json(&app, "/release", &release_body("386")),
        )
        .await;
    assert_eq!(polled["approvers"][0]["decision"], Value::Null);
    let approved = checker
        .send(
            "get",
            "/approval",
            200,
            get(
                &app,
                &mails[0]
                    .approval_link()
                    .replacen(crate::helpers::PUBLIC_URL, "", 1),
            ),
        )
        .await;
    assert_eq!(approved["approver_decision"], "approved", "{approved}");
    let decision = json!({"token": mails[1].token(), "decision": "reject", "comment": "Not today"});
    let rejected = checker
        .send(
            "post",
            "/approval",
            200,
            post_json(&app, "/approval", &decision),
        )
        .await;
    assert_eq!(rejected["status"], "rejected", "{rejected}");
    let shown = checker
        .send(
            "get",
            "/releases/{team_project}/{release_id}",
            200,
            get(&app, "/releases/Devx/386"),
        )
        .await;
    assert!(shown["decided_at"].is_string(), "{shown}");
    // A second release: a page of one has a next one.
    checker
        .send(
            "post",
            "/release",
            202,
            post_json(&app, "/release", &release_body("387")),
        )
        .await;
    let page = checker
        .send("get", "/releases", 200, get(&app, "/releases?limit=1"))
        .await;
    assert!(page["next_cursor"].is_string(), "{page}");
    let events = checker
        .send(
            "get",
            "/releases/{team_project}/{release_id}/events",
            200,
            get(&app, "/releases/Devx/386/events"),
        )
        .await;
    assert!(events["events"].as_array().unwrap().len() >= 3, "{events}");
    checker
        .send("get", "/healthz", 200, get(&app, "/healthz"))
        .await;
    checker
        .send("get", "/readyz", 200, get(&app, "/readyz"))
        .await;

    // GitHub: a delivery ignored, a review requested, its redelivery.
    let ping = deliver(&app, "ping", &json!({"zen": "hi"}), SECRET);
    let ignored = checker
        .send("post", "/integrations/github", 202, ping)
        .await;
    assert!(ignored["ignored"].is_string(), "{ignored}");
    let rule = json!({
        "action": "requested",
        "environment": "production",
        "deployment_callback_url": "https://api.github.com/repos/octo/app/actions/runs/7/deployment_protection_rule",
        "deployment": {"ref": "main", "sha": "0123456789abcdef"},
        "repository": {"full_name": "octo/app"},
        "installation": {"id": 42}
    });
    let review = deliver(&app, "deployment_protection_rule", &rule, SECRET);
    checker
        .send("post", "/integrations/github", 202, review)
        .await;
    let again = deliver(&app, "deployment_protection_rule", &rule, SECRET);
    checker
        .send("post", "/integrations/github", 200, again)
        .await;

    // A deployment through each of its routes.
    let deployment = json!({"repository_url": "github.com/octo/app", "commit_sha": "0123abcd",
                            "environment": "staging", "ref": "main", "version": "1.0.1",
                            "extra": {"kept": [1, "two"]}});
    let recorded = checker
        .send(
            "post",
            "/deployments",
            201,
            post_json(&app, "/deployments", &deployment),
        )
        .await;
    let id = recorded["id"].as_str().unwrap().to_owned();
    checker
        .send(
            "post",
            "/deploy",
            201,
            post_json(&app, "/deploy", &deployment),
        )
        .await;
    let at = |template: &str| template.replace("{id}", &id);
    checker
        .send(
            "post",
            "/deployments/{id}/statuses",
            201,
            post_json(
                &app,
                &at("/deployments/{id}/statuses"),
                &json!({"state": "in_progress", "description": "building"}),
            ),
        )
        .await;
    let appended = app
        .client
        .post(format!("{}{}", app.address, at("/deployments/{id}/logs")))
        .body("step 1\n");
    checker
        .send("post", "/deployments/{id}/logs", 200, appended)
        .await;
    checker
        .send(
            "post",
            "/deployments/{id}/statuses",
            201,
            post_json(
                &app,
                &at("/deployments/{id}/statuses"),
                &json!({"state": "success", "environment_url": "https://staging.example.com"}),
            ),
        )
        .await;
    let finished = checker
        .send(
            "get",
            "/deployments/{id}",
            200,
            get(&app, &at("/deployments/{id}")),
        )
        .await;
    assert!(finished["finished_at"].is_string(), "{finished}");
    let listed = checker
        .send(
            "get",
            "/deployments",
            200,
            get(&app, "/deployments?limit=1&repository=github.com/octo/*"),
        )
        .await;
    assert!(listed["next_cursor"].is_string(), "{listed}");
    let places = checker
        .send(
            "get",
            "/environments",
            200,
            get(&app, "/environments?team_project=octo/app"),
        )
        .await;
    assert_eq!(places["environments"][0]["latest_success"]["id"], id);
    let trail = checker
        .send(
            "get",
            "/projects/{team_project}/events",
            200,
            get(&app, "/projects/octo%2Fapp/events"),
        )
        .await;
    assert!(trail["events"].as_array().unwrap().len() >= 4, "{trail}");
    checker
        .send(
            "post",
            "/deployments/{id}/cancel",
            409,
            post_json(&app, &at("/deployments/{id}/cancel"), &json!({})),
        )
        .await;
    checker
        .send(
            "get",
            "/deployments/{id}",
            404,
            get(&app, "/deployments/dpl_unknown"),
        )
        .await;
    checker
        .send(
            "post",
            "/deployments",
            422,
            post_json(&app, "/deployments", &json!({"commit_sha": "xyz"})),
        )
        .await;
    checker
        .send(
            "get",
            "/deployments",
            422,
            get(&app, "/deployments?limit=0"),
        )
        .await;
    // A runner's claim, its heartbeat and their problems.
    post_json(
        &app,
        "/deployments",
        &json!({"repository_url": "github.com/octo/app", "commit_sha": "abcd", "environment": "runners"}),
    )
    .send()
    .await
    .unwrap();
    let claim = json!({"environments": ["runners"], "wait": 0});
    let claimed = checker
        .send(
            "post",
            "/runners/claim",
            200,
            post_json(&app, "/runners/claim", &claim),
        )
        .await;
    let beat = |token: &str| {
        app.client
            .post(format!(
                "{}/deployments/{}/heartbeat",
                app.address,
                claimed["id"].as_str().unwrap()
            ))
            .header("Greenlight-Claim", token)
    };
    checker
        .send(
            "post",
            "/deployments/{id}/heartbeat",
            200,
            beat(claimed["claim"]["token"].as_str().unwrap()),
        )
        .await;
    checker
        .send(
            "post",
            "/deployments/{id}/heartbeat",
            409,
            beat("glc_wrong"),
        )
        .await;
    checker
        .send(
            "post",
            "/runners/claim",
            422,
            post_json(
                &app,
                "/runners/claim",
                &json!({"environments": ["runners"], "wait": 61}),
            ),
        )
        .await;

    // Problems, one of each family.
    let change = json!({"token": mails[1].token(), "decision": "approve"});
    let wrong = deliver(&app, "ping", &json!({}), "not the secret");
    checker
        .send("post", "/integrations/github", 401, wrong)
        .await;
    let unsigned = app
        .client
        .post(format!("{}/integrations/slack", app.address))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("payload=%7B%7D");
    checker
        .send("post", "/integrations/slack", 401, unsigned)
        .await;
    let t = chrono::Utc::now().timestamp();
    let no_payload = app
        .client
        .post(format!("{}/integrations/slack", app.address))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("X-Slack-Request-Timestamp", t.to_string())
        .header(
            "X-Slack-Signature",
            greenlight::integrations::slack::signature(SECRET.as_bytes(), t, b"a=b"),
        )
        .body("a=b");
    checker
        .send("post", "/integrations/slack", 400, no_payload)
        .await;
    let invalid = checker
        .send(
            "post",
            "/release",
            422,
            post_json(&app, "/release", &json!({})),
        )
        .await;
    assert!(
        !invalid["errors"].as_array().unwrap().is_empty(),
        "{invalid}"
    );
    let raw = app
        .client
        .post(format!("{}/release", app.address))
        .header("content-type", "application/json")
        .body("[");
    checker.send("post", "/release", 400, raw).await;
    checker
        .send("get", "/releases", 422, get(&app, "/releases?limit=0"))
        .await;
    checker
        .send(
            "get",
            "/releases/{team_project}/{release_id}",
            404,
            get(&app, "/releases/Devx/nope"),
        )
        .await;
    checker
        .send("get", "/approval", 403, get(&app, "/approval?token=forged"))
        .await;
    checker
        .send(
            "post",
            "/approval",
            409,
            post_json(&app, "/approval", &change),
        )
        .await;

    // Variables (seed 002): each JSON answer as documented.
    let put =
        |path: &str, body: Value| app.client.put(format!("{}{path}", app.address)).json(&body);
    let (var, env_var) = (
        "/projects/{team_project}/variables/{name}",
        "/projects/{team_project}/environments/{environment}/variables/{name}",
    );
    let (env_vars, project_vars) = (
        "/projects/{team_project}/environments/{environment}/variables",
        "/projects/{team_project}/variables",
    );
    checker
        .send(
            "put",
            var,
            200,
            put("/projects/Devx/variables/REGION", json!({"value": "eu"})),
        )
        .await;
    checker
        .send(
            "put",
            env_var,
            200,
            put(
                "/projects/Devx/environments/prod/variables/REGION",
                json!({"unset": true}),
            ),
        )
        .await;
    checker
        .send(
            "put",
            env_var,
            200,
            put(
                "/projects/Devx/environments/prod/variables/LEVEL",
                json!({"value": "1"}),
            ),
        )
        .await;
    checker
        .send(
            "put",
            var,
            422,
            put("/projects/Devx/variables/1A", json!({"value": "v"})),
        )
        .await;
    checker
        .send(
            "put",
            var,
            409,
            put(
                "/projects/Devx/variables/TOKEN",
                json!({"value": "v", "secret": true}),
            ),
        )
        .await;
    checker
        .send(
            "delete",
            var,
            404,
            app.client
                .delete(format!("{}/projects/Devx/variables/NONE", app.address)),
        )
        .await;
    checker
        .send(
            "get",
            env_vars,
            200,
            get(&app, "/projects/Devx/environments/prod/variables"),
        )
        .await;
    checker
        .send(
            "get",
            env_vars,
            200,
            get(
                &app,
                "/projects/Devx/environments/prod/variables?format=json",
            ),
        )
        .await;
    checker
        .send(
            "get",
            env_vars,
            422,
            get(
                &app,
                "/projects/Devx/environments/prod/variables?format=yaml",
            ),
        )
        .await;
    checker
        .send(
            "get",
            project_vars,
            200,
            get(&app, "/projects/Devx/variables"),
        )
        .await;
    checker
        .send(
            "get",
            project_vars,
            200,
            get(&app, "/projects/Devx/variables?format=chalice"),
        )
        .await;
    checker
        .send(
            "put",
            project_vars,
            200,
            put(
                "/projects/Devx/variables?format=chalice",
                json!({"version": "2.0", "stages": {"dev": {"environment_variables": {"A": "a"}}}}),
            ),
        )
        .await;
    checker
        .send(
            "put",
            project_vars,
            422,
            put(
                "/projects/Devx/variables?format=chalice",
                json!({"version": "9"}),
            ),
        )
        .await;

    // The check can fail: a field the document does not name, a value off
    // its list, a missing field and a wrong type are each refused.
    let status_doc = doc["components"]["schemas"]["StatusDocument"].clone();
    let mut extra = shown.clone();
    extra["surprise"] = json!(1);
    let mut off_list = shown.clone();
    off_list["approvers"][0]["decision"] = json!("maybe");
    let mut missing = shown.clone();
    missing.as_object_mut().unwrap().remove("status");
    let mut wrong_type = shown.clone();
    wrong_type["approvals"] = json!("1");
    for bad in [extra, off_list, missing, wrong_type] {
        let mut errors = Vec::new();
        validate(&doc, &bad, &status_doc, "$", true, &mut errors);
        assert!(!errors.is_empty(), "accepted {bad}");
    }
}

fn get(app: &TestApp, path: &str) -> reqwest::RequestBuilder {
    app.client
        .get(format!("{}{path}", app.address))
        .header("accept", "application/json")
}

fn post_json(app: &TestApp, path: &str, body: &Value) -> reqwest::RequestBuilder {
    app.client
        .post(format!("{}{path}", app.address))
        .header("accept", "application/json")
        .json(body)
}

fn deliver(app: &TestApp, event: &str, body: &Value, secret: &str) -> reqwest::RequestBuilder {
    let raw = serde_json::to_vec(body).unwrap();
    app.client
        .post(format!("{}/integrations/github", app.address))
        .header("X-GitHub-Event", event)
        .header("X-Hub-Signature-256", crate::github::sign(&raw, secret))
        .header("Content-Type", "application/json")
        .body(raw)
}

struct Checker<'a> {
    doc: &'a Value,
}

impl Checker<'_> {
    /// Sends the request, expects `status`, and checks the body against
    /// the schema documented for it; returns the body.
    async fn send(
        &self,
        method: &str,
        template: &str,
        status: u16,
        request: reqwest::RequestBuilder,
    ) -> Value {
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status().as_u16(), status, "{method} {template}");
        let content_type = answer.headers()["content-type"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .trim()
            .to_owned();
        let body: Value = answer.json().await.unwrap();
        let response = &self.doc["paths"][template][method]["responses"][status.to_string()];
        assert!(
            response.is_object(),
            "{method} {template} answered {status}, which is not documented"
        );
        let schema = &response["content"][&content_type]["schema"];
        assert!(
            schema.is_object(),
            "{method} {template} {status}: {content_type} is not documented: {response}"
        );
        let mut errors = Vec::new();
        validate(self.doc, &body, schema, "$", true, &mut errors);
        assert!(
            errors.is_empty(),
            "{method} {template} {status} does not match its schema: {errors:#?}\n{body:#}"
        );
        body
    }
}

/// The schema a `$ref` names, or the schema itself.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("a reference outside the components: {reference}"));
            let target = &doc["components"]["schemas"][name];
            assert!(target.is_object(), "{reference} names no schema");
            resolve(doc, target)
        }
        None => schema,
    }
}

/// The property names an object schema allows, its `allOf` parts' included.
fn known_properties(doc: &Value, schema: &Value, into: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    if let Some(properties) = schema["properties"].as_object() {
        into.extend(properties.keys().cloned());
    }
    for part in schema["allOf"].as_array().into_iter().flatten() {
        known_properties(doc, part, into);
    }
}

/// JSON Schema (the keywords utoipa writes) with one rule more: where
/// `strict`, an object may carry no property its schema does not name, so
/// a field sent but not documented is caught too.
fn validate(
    doc: &Value,
    value: &Value,
    schema: &Value,
    at: &str,
    strict: bool,
    errors: &mut Vec<String>,
) {
    let schema = resolve(doc, schema);
    for part in schema["allOf"].as_array().into_iter().flatten() {
        validate(doc, value, part, at, false, errors);
    }
    let matching = |parts: &Value| {
        parts
            .as_array()
            .into_iter()
            .flatten()
            .filter(|part| {
                let mut found = Vec::new();
                validate(doc, value, part, at, true, &mut found);
                found.is_empty()
            })
            .count()
    };
    if schema["oneOf"].is_array() && matching(&schema["oneOf"]) != 1 {
        errors.push(format!("{at}: not exactly one of oneOf: {value}"));
    }
    if schema["anyOf"].is_array() && matching(&schema["anyOf"]) == 0 {
        errors.push(format!("{at}: none of anyOf: {value}"));
    }
    if let Some(types) = match &schema["type"] {
        Value::String(t) => Some(vec![t.as_str()]),
        Value::Array(ts) => Some(ts.iter().filter_map(Value::as_str).collect()),
        _ => None,
    } {
        let is = |t: &str| match t {
            "null" => value.is_null(),
            "boolean" => value.is_boolean(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "string" => value.is_string(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            other => panic!("type {other} in the document"),
        };
        if !types.iter().any(|t| is(t)) {
            errors.push(format!("{at}: {value} is not {types:?}"));
            return;
        }
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(value) {
            errors.push(format!("{at}: {value} is not one of {allowed:?}"));
        }
    }
    if let Some(text) = value.as_str() {
        if schema["format"] == "date-time" && chrono::DateTime::parse_from_rfc3339(text).is_err() {
            errors.push(format!("{at}: {text:?} is not a date-time"));
        }
        let chars = text.chars().count() as u64;
        if schema["minLength"].as_u64().is_some_and(|min| chars < min)
            || schema["maxLength"].as_u64().is_some_and(|max| chars > max)
        {
            errors.push(format!("{at}: {text:?} is off its length"));
        }
    }
    if let Some(number) = value.as_f64() {
        if schema["minimum"].as_f64().is_some_and(|min| number < min)
            || schema["maximum"].as_f64().is_some_and(|max| number > max)
        {
            errors.push(format!("{at}: {number} is out of range"));
        }
    }
    if let Some(items) = value.as_array() {
        if schema["items"].is_object() {
            for (i, item) in items.iter().enumerate() {
                validate(
                    doc,
                    item,
                    &schema["items"],
                    &format!("{at}[{i}]"),
                    true,
                    errors,
                );
            }
        }
    }
    if let Some(object) = value.as_object() {
        for name in schema["required"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap();
            if !object.contains_key(name) {
                errors.push(format!("{at}: {name} is required"));
            }
        }
        let properties = schema["properties"].as_object();
        for (name, field) in object {
            let path = format!("{at}.{name}");
            match properties.and_then(|p| p.get(name)) {
                Some(property) => validate(doc, field, property, &path, true, errors),
                None => match &schema["additionalProperties"] {
                    Value::Object(_) => validate(
                        doc,
                        field,
                        &schema["additionalProperties"],
                        &path,
                        true,
                        errors,
                    ),
                    Value::Bool(true) => {}
                    // `{}` (any value, as an event's detail) names nothing.
                    _ if strict && (properties.is_some() || schema["allOf"].is_array()) => {
                        let mut known = Vec::new();
                        known_properties(doc, schema, &mut known);
                        if !known.contains(name) {
                            errors.push(format!("{path} is sent but not documented"));
                        }
                    }
                    _ => {}
                },
            }
        }
    }
}

/// The inventory's answers, its seed-shaped errors included, against the
/// schemas documented for them, under both prefixes.
#[tokio::test]
async fn inventory_answers_match_their_documented_schemas() {
    let app = spawn_app_with(Backend::Sqlite, |_| {}, true).await;
    let doc: Value = app
        .client
        .get(format!("{}/openapi.json", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let checker = Checker { doc: &doc };
    let form = |method: reqwest::Method, path: &str, body: &str| {
        app.client
            .request(method, format!("{}{path}", app.address))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned())
    };
    for prefix in ["", "/stackstudio/v1"] {
        let t = |template: &str| format!("{prefix}{template}");
        let created = checker
            .send(
                "post",
                &t("/provisioning/{id}"),
                201,
                form(
                    reqwest::Method::POST,
                    &t("/provisioning/Devx"),
                    &json!({"provisioned_version": {"stack_name": format!("Demo{prefix}"),
                            "version": "1.0.1", "environment": "Production"}})
                    .to_string(),
                ),
            )
            .await;
        let id = created["provisioned_version"]["id"].as_str().unwrap();
        let body = json!({"instances": [{"provisioned_instance": {"instance_type": "EC2",
            "instance_id": "i-1", "resource_id": "web", "properties": {"a": [1, {"b": null}]}}}]});
        let added = checker
            .send(
                "post",
                &t("/provisioning/{id}/instances"),
                200,
                form(
                    reqwest::Method::POST,
                    &t(&format!("/provisioning/{id}/instances")),
                    &body.to_string(),
                ),
            )
            .await;
        let instance = added["provisioned_version"]["provisioned_instances"][0]
            ["provisioned_instance"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        for template in ["/provisioning/{id}", "/provisioning/{id}.json"] {
            let path = t(template).replace("{id}", id);
            checker
                .send("get", &t(template), 200, get(&app, &path))
                .await;
        }
        checker
            .send(
                "get",
                &t("/provisioning"),
                200,
                get(&app, &t("/provisioning?project_id=Devx&limit=1")),
            )
            .await;
        checker
            .send(
                "get",
                &t("/provisioning"),
                400,
                get(&app, &t("/provisioning?limit=0")),
            )
            .await;
        checker
            .send(
                "post",
                &t("/provisioning/{id}"),
                400,
                form(reqwest::Method::POST, &t("/provisioning/Devx"), "{"),
            )
            .await;
        checker
            .send(
                "post",
                &t("/provisioning/{id}/instances"),
                400,
                form(
                    reqwest::Method::POST,
                    &t(&format!("/provisioning/{id}/instances")),
                    r#"{"instances": "web"}"#,
                ),
            )
            .await;
        let missing = "0123456789abcdef01234567";
        checker
            .send(
                "get",
                &t("/provisioning/{id}"),
                404,
                get(&app, &t(&format!("/provisioning/{missing}"))),
            )
            .await;
        checker
            .send(
                "delete",
                &t("/provisioning/{id}/instances/{instance_id}"),
                200,
                form(
                    reqwest::Method::DELETE,
                    &t(&format!("/provisioning/{id}/instances/{instance}")),
                    "",
                ),
            )
            .await;
        checker
            .send(
                "delete",
                &t("/provisioning/{id}/instances/{instance_id}"),
                404,
                form(
                    reqwest::Method::DELETE,
                    &t(&format!("/provisioning/{id}/instances/{instance}")),
                    "",
                ),
            )
            .await;
        checker
            .send(
                "delete",
                &t("/provisioning/{id}"),
                200,
                form(
                    reqwest::Method::DELETE,
                    &t(&format!("/provisioning/{id}")),
                    "",
                ),
            )
            .await;
        checker
            .send(
                "delete",
                &t("/provisioning/{id}"),
                404,
                form(
                    reqwest::Method::DELETE,
                    &t(&format!("/provisioning/{id}")),
                    "",
                ),
            )
            .await;
    }
}
