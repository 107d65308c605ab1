//! Environments: the staging and production gates of one release are two
//! approval rounds; projects and environments match case-insensitively;
//! databases from before environments migrate with `production`.

use diesel::RunQueryDsl;
use diesel_migrations::MigrationHarness;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{spawn_app, Backend, TestDb};

both_backends!(
    staging_and_production_of_one_release_are_separate,
    projects_and_environments_match_case_insensitively,
    the_get_route_takes_the_environment,
    a_bad_environment_is_refused,
    releases_stored_before_environments_migrate_to_production,
);

fn body(id: &str, project: &str, environment: Option<&str>) -> Value {
    let mut b = json!({"ReleaseName": "Desafio-CD", "ReleaseId": id, "TeamProject": project});
    if let Some(env) = environment {
        b["Environment"] = json!(env);
    }
    b
}

async fn staging_and_production_of_one_release_are_separate(backend: Backend) {
    let app = spawn_app(backend).await;
    let staging = app
        .post_release(&body("386", "Devx", Some("staging")))
        .await;
    assert_eq!(staging.status(), 202);
    let staging: Value = staging.json().await.unwrap();
    assert_eq!(staging["environment"], "staging");
    let mails = app.wait_for_mails(2).await;
    assert!(
        mails[0].subject.contains("[staging]"),
        "{}",
        mails[0].subject
    );
    assert!(mails[0].text.contains("staging"));
    for mail in &mails {
        assert_eq!(app.approve(&mail.token()).await.status(), 200);
    }
    assert_eq!(
        app.post_release(&body("386", "Devx", Some("staging")))
            .await
            .json::<Value>()
            .await
            .unwrap()["status"],
        "approved"
    );
    // The production gate of the same release asks again.
    let production = app.post_release(&body("386", "Devx", None)).await;
    assert_eq!(production.status(), 202, "a new approval round");
    let production: Value = production.json().await.unwrap();
    assert_eq!(production["status"], "pending");
    assert_eq!(production["environment"], "production");
    app.wait_for_mails(4).await;
    assert_eq!(app.db.count("SELECT COUNT(*) FROM releases"), 2);
}

async fn projects_and_environments_match_case_insensitively(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(
        app.post_release(&body("7", "DevX", Some("Staging")))
            .await
            .status(),
        202
    );
    for (project, env) in [
        ("devx", "staging"),
        ("DEVX", "STAGING"),
        ("DevX", "staging"),
    ] {
        let again = app.post_release(&body("7", project, Some(env))).await;
        assert_eq!(again.status(), 200, "{project}/{env} is the same release");
        let doc: Value = again.json().await.unwrap();
        assert_eq!(doc["team_project"], "DevX", "shown as first given");
        assert_eq!(doc["environment"], "Staging");
    }
    assert_eq!(app.db.count("SELECT COUNT(*) FROM releases"), 1);
    // The release id itself is not folded.
    let other_id = json!({"ReleaseName": "x", "ReleaseId": "a7", "TeamProject": "DevX"});
    let upper_id = json!({"ReleaseName": "x", "ReleaseId": "A7", "TeamProject": "DevX"});
    assert_eq!(app.post_release(&other_id).await.status(), 202);
    assert_eq!(app.post_release(&upper_id).await.status(), 202);
}

async fn the_get_route_takes_the_environment(backend: Backend) {
    let app = spawn_app(backend).await;
    app.post_release(&body("9", "Devx", Some("qa"))).await;
    let get = |path: &str| app.client.get(format!("{}{path}", app.address)).send();
    let found = get("/releases/devx/9?environment=QA").await.unwrap();
    assert_eq!(found.status(), 200);
    assert_eq!(found.json::<Value>().await.unwrap()["environment"], "qa");
    // Without ?environment=, production: not this release.
    let missing = get("/releases/Devx/9").await.unwrap();
    assert_eq!(missing.status(), 404);
    let problem: Value = missing.json().await.unwrap();
    assert_eq!(problem["type"], "urn:greenlight:problem:release-not-found");
    assert!(problem["detail"].as_str().unwrap().contains("production"));
    let bad = get("/releases/Devx/9?environment=%0A").await.unwrap();
    assert_eq!(bad.status(), 422);
    let bad: Value = bad.json().await.unwrap();
    assert_eq!(bad["errors"][0]["field"], "Environment");
}

async fn a_bad_environment_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    for env in [json!(7), json!(""), json!("a".repeat(129)), json!("x\ny")] {
        let mut b = body("11", "Devx", None);
        b["Environment"] = env.clone();
        let r = app.post_release(&b).await;
        assert_eq!(r.status(), 422, "{env}");
        let problem: Value = r.json().await.unwrap();
        assert_eq!(problem["errors"][0]["field"], "Environment", "{env}");
    }
    assert_eq!(app.db.count("SELECT COUNT(*) FROM releases"), 0);
}

/// A database migrated to just before environments, with releases in it
/// (one pair that only the case of its project tells apart), then migrated
/// the rest of the way.
async fn releases_stored_before_environments_migrate_to_production(backend: Backend) {
    let db = TestDb::new(backend);
    let url = db.url.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = greenlight::db::Manager::new(&url).establish().unwrap();
        let insert = "INSERT INTO releases (team_project, release_id, release_name, status, \
                      created_at, expires_at) VALUES \
                      ('Devx', '386', 'old', 'approved', '2026-11-01 10:00:00', '2026-11-08 10:00:00'), \
                      ('devx', '386', 'twin', 'pending', '2026-11-02 10:00:00', '2026-11-09 10:00:00')";
        match &mut conn {
            greenlight::db::DbConnection::Postgresql(c) => {
                for _ in 0..2 {
                    c.run_next_migration(greenlight::db::POSTGRES_MIGRATIONS)
                        .unwrap();
                }
                diesel::sql_query(insert).execute(c).unwrap();
            }
            greenlight::db::DbConnection::Sqlite(c) => {
                for _ in 0..2 {
                    c.run_next_migration(greenlight::db::SQLITE_MIGRATIONS)
                        .unwrap();
                }
                diesel::sql_query(insert).execute(c).unwrap();
            }
        }
    })
    .await
    .unwrap();
    greenlight::db::migrate(&db.url).expect("the rest of the migrations");
    assert_eq!(
        db.count("SELECT COUNT(*) FROM releases WHERE environment = 'production'"),
        2
    );
    assert_eq!(
        db.count(
            "SELECT COUNT(*) FROM releases WHERE team_project_key = 'devx' \
             AND environment_key = 'production' AND release_name = 'old'"
        ),
        1,
        "the older of the twins keeps the key"
    );
    // And the service finds it, whatever the case.
    let mut env = crate::helpers::test_env(&db, 1, &wiremock::MockServer::start().await);
    env.remove("GREENLIGHT_SMTP_URL");
    let settings = greenlight::config::Settings::from_vars(env.clone()).unwrap();
    let app = greenlight::startup::Application::build(settings)
        .await
        .unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let doc: Value = reqwest::get(format!("{address}/releases/DEVX/386"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["status"], "approved");
    assert_eq!(doc["release_name"], "old");
    assert_eq!(doc["environment"], "production");
}
