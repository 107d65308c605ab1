//! Variables per environment (DESIGN "Variables per environment", seed
//! 002): the levels and their merge, every refused input (which changes
//! nothing), Chalice's file in and out, dotenv sourced by a real bash,
//! project scoping, secrets (sealed, never shown anywhere but to a runner)
//! and the rotation of their key.

use std::collections::{BTreeMap, HashMap};
use std::process::Command;

use base64::Engine;
use greenlight::db::Manager;
use greenlight::environments::released_to_runner;
use greenlight::sealed::{SealKey, Sealer};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{cli, log_file, spawn_app_with, start, Backend, Service, TestApp, TestDb};

both_backends!(
    levels_merge_key_by_key_and_unset_hides,
    bad_input_is_refused_naming_the_field_and_changes_nothing,
    a_level_holds_a_thousand_variables,
    the_seeds_chalice_config_imports_exactly_and_round_trips,
    a_bad_chalice_file_is_refused_whole,
    dotenv_sourced_by_bash_expands_and_runs_nothing,
    project_keys_see_their_project_only,
    a_secret_without_an_encryption_key_is_a_409,
    a_planted_secret_is_found_nowhere_but_in_a_runners_variables,
    secrets_survive_a_key_rotation_and_no_row_needs_the_old_key,
);

/// The seed's example `.chalice/config.json` (seeds/002), as its last
/// block gives it.
const SEED_CONFIG: &str = r#"{
  "version": "2.0",
  "app_name": "example",
  "environment_variables": {
    "global": "same variable for any stage"
  },
  "stages": {
	"dev": {
	  "api_gateway_stage": "dev",
	  "environment_variables": {
		"test": "test environment variable"
	  }
	},
	"prod": {
	  "api_gateway_stage": "prod",
	  "environment_variables": {
		"test": "prod variable"
	  }
	}
  }
}"#;

fn key(byte: u8) -> String {
    base64::engine::general_purpose::STANDARD.encode([byte; 32])
}

fn sealer(current: u8, previous: Option<u8>) -> Sealer {
    Sealer::new(
        Some(SealKey::parse(&key(current)).unwrap()),
        previous.map(|p| SealKey::parse(&key(p)).unwrap()),
    )
}

async fn app(backend: Backend, configure: impl FnOnce(&mut HashMap<String, String>)) -> TestApp {
    spawn_app_with(backend, configure, true).await
}

async fn keyed_app(backend: Backend) -> TestApp {
    app(backend, |env| {
        env.insert("GREENLIGHT_ENCRYPTION_KEY".into(), key(1));
    })
    .await
}

