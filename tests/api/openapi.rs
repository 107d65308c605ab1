//! The OpenAPI document against the routes the app really serves.

use serde_json::Value;

use crate::helpers::{spawn_app_with, Backend};

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
