//! `GET /releases`: newest first, filters, and a cursor that stays right
//! while new releases arrive.

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{spawn_app, Backend, TestApp};

both_backends!(
    pages_stay_right_while_releases_arrive,
    filters_by_project_environment_and_status,
    bad_list_queries_are_refused,
    a_status_greenlight_never_wrote_is_an_error_not_a_guess,
);

async fn post(app: &TestApp, id: &str, project: &str, environment: &str) {
    let body = json!({"ReleaseName": "n", "ReleaseId": id, "TeamProject": project,
                      "Environment": environment});
    assert_eq!(app.post_release(&body).await.status(), 202);
}

async fn list(app: &TestApp, query: &str) -> Value {
    app.get_json(&format!("/releases?{query}")).await
}

fn ids(page: &Value) -> Vec<String> {
    page["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["release_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn pages_stay_right_while_releases_arrive(backend: Backend) {
    let app = spawn_app(backend).await;
    for i in 1..=5 {
        post(&app, &i.to_string(), "Devx", "production").await;
    }
    let first = list(&app, "limit=2").await;
    assert_eq!(ids(&first), ["5", "4"], "newest first");
    assert_eq!(first["releases"][0]["team_project"], "Devx");
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    // New releases arrive between the pages.
    post(&app, "6", "Devx", "production").await;
    post(&app, "7", "Devx", "production").await;
    let second = list(&app, &format!("limit=2&cursor={cursor}")).await;
    assert_eq!(ids(&second), ["3", "2"]);
    let cursor = second["next_cursor"].as_str().unwrap().to_owned();
    let last = list(&app, &format!("limit=2&cursor={cursor}")).await;
    assert_eq!(ids(&last), ["1"]);
    assert!(last["next_cursor"].is_null(), "the end");
    // The default page holds everything here, newest first.
    assert_eq!(
        ids(&list(&app, "").await),
        ["7", "6", "5", "4", "3", "2", "1"]
    );
}

async fn filters_by_project_environment_and_status(backend: Backend) {
    let app = spawn_app(backend).await;
    post(&app, "1", "Devx", "production").await;
    post(&app, "2", "Devx", "staging").await;
    post(&app, "3", "Other", "production").await;
    let mails = app.wait_for_mails(6).await;
    // Approve release 1 (both of its approvers).
    for mail in mails.iter().filter(|m| m.subject.contains("(Devx #1)")) {
        app.approve(&mail.token()).await;
    }
    assert_eq!(ids(&list(&app, "team_project=devx").await), ["2", "1"]);
    assert_eq!(
        ids(&list(&app, "team_project=DEVX&environment=Staging").await),
        ["2"]
    );
    assert_eq!(ids(&list(&app, "environment=production").await), ["3", "1"]);
    let approved = list(&app, "status=approved").await;
    assert_eq!(ids(&approved), ["1"]);
    assert_eq!(approved["releases"][0]["approvals"], 2);
    assert_eq!(
        approved["releases"][0]["approvers"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "each document with its own approvers"
    );
    assert_eq!(
        ids(&list(&app, "status=pending&team_project=Other").await),
        ["3"]
    );
    assert!(ids(&list(&app, "team_project=nobody").await).is_empty());
}

async fn bad_list_queries_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=ten", "limit"),
        ("status=done", "status"),
        ("cursor=abc", "cursor"),
        ("cursor=c", "cursor"),
        ("team_project=a%0Ab", "TeamProject"),
        ("environment=", "Environment"),
    ] {
        let r = app
            .client
            .get(format!("{}/releases?{query}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{query}");
        let problem: Value = r.json().await.unwrap();
        assert_eq!(problem["type"], "urn:greenlight:problem:validation-error");
        assert_eq!(problem["errors"][0]["field"], field, "{query}");
    }
    let post = app
        .client
        .post(format!("{}/releases", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);
}

/// A status in the database that no version of Greenlight writes (a hand
/// edit, a newer schema) is an error that says so, never read as some
/// other status (it used to read as `failed`, telling pipelines a lie).
async fn a_status_greenlight_never_wrote_is_an_error_not_a_guess(backend: Backend) {
    let app = spawn_app(backend).await;
    post(&app, "odd", "Devx", "production").await;
    post(&app, "fine", "Devx", "production").await;
    app.db
        .execute("UPDATE releases SET status = 'on_hold' WHERE release_id = 'odd'");
    let answer = app
        .client
        .get(format!("{}/releases/Devx/odd", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 500);
    let problem: Value = answer.json().await.unwrap();
    assert_eq!(
        problem["type"], "urn:greenlight:problem:internal-error",
        "{problem}"
    );
    // The other releases read as ever.
    assert_eq!(app.status("fine").await["status"], "pending");
}