/// A request to `address` with `key` (if any): (status, body as JSON or
/// as a string).
async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = client.request(method, url);
    if let Some(key) = key {
        request = request.header("X-API-Key", key);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn put(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    call(
        &app.client,
        reqwest::Method::PUT,
        format!("{}{path}", app.address),
        None,
        Some(body),
    )
    .await
}

async fn delete(app: &TestApp, path: &str) -> (u16, Value) {
    call(
        &app.client,
        reqwest::Method::DELETE,
        format!("{}{path}", app.address),
        None,
        None,
    )
    .await
}

async fn get(app: &TestApp, path: &str) -> (u16, Value) {
    call(
        &app.client,
        reqwest::Method::GET,
        format!("{}{path}", app.address),
        None,
        None,
    )
    .await
}

async fn get_text(app: &TestApp, path: &str) -> String {
    let response = app
        .client
        .get(format!("{}{path}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.unwrap()
}

fn open_conn(db: &TestDb) -> greenlight::db::DbConnection {
    Manager::new(&db.url).establish().unwrap()
}

async fn levels_merge_key_by_key_and_unset_hides(backend: Backend) {
    let app = app(backend, |_| {}).await;
    for (name, value) in [
        ("REGION", "eu-west-1"),
        ("LOG_LEVEL", "info"),
        ("ONLY_PROJECT", "p"),
    ] {
        let (status, body) = put(
            &app,
            &format!("/projects/Devx/variables/{name}"),
            json!({"value": value}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body,
            json!({"name": name, "environment": null, "value": value, "secret": false, "unset": false})
        );
    }
    let (status, _) = put(
        &app,
        "/projects/Devx/environments/Production/variables/LOG_LEVEL",
        json!({"value": "warn"}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = put(
        &app,
        "/projects/devx/environments/production/variables/ONLY_PROJECT",
        json!({"unset": true}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["unset"], true);
    assert_eq!(body["value"], Value::Null);
    put(
        &app,
        "/projects/Devx/environments/Production/variables/ONLY_PROD",
        json!({"value": "x", "secret": false}),
    )
    .await;

    // Merged, case-insensitively for the project and environment.
    let (status, merged) = get(&app, "/projects/DEVX/environments/production/variables").await;
    assert_eq!(status, 200);
    assert_eq!(
        merged,
        json!({"variables": {
            "LOG_LEVEL": {"value": "warn", "secret": false, "from": "environment"},
            "ONLY_PROD": {"value": "x", "secret": false, "from": "environment"},
            "REGION": {"value": "eu-west-1", "secret": false, "from": "project"},
        }})
    );
    // Another environment sees the project's level only.
    let (_, staging) = get(
        &app,
        "/projects/Devx/environments/staging/variables?format=json",
    )
    .await;
    assert_eq!(
        staging,
        json!({"LOG_LEVEL": "info", "ONLY_PROJECT": "p", "REGION": "eu-west-1"})
    );
    // Names are case-sensitive.
    put(
        &app,
        "/projects/Devx/variables/region",
        json!({"value": "lower"}),
    )
    .await;
    let (_, flat) = get(
        &app,
        "/projects/Devx/environments/staging/variables?format=json",
    )
    .await;
    assert_eq!(flat["region"], "lower");
    assert_eq!(flat["REGION"], "eu-west-1");

    // Both levels as stored.
    let (_, stored) = get(&app, "/projects/Devx/variables").await;
    assert_eq!(
        stored["variables"]["REGION"],
        json!({"value": "eu-west-1", "secret": false, "unset": false})
    );
    assert_eq!(
        stored["environments"]["Production"]["ONLY_PROJECT"],
        json!({"value": null, "secret": false, "unset": true})
    );
    assert_eq!(
        stored["environments"]["Production"]["LOG_LEVEL"]["value"],
        "warn"
    );

    // Deleting the environment's entries shows the project's again.
    assert_eq!(
        delete(
            &app,
            "/projects/Devx/environments/Production/variables/LOG_LEVEL"
        )
        .await
        .0,
        204
    );
    assert_eq!(
        delete(
            &app,
            "/projects/Devx/environments/Production/variables/ONLY_PROJECT"
        )
        .await
        .0,
        204
    );
    let (_, flat) = get(
        &app,
        "/projects/Devx/environments/Production/variables?format=json",
    )
    .await;
    assert_eq!(flat["LOG_LEVEL"], "info");
    assert_eq!(flat["ONLY_PROJECT"], "p");
    assert_eq!(delete(&app, "/projects/Devx/variables/REGION").await.0, 204);
    let (status, problem) = delete(&app, "/projects/Devx/variables/REGION").await;
    assert_eq!(status, 404);
    assert_eq!(problem["type"], "urn:greenlight:problem:variable-not-found");

    // Every change is in the project's trail, by kind.
    let (_, events) = get(&app, "/projects/Devx/events?limit=200").await;
    let kinds: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "variable.set").count(),
        6,
        "{kinds:?}"
    );
    assert_eq!(kinds.iter().filter(|k| **k == "variable.unset").count(), 1);
    assert_eq!(
        kinds.iter().filter(|k| **k == "variable.deleted").count(),
        3
    );

    // What a runner is given: the same merge, with values.
    let mut conn = open_conn(&app.db);
    let released = released_to_runner(&mut conn, &Sealer::default(), "devx", "PRODUCTION").unwrap();
    assert_eq!(
        released,
        BTreeMap::from([
            ("LOG_LEVEL".to_owned(), "info".to_owned()),
            ("ONLY_PROD".to_owned(), "x".to_owned()),
            ("ONLY_PROJECT".to_owned(), "p".to_owned()),
            ("region".to_owned(), "lower".to_owned()),
        ])
    );
}

/// Everything stored, to compare before and after a refusal.
async fn snapshot(app: &TestApp) -> (Value, i64) {
    let (_, stored) = get(app, "/projects/Devx/variables").await;
    (stored, app.db.count("SELECT COUNT(*) FROM events"))
}

async fn bad_input_is_refused_naming_the_field_and_changes_nothing(backend: Backend) {
    let app = app(backend, |_| {}).await;
    put(
        &app,
        "/projects/Devx/variables/KEEP",
        json!({"value": "kept"}),
    )
    .await;
    let before = snapshot(&app).await;
    let too_long = "N".repeat(129);
    let cases: Vec<(String, Value, &str)> = vec![
        (
            "/projects/Devx/variables/1ABC".into(),
            json!({"value": "v"}),
            "name",
        ),
        (
            "/projects/Devx/variables/GREENLIGHT_X".into(),
            json!({"value": "v"}),
            "name",
        ),
        (
            "/projects/Devx/variables/A-B".into(),
            json!({"value": "v"}),
            "name",
        ),
        (
            format!("/projects/Devx/variables/{too_long}"),
            json!({"value": "v"}),
            "name",
        ),
        (
            "/projects/Devx/environments/prod/variables/A%20B".into(),
            json!({"value": "v"}),
            "name",
        ),
        (
            "/projects/Devx/variables/BIG".into(),
            json!({"value": "x".repeat(64 * 1024 + 1)}),
            "value",
        ),
        (
            "/projects/Devx/variables/NUMBER".into(),
            json!({"value": 3}),
            "value",
        ),
        ("/projects/Devx/variables/NONE".into(), json!({}), "value"),
        (
            "/projects/Devx/variables/FLAG".into(),
            json!({"value": "v", "secret": "yes"}),
            "secret",
        ),
        (
            "/projects/Devx/variables/KEEP".into(),
            json!({"unset": true}),
            "unset",
        ),
        (
            "/projects/Devx/environments/prod/variables/KEEP".into(),
            json!({"unset": true, "value": "v"}),
            "unset",
        ),
        (
            "/projects/%20/variables/A".into(),
            json!({"value": "v"}),
            "team_project",
        ),
    ];
    for (path, body, field) in cases {
        let (status, problem) = put(&app, &path, body).await;
        assert_eq!(status, 422, "{path}: {problem}");
        assert_eq!(
            problem["type"], "urn:greenlight:problem:validation-error",
            "{path}"
        );
        assert!(
            problem["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == field),
            "{path}: {problem}"
        );
    }
    // An empty name is no variable route at all: a problem all the same.
    let (status, problem) = put(&app, "/projects/Devx/variables/", json!({"value": "v"})).await;
    assert!(status == 404 || status == 405, "{status}");
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .starts_with("urn:greenlight:problem:"),
        "{problem}"
    );
    // Not JSON; not labelled JSON; an unknown format.
    let response = app
        .client
        .put(format!("{}/projects/Devx/variables/A", app.address))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let response = app
        .client
        .put(format!("{}/projects/Devx/variables/A", app.address))
        .body(r#"{"value": "v"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let (status, problem) = get(
        &app,
        "/projects/Devx/environments/prod/variables?format=yaml",
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(problem["errors"][0]["field"], "format");
    let (status, problem) = put(&app, "/projects/Devx/variables", json!({"version": "2.0"})).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "format");
    // A body past 512 KiB is refused before it is read.
    let (status, _) = put(
        &app,
        "/projects/Devx/variables/HUGE",
        json!({"value": "x".repeat(600 * 1024)}),
    )
    .await;
    assert_eq!(status, 413);

    assert_eq!(snapshot(&app).await, before, "nothing changed");
}

async fn a_level_holds_a_thousand_variables(backend: Backend) {
    let app = app(backend, |_| {}).await;
    // A thousand through one import (a request each would be slow).
    let project: serde_json::Map<String, Value> = (0..1000)
        .map(|i| (format!("V{i:04}"), json!("v")))
        .collect();
    let (status, body) = put(
        &app,
        "/projects/Devx/variables?format=chalice",
        json!({"version": "2.0", "environment_variables": project}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["set"], 1000);
    let before = snapshot(&app).await;
    let (status, problem) = put(
        &app,
        "/projects/Devx/variables/V1000",
        json!({"value": "v"}),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "name");
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("1000"),
        "{problem}"
    );
    assert_eq!(snapshot(&app).await, before);
    // An existing one can still change; another level has room.
    assert_eq!(
        put(
            &app,
            "/projects/Devx/variables/V0999",
            json!({"value": "w"})
        )
        .await
        .0,
        200
    );
    assert_eq!(
        put(
            &app,
            "/projects/Devx/environments/prod/variables/V1000",
            json!({"value": "v"})
        )
        .await
        .0,
        200
    );
    // A file with 1,001 at a level is refused whole.
    let over: serde_json::Map<String, Value> = (0..1001)
        .map(|i| (format!("W{i:04}"), json!("v")))
        .collect();
    let before = snapshot(&app).await;
    let (status, problem) = put(
        &app,
        "/projects/Devx/variables?format=chalice",
        json!({"version": "2.0", "environment_variables": over}),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "environment_variables");
    assert_eq!(snapshot(&app).await, before);
}

async fn import_seed(app: &TestApp, project: &str) -> Value {
    let response = app
        .client
        .put(format!(
            "{}/projects/{project}/variables?format=chalice",
            app.address
        ))
        .header("content-type", "application/json")
        .body(SEED_CONFIG)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn the_seeds_chalice_config_imports_exactly_and_round_trips(backend: Backend) {
    let app = app(backend, |_| {}).await;
    // Something the file does not name is removed.
    put(
        &app,
        "/projects/example/environments/dev/variables/STALE",
        json!({"value": "old"}),
    )
    .await;
    let summary = import_seed(&app, "example").await;
    assert_eq!(
        summary,
        json!({"set": 3, "deleted": 1, "unchanged": 0, "secrets_kept": 0})
    );

    let (_, dev) = get(
        &app,
        "/projects/example/environments/dev/variables?format=json",
    )
    .await;
    assert_eq!(
        dev,
        json!({"global": "same variable for any stage", "test": "test environment variable"})
    );
    let (_, prod) = get(&app, "/projects/example/environments/prod/variables").await;
    assert_eq!(
        prod,
        json!({"variables": {
            "global": {"value": "same variable for any stage", "secret": false, "from": "project"},
            "test": {"value": "prod variable", "secret": false, "from": "environment"},
        }})
    );

    // Out: the seed's file without Chalice's own keys.
    let (status, exported) = get(&app, "/projects/example/variables?format=chalice").await;
    assert_eq!(status, 200);
    let mut expected: Value = serde_json::from_str(SEED_CONFIG).unwrap();
    for stage in ["dev", "prod"] {
        expected["stages"][stage]
            .as_object_mut()
            .unwrap()
            .remove("api_gateway_stage");
    }
    assert_eq!(exported, expected);

    // And in again: nothing changes.
    let (status, again) = put(&app, "/projects/example/variables?format=chalice", exported).await;
    assert_eq!(status, 200);
    assert_eq!(
        again,
        json!({"set": 0, "deleted": 0, "unchanged": 3, "secrets_kept": 0})
    );
    let (_, prod_again) = get(&app, "/projects/example/environments/prod/variables").await;
    assert_eq!(prod_again, prod);
}

async fn a_bad_chalice_file_is_refused_whole(backend: Backend) {
    let app = app(backend, |_| {}).await;
    import_seed(&app, "Devx").await;
    let before = snapshot(&app).await;
    let cases = [
        (
            json!({"version": "3.0", "environment_variables": {"A": "a"}}),
            "version",
        ),
        (json!({"environment_variables": {"A": "a"}}), "version"),
        (
            json!({"version": "2.0", "environment_variables": {"A": "a", "B": 1}}),
            "environment_variables",
        ),
        (
            json!({"version": "2.0", "environment_variables": {"A": "a"}, "stages": {"dev": {"environment_variables": {"C": true}}}}),
            "stages",
        ),
        (
            json!({"version": "2.0", "stages": {"dev": "not an object"}}),
            "stages",
        ),
        (json!({"version": "2.0", "stages": ["dev"]}), "stages"),
        (
            json!({"version": "2.0", "environment_variables": {"1ABC": "a"}}),
            "environment_variables",
        ),
        (
            json!({"version": "2.0", "environment_variables": {"GREENLIGHT_X": "a"}}),
            "environment_variables",
        ),
        (
            json!({"version": "2.0", "environment_variables": {"": "a"}}),
            "environment_variables",
        ),
        (
            json!({"version": "2.0", "environment_variables": {"A-B": "a"}}),
            "environment_variables",
        ),
        (
            json!({"version": "2.0", "stages": {"dev": {"environment_variables": {"BIG": "x".repeat(64 * 1024 + 1)}}}}),
            "stages",
        ),
        (
            json!({"version": "2.0", "stages": {"Dev": {}, "dev": {}}}),
            "stages",
        ),
    ];
    for (file, field) in cases {
        let (status, problem) = put(
            &app,
            "/projects/Devx/variables?format=chalice",
            file.clone(),
        )
        .await;
        assert_eq!(status, 422, "{file}: {problem}");
        assert!(
            problem["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == field),
            "{file}: {problem}"
        );
    }
    let (status, _) = put(
        &app,
        "/projects/Devx/variables?format=chalice",
        json!(["not", "a", "file"]),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        snapshot(&app).await,
        before,
        "the stored variables are untouched"
    );
}

/// Values a shell would expand, run or split on if they were not quoted
/// right.
fn hostile_values() -> Vec<(&'static str, String)> {
    vec![
        ("SINGLE", "it's 'quoted'".to_owned()),
        ("DOUBLE", r#"say "hi""#.to_owned()),
        (
            "DOLLAR",
            "$HOME ${PATH} $(touch /tmp/pwned-dollar)".to_owned(),
        ),
        ("BACKTICK", "`touch /tmp/pwned-backtick`".to_owned()),
        (
            "NEWLINES",
            "line one\nline two\n\nexport PWNED=1\n".to_owned(),
        ),
        ("BACKSLASH", r"C:\path\n\t\\ end\".to_owned()),
        (
            "SEMICOLON",
            "a; touch /tmp/pwned-semi && echo x | cat".to_owned(),
        ),
        ("EMPTY", String::new()),
        ("SPACES", "  leading and trailing  ".to_owned()),
        ("UNICODE", "naïve — 日本 ✓".to_owned()),
        ("QUOTES_END", "'".to_owned()),
        ("BANG", "!! !$ \\'".to_owned()),
    ]
}

async fn dotenv_sourced_by_bash_expands_and_runs_nothing(backend: Backend) {
    let app = app(backend, |_| {}).await;
    let values = hostile_values();
    for (name, value) in &values {
        let (status, body) = put(
            &app,
            &format!("/projects/Devx/environments/prod/variables/{name}"),
            json!({"value": value}),
        )
        .await;
        assert_eq!(status, 200, "{name}: {body}");
    }
    let dotenv = get_text(
        &app,
        "/projects/Devx/environments/prod/variables?format=dotenv",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vars.env");
    std::fs::write(&file, &dotenv).unwrap();
    let marker = dir.path().join("pwned");
    // `env -0`: values with newlines stay whole.
    let out = Command::new("bash")
        .arg("-c")
        .arg(r#"set -a; source "$1"; set +a; env -0"#)
        .arg("bash")
        .arg(&file)
        .env_clear()
        .env("HOME", "/nonexistent-home")
        .env("PATH", "/usr/bin:/bin")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let env: HashMap<String, String> = out
        .stdout
        .split(|b| *b == 0)
        .filter(|e| !e.is_empty())
        .filter_map(|e| {
            let e = String::from_utf8(e.to_vec()).unwrap();
            e.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned()))
        })
        .collect();
    for (name, value) in &values {
        assert_eq!(env.get(*name), Some(value), "{name} in:\n{dotenv}");
    }
    assert!(!env.contains_key("PWNED"));
    for pwned in [
        "/tmp/pwned-dollar",
        "/tmp/pwned-backtick",
        "/tmp/pwned-semi",
    ] {
        assert!(!std::path::Path::new(pwned).exists(), "{pwned}");
    }
    assert!(!marker.exists());
    // The JSON format holds the same values.
    let (_, flat) = get(
        &app,
        "/projects/Devx/environments/prod/variables?format=json",
    )
    .await;
    for (name, value) in &values {
        assert_eq!(flat[name], json!(value));
    }
}

fn create_key(env: &HashMap<String, String>, project: Option<&str>) -> String {
    let mut args = vec!["api-key", "create"];
    match project {
        Some(p) => args.extend(["--project", p]),
        None => args.push("--admin"),
    }
    let (ok, key, err) = cli(env, &args);
    assert!(ok, "{err}");
    key.trim().to_owned()
}

async fn with_key(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    call(
        &app.client,
        method,
        format!("{}{path}", app.address),
        key,
        body,
    )
    .await
}

async fn project_keys_see_their_project_only(backend: Backend) {
    let app = app(backend, |env| {
        env.insert("GREENLIGHT_REQUIRE_API_KEY".into(), "true".into());
    })
    .await;
    let devx = create_key(&app.env, Some("Devx"));
    let admin = create_key(&app.env, None);
    use reqwest::Method as M;
    assert_eq!(
        with_key(
            &app,
            M::PUT,
            "/projects/Devx/variables/A",
            Some(&devx),
            Some(json!({"value": "a"}))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        with_key(
            &app,
            M::PUT,
            "/projects/Other/variables/A",
            Some(&admin),
            Some(json!({"value": "o"}))
        )
        .await
        .0,
        200
    );
    let before = app.db.count("SELECT COUNT(*) FROM variables")
        + app.db.count("SELECT COUNT(*) FROM events");
    let chalice = json!({"version": "2.0"});
    for (method, path, body) in [
        (
            M::PUT,
            "/projects/Other/variables/A",
            Some(json!({"value": "x"})),
        ),
        (M::DELETE, "/projects/other/variables/A", None),
        (
            M::PUT,
            "/projects/Other/environments/prod/variables/A",
            Some(json!({"unset": true})),
        ),
        (
            M::DELETE,
            "/projects/Other/environments/prod/variables/A",
            None,
        ),
        (M::GET, "/projects/Other/environments/prod/variables", None),
        (
            M::GET,
            "/projects/Other/environments/prod/variables?format=dotenv",
            None,
        ),
        (M::GET, "/projects/Other/variables", None),
        (M::GET, "/projects/Other/variables?format=chalice", None),
        (
            M::PUT,
            "/projects/Other/variables?format=chalice",
            Some(chalice.clone()),
        ),
    ] {
        let (status, problem) =
            with_key(&app, method.clone(), path, Some(&devx), body.clone()).await;
        assert_eq!(status, 403, "{method} {path}: {problem}");
        assert_eq!(problem["type"], "urn:greenlight:problem:forbidden");
        let (status, _) = with_key(&app, method.clone(), path, None, body).await;
        assert_eq!(status, 401, "{method} {path}");
    }
    let after = app.db.count("SELECT COUNT(*) FROM variables")
        + app.db.count("SELECT COUNT(*) FROM events");
    assert_eq!(before, after, "nothing changed");
    // Its own project, any case; the admin key sees all.
    let (status, own) = with_key(
        &app,
        M::GET,
        "/projects/DEVX/environments/prod/variables?format=json",
        Some(&devx),
        None,
    )
    .await;
    assert_eq!((status, own), (200, json!({"A": "a"})));
    let (status, other) = with_key(
        &app,
        M::GET,
        "/projects/Other/variables",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(other["variables"]["A"]["value"], "o");
    // The events name the key that acted.
    let (_, events) = with_key(
        &app,
        M::GET,
        "/projects/Devx/events?type=variable.set",
        Some(&devx),
        None,
    )
    .await;
    let actor = events["events"][0]["actor"].as_str().unwrap().to_owned();
    assert!(actor.starts_with("key "), "{events}");
}

async fn a_secret_without_an_encryption_key_is_a_409(backend: Backend) {
    let app = app(backend, |_| {}).await;
    for path in [
        "/projects/Devx/variables/TOKEN",
        "/projects/Devx/environments/prod/variables/TOKEN",
    ] {
        let (status, problem) =
            put(&app, path, json!({"value": "nope-s3cr3t", "secret": true})).await;
        assert_eq!(status, 409, "{problem}");
        assert_eq!(
            problem["type"],
            "urn:greenlight:problem:encryption-key-required"
        );
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.contains("GREENLIGHT_ENCRYPTION_KEY")
                && detail.contains("openssl rand -base64 32"),
            "{detail}"
        );
        assert!(!problem.to_string().contains("nope-s3cr3t"));
    }
    assert_eq!(app.db.count("SELECT COUNT(*) FROM variables"), 0);
    assert_eq!(app.db.count("SELECT COUNT(*) FROM events"), 0);
}

/// Every row of every table, as text (PostgreSQL), or the database files'
/// bytes (SQLite: the file and its write-ahead log).
fn whole_database(db: &TestDb, backend: Backend) -> Vec<u8> {
    match backend {
        Backend::Sqlite => {
            let mut bytes = Vec::new();
            for suffix in ["", "-wal", "-journal"] {
                if let Ok(b) = std::fs::read(format!("{}{suffix}", db.url)) {
                    bytes.extend(b);
                }
            }
            assert!(bytes.len() > 4096, "the database file was read");
            bytes
        }
        Backend::Postgres => {
            let tables = db.texts(
                "information_schema.tables WHERE table_schema = 'public'",
                "table_name",
            );
            assert!(tables.contains(&"variables".to_owned()), "{tables:?}");
            let mut text = String::new();
            for table in tables {
                for row in db.texts(&format!("{table} AS r"), "r") {
                    text.push_str(&row);
                    text.push('\n');
                }
            }
            text.into_bytes()
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

async fn a_planted_secret_is_found_nowhere_but_in_a_runners_variables(backend: Backend) {
    const PLANTED: &str = "pl4nted-s3cr3t-7f3a9c";
    let db = TestDb::new(backend);
    let smtp = crate::helpers::SmtpServer::start();
    let approvers = wiremock::MockServer::start().await;
    let mut env = crate::helpers::test_env(&db, smtp.port, &approvers);
    env.insert("GREENLIGHT_ENCRYPTION_KEY".into(), key(5));
    env.insert("RUST_LOG".into(), "debug".into());
    env.insert("GREENLIGHT_REQUIRE_API_KEY".into(), "true".into());
    let service = Service::start_on(
        &env,
        crate::helpers::free_port(),
        &log_file("variables-secret"),
    )
    .await;
    let admin = create_key(&env, None);
    let client = reqwest::Client::new();
    let mut answers: Vec<String> = Vec::new();
    let send = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let request = client
            .request(method, format!("{}{path}", service.address))
            .header("X-API-Key", &admin);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let headers = format!("{:?}", response.headers());
            (
                status,
                format!("{headers}\n{}", response.text().await.unwrap()),
            )
        }
    };
    let keep = |(status, text): (u16, String), expected: u16, answers: &mut Vec<String>| {
        assert_eq!(status, expected, "{text}");
        answers.push(text);
    };
    use reqwest::Method as M;
    keep(
        send(
            M::PUT,
            "/projects/Devx/variables/DB_PASSWORD",
            Some(json!({"value": PLANTED, "secret": true})),
        )
        .await,
        200,
        &mut answers,
    );
    keep(
        send(
            M::PUT,
            "/projects/Devx/environments/prod/variables/API_TOKEN",
            Some(json!({"value": PLANTED, "secret": true})),
        )
        .await,
        200,
        &mut answers,
    );
    keep(
        send(
            M::PUT,
            "/projects/Devx/variables/PLAIN",
            Some(json!({"value": "visible"})),
        )
        .await,
        200,
        &mut answers,
    );
    // A refused write that carried it: the problem does not echo it.
    keep(
        send(
            M::PUT,
            "/projects/Devx/variables/BAD-NAME",
            Some(json!({"value": PLANTED, "secret": true})),
        )
        .await,
        422,
        &mut answers,
    );
    keep(
        send(
            M::PUT,
            "/projects/Devx/variables/NOTSTR",
            Some(json!({"value": [PLANTED], "secret": true})),
        )
        .await,
        422,
        &mut answers,
    );
    // A Chalice import keeps the secrets it does not name.
    let (status, text) = send(
        M::PUT,
        "/projects/Devx/variables?format=chalice",
        Some(json!({"version": "2.0", "environment_variables": {"PLAIN": "visible"}})),
    )
    .await;
    assert!(text.contains(r#""secrets_kept":2"#), "{text}");
    keep((status, text), 200, &mut answers);
    for path in [
        "/projects/Devx/environments/prod/variables",
        "/projects/Devx/environments/prod/variables?format=dotenv",
        "/projects/Devx/environments/prod/variables?format=json",
        "/projects/Devx/environments/staging/variables",
        "/projects/Devx/variables",
        "/projects/Devx/variables?format=chalice",
        "/projects/Devx/events?limit=200",
        "/projects/Devx/events?type=variable.set",
        "/openapi.json",
        "/metrics",
    ] {
        keep(send(M::GET, path, None).await, 200, &mut answers);
    }
    let merged = &answers[answers.len() - 10];
    assert!(
        merged.contains(r#""DB_PASSWORD":{"value":null,"secret":true,"from":"project"}"#),
        "{merged}"
    );
    assert!(
        merged.contains(r#""API_TOKEN":{"value":null,"secret":true,"from":"environment"}"#),
        "{merged}"
    );
    let events = &answers[answers.len() - 4];
    assert!(
        events.contains("DB_PASSWORD") && events.contains("variable.set"),
        "a secret's event names it: {events}"
    );
    // The dashboard's pages: masked.
    for path in [
        "/ui/projects/Devx/variables",
        "/ui/projects/devx/environments/prod/variables",
    ] {
        let (status, page) = send(M::GET, path, None).await;
        assert_eq!(status, 200, "{page}");
        assert!(
            page.contains("DB_PASSWORD") && page.contains("•••••• secret"),
            "{page}"
        );
        assert!(page.contains("visible"), "plain values are shown: {page}");
        answers.push(page);
    }
    // The CLI's list, both ways.
    for args in [
        vec!["vars", "list", "--project", "Devx"],
        vec!["vars", "list", "--project", "Devx", "--environment", "prod"],
    ] {
        let (ok, out, err) = cli(&env, &args);
        assert!(ok, "{err}");
        assert!(
            out.contains("DB_PASSWORD") && out.contains("(secret)"),
            "{out}"
        );
        answers.push(out);
        answers.push(err);
    }
    // Deleting one is an event too, without the value.
    keep(
        send(
            M::DELETE,
            "/projects/Devx/environments/prod/variables/API_TOKEN",
            None,
        )
        .await,
        204,
        &mut answers,
    );

    // The one place it may be: what a runner is given.
    let mut conn = open_conn(&db);
    let released = released_to_runner(&mut conn, &sealer(5, None), "devx", "prod").unwrap();
    assert_eq!(released["DB_PASSWORD"], PLANTED);
    drop(conn);
    service.terminate();
    for _ in 0..100 {
        if service.output().contains("stopped") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let log = service.output();
    assert!(
        log.contains("DEBUG") || log.contains("debug"),
        "the log was captured at debug: {log}"
    );
    let rows = whole_database(&db, backend);
    assert!(contains(&rows, "DB_PASSWORD"), "the search sees the rows");
    for (place, text) in [
        ("an answer", answers.join("\n").into_bytes()),
        ("the database", rows),
        ("the log", log.into_bytes()),
    ] {
        assert!(!contains(&text, PLANTED), "the secret is in {place}");
    }
}

async fn secrets_survive_a_key_rotation_and_no_row_needs_the_old_key(backend: Backend) {
    // Key A (byte 1).
    let app = keyed_app(backend).await;
    for (path, value) in [
        ("/projects/Devx/variables/DB_PASSWORD", "under-a-project"),
        (
            "/projects/Devx/environments/prod/variables/API_TOKEN",
            "under-a-prod",
        ),
    ] {
        let (status, body) = put(&app, path, json!({"value": value, "secret": true})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["value"], Value::Null);
    }
    put(
        &app,
        "/projects/Devx/variables/PLAIN",
        json!({"value": "plain"}),
    )
    .await;

    // Restarted with B (byte 2), A as previous: old secrets still open, new
    // ones are sealed under B.
    let mut rotated = app.env.clone();
    rotated.insert("GREENLIGHT_ENCRYPTION_KEY".into(), key(2));
    rotated.insert("GREENLIGHT_ENCRYPTION_KEY_PREVIOUS".into(), key(1));
    let replica = start(&rotated).await;
    let (status, _) = call(
        &app.client,
        reqwest::Method::PUT,
        format!("{replica}/projects/Devx/environments/prod/variables/NEW_TOKEN"),
        None,
        Some(json!({"value": "under-b", "secret": true})),
    )
    .await;
    assert_eq!(status, 200);
    let expected = BTreeMap::from([
        ("API_TOKEN".to_owned(), "under-a-prod".to_owned()),
        ("DB_PASSWORD".to_owned(), "under-a-project".to_owned()),
        ("NEW_TOKEN".to_owned(), "under-b".to_owned()),
        ("PLAIN".to_owned(), "plain".to_owned()),
    ]);
    let mut conn = open_conn(&app.db);
    assert_eq!(
        released_to_runner(&mut conn, &sealer(2, Some(1)), "Devx", "prod").unwrap(),
        expected
    );
    assert!(
        released_to_runner(&mut conn, &sealer(2, None), "Devx", "prod").is_err(),
        "A is still needed"
    );

    // The real command re-seals.
    let (ok, _, err) = cli(&rotated, &["rotate-encryption-key"]);
    assert!(ok, "{err}");
    assert!(err.contains("stored credentials sealed"), "{err}");

    // A removed: every secret still reaches a runner.
    assert_eq!(
        released_to_runner(&mut conn, &sealer(2, None), "Devx", "prod").unwrap(),
        expected
    );
    let stored = app.db.texts("variables WHERE secret", "value");
    assert_eq!(stored.len(), 3);
    for value in &stored {
        assert!(value.starts_with("sealed:v1:"), "{value}");
        assert!(sealer(2, None).open(value).is_ok(), "B alone opens it");
        assert!(sealer(1, None).open(value).is_err(), "no row only A opens");
    }
    // A service with B alone answers the people's routes as before.
    let mut only_b = rotated.clone();
    only_b.remove("GREENLIGHT_ENCRYPTION_KEY_PREVIOUS");
    let after = start(&only_b).await;
    let (status, merged) = call(
        &app.client,
        reqwest::Method::GET,
        format!("{after}/projects/Devx/environments/prod/variables"),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        merged["variables"]["NEW_TOKEN"],
        json!({"value": null, "secret": true, "from": "environment"})
    );
    // The CLI sets a secret from standard input under B.
    let mut child = Command::new(env!("CARGO_BIN_EXE_greenlight"))
        .args([
            "vars",
            "set",
            "--project",
            "Devx",
            "--environment",
            "prod",
            "CLI_TOKEN",
            "--secret",
        ])
        .env_clear()
        .envs(&only_b)
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from-stdin\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let released = released_to_runner(&mut conn, &sealer(2, None), "Devx", "prod").unwrap();
    assert_eq!(released["CLI_TOKEN"], "from-stdin");
}
