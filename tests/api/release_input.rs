//! `POST /release` and the other routes refuse bad input with a clear
//! problem, and never change what was stored.

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{release_body, spawn_app, Backend};

both_backends!(
    bad_release_requests_get_problems_and_change_nothing,
    unknown_routes_and_methods_get_problems
);

async fn problem(response: reqwest::Response, status: u16, kind: &str) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], format!("urn:greenlight:problem:{kind}"));
    assert_eq!(body["status"], status);
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    body
}

async fn bad_release_requests_get_problems_and_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(app.post_release(&release_body("1")).await.status(), 202);
    let stored = app.status("1").await;

    for body in [
        "",
        "{",
        "not json",
        "[]",
        "null",
        "\"x\"",
        "{\"ReleaseName\": \"a\",}",
    ] {
        problem(app.post_release_raw(body).await, 400, "malformed-body").await;
    }
    let invalid_utf8: &'static [u8] =
        b"{\"ReleaseName\": \"\xff\xfe\", \"ReleaseId\": \"1\", \"TeamProject\": \"Devx\"}";
    problem(
        app.post_release_raw(invalid_utf8).await,
        400,
        "malformed-body",
    )
    .await;

    let cases = [
        (json!({}), vec!["ReleaseName", "ReleaseId", "TeamProject"]),
        (
            json!({"ReleaseName": "n", "ReleaseId": "1"}),
            vec!["TeamProject"],
        ),
        (
            json!({"ReleaseName": "", "ReleaseId": "1", "TeamProject": "Devx"}),
            vec!["ReleaseName"],
        ),
        (
            json!({"ReleaseName": "n", "ReleaseId": "   ", "TeamProject": "Devx"}),
            vec!["ReleaseId"],
        ),
        (
            json!({"ReleaseName": 5, "ReleaseId": 1.5, "TeamProject": true}),
            vec!["ReleaseName", "ReleaseId", "TeamProject"],
        ),
        (
            json!({"ReleaseName": "n", "ReleaseId": {"a": 1}, "TeamProject": ["Devx"]}),
            vec!["ReleaseId", "TeamProject"],
        ),
        (
            json!({"ReleaseName": "x".repeat(257), "ReleaseId": "1", "TeamProject": "Devx"}),
            vec!["ReleaseName"],
        ),
        (
            json!({"ReleaseName": "n", "ReleaseId": "1".repeat(129), "TeamProject": "Devx"}),
            vec!["ReleaseId"],
        ),
        // Up to 140: a GitHub repository's owner/name.
        (
            json!({"ReleaseName": "n", "ReleaseId": "1", "TeamProject": "p".repeat(141)}),
            vec!["TeamProject"],
        ),
        (
            json!({"ReleaseName": "a\r\nBcc: evil@example.com", "ReleaseId": "1", "TeamProject": "Devx"}),
            vec!["ReleaseName"],
        ),
        (
            json!({"ReleaseName": "n", "ReleaseId": "1", "TeamProject": "Dev\u{0}x"}),
            vec!["TeamProject"],
        ),
        (
            json!({"ReleaseName": "n", "release_name": "m", "ReleaseId": "1", "TeamProject": "Devx"}),
            vec!["ReleaseName"],
        ),
        // Dot segments: placed in the approvers URL they would name another path.
        (
            json!({"ReleaseName": "n", "ReleaseId": "..", "TeamProject": "."}),
            vec!["ReleaseId", "TeamProject"],
        ),
        (
            json!({"ReleaseName": "n", "ReleaseId": "1", "TeamProject": "Devx", "Environment": ".."}),
            vec!["Environment"],
        ),
    ];
    for (body, fields) in cases {
        let p = problem(app.post_release(&body).await, 422, "validation-error").await;
        let reported: Vec<_> = p["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(reported, fields, "{body}");
    }

    // Bodies over the limit are refused without being read whole.
    let big = format!(
        r#"{{"ReleaseName": "{}", "ReleaseId": "1", "TeamProject": "Devx"}}"#,
        "x".repeat(10 * 1024 * 1024)
    );
    problem(app.post_release_raw(big).await, 413, "payload-too-large").await;

    // SQL in a name is just text.
    let sql = json!({"ReleaseName": "x'); DROP TABLE releases; --", "ReleaseId": "2", "TeamProject": "Devx"});
    assert_eq!(app.post_release(&sql).await.status(), 202);
    assert_eq!(
        app.status("2").await["release_name"],
        "x'); DROP TABLE releases; --"
    );

    assert_eq!(app.db.count("SELECT COUNT(*) FROM releases"), 2);
    let after = app.status("1").await;
    assert_eq!(after["release_name"], stored["release_name"]);
    assert_eq!(after["created_at"], stored["created_at"]);
}

async fn unknown_routes_and_methods_get_problems(backend: Backend) {
    let app = spawn_app(backend).await;
    let get_release = app
        .client
        .get(format!("{}/release", app.address))
        .send()
        .await
        .unwrap();
    problem(get_release, 405, "method-not-allowed").await;
    let nowhere = app
        .client
        .get(format!("{}/nowhere", app.address))
        .send()
        .await
        .unwrap();
    problem(nowhere, 404, "not-found").await;
    let unknown = app
        .client
        .get(format!("{}/releases/Devx/404", app.address))
        .send()
        .await
        .unwrap();
    problem(unknown, 404, "release-not-found").await;
    let health = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}
