//! What a web page elsewhere (or a slow client) could make of Greenlight,
//! and what it gets: a JSON-only `POST /release`, no state change from
//! another site, no answer to a `Host` of someone else's, a body that
//! must arrive in time, a cap on connections, and the headers of every
//! answer.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::both_backends;
use crate::helpers::{release_body, spawn_app, spawn_app_with, Backend, TestApp, PUBLIC_URL};

both_backends!(
    a_page_elsewhere_cannot_create_a_release,
    only_our_own_host_names_are_answered,
    a_body_that_does_not_arrive_is_answered_408,
    connections_beyond_the_cap_wait_their_turn,
    every_answer_says_what_it_allows,
);

async fn problem_type(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or_default();
    (status, body["type"].as_str().unwrap_or_default().to_owned())
}

fn problem(slug: &str) -> String {
    format!("urn:greenlight:problem:{slug}")
}

async fn post_as(app: &TestApp, id: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}/release", app.address))
        .body(release_body(id).to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

async fn exists(app: &TestApp, id: &str) -> bool {
    app.client
        .get(format!("{}/releases/Devx/{id}", app.address))
        .send()
        .await
        .unwrap()
        .status()
        == 200
}

async fn a_page_elsewhere_cannot_create_a_release(backend: Backend) {
    let app = spawn_app(backend).await;
    let json = ("Content-Type", "application/json");
    // What an HTML form (or a fetch without a preflight) can send.
    for (id, content_type) in [
        ("f1", Some("text/plain")),
        ("f2", Some("application/x-www-form-urlencoded")),
        ("f3", Some("multipart/form-data; boundary=x")),
        ("f4", None),
    ] {
        let headers: Vec<(&str, &str)> = content_type
            .map(|ct| ("Content-Type", ct))
            .into_iter()
            .collect();
        let answer = post_as(&app, id, &headers).await;
        assert_eq!(
            problem_type(answer).await,
            (415, problem("unsupported-media-type")),
            "{content_type:?}"
        );
        assert!(!exists(&app, id).await, "{content_type:?}");
    }
    // From another site, whatever it carries.
    for (id, from) in [
        ("o1", ("Origin", "https://evil.example")),
        ("o2", ("Origin", "null")),
        ("o3", ("Referer", "https://evil.example/page.html")),
        ("o4", ("Origin", "http://greenlight.test.evil.example")),
    ] {
        let answer = post_as(&app, id, &[json, from]).await;
        assert_eq!(
            problem_type(answer).await,
            (403, problem("cross-site-request")),
            "{from:?}"
        );
        assert!(!exists(&app, id).await, "{from:?}");
    }
    // Pipelines send no Origin; our own pages' origin is ours.
    assert_eq!(post_as(&app, "ok1", &[json]).await.status(), 202);
    let ours = ("Origin", PUBLIC_URL);
    assert_eq!(post_as(&app, "ok2", &[json, ours]).await.status(), 202);
    let json_suffix = (
        "Content-Type",
        "application/vnd.greenlight+json; charset=utf-8",
    );
    assert_eq!(post_as(&app, "ok3", &[json_suffix]).await.status(), 202);
}

async fn get_with_host(app: &TestApp, path: &str, host: &str) -> reqwest::Response {
    app.client
        .get(format!("{}{path}", app.address))
        .header("Host", host)
        .send()
        .await
        .unwrap()
}

async fn only_our_own_host_names_are_answered(backend: Backend) {
    let app = spawn_app_with(
        backend,
        |env| {
            env.insert("GREENLIGHT_ALLOWED_HOSTS".into(), "gl.internal".into());
        },
        true,
    )
    .await;
    assert_eq!(app.post_release(&release_body("h1")).await.status(), 202);
    // A name of someone else's pointed at our address (DNS rebinding).
    for path in ["/releases", "/releases/Devx/h1", "/ui", "/openapi.json"] {
        let answer = get_with_host(&app, path, "rebind.evil.example:8080").await;
        assert_eq!(
            problem_type(answer).await,
            (421, problem("misdirected-request")),
            "{path}"
        );
    }
    let posted = app
        .client
        .post(format!("{}/release", app.address))
        .header("Host", "rebind.evil.example")
        .json(&release_body("h2"))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 421);
    assert!(!exists(&app, "h2").await);
    // Ours: the public URL's host, the listen address, the allowed names.
    for host in ["greenlight.test", "GL.internal:8080", "127.0.0.1"] {
        let answer = get_with_host(&app, "/releases/Devx/h1", host).await;
        assert_eq!(answer.status(), 200, "{host}");
    }
    // Probes answer whatever name they use.
    for path in ["/healthz", "/readyz"] {
        let answer = get_with_host(&app, path, "10.1.2.3:8080").await;
        assert_eq!(answer.status(), 200, "{path}");
    }
}

/// Sends `head` and then nothing; returns all that comes back until the
/// server closes the connection (a test timeout of a minute guards a
/// server that never does).
async fn send_and_wait(address: &str, head: &str) -> String {
    let mut stream = TcpStream::connect(address.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut answer))
        .await
        .expect("the connection was not closed")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

async fn a_body_that_does_not_arrive_is_answered_408(backend: Backend) {
    let app = spawn_app_with(
        backend,
        |env| {
            env.insert("GREENLIGHT_BODY_TIMEOUT".into(), "1s".into());
        },
        true,
    )
    .await;
    // 60,000 bytes announced, one sent.
    let head = "POST /release HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
                Content-Length: 60000\r\n\r\n{";
    let answer = send_and_wait(&app.address, head).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("urn:greenlight:problem:request-timeout"),
        "{answer}"
    );
}

async fn connections_beyond_the_cap_wait_their_turn(backend: Backend) {
    let app = spawn_app_with(
        backend,
        |env| {
            env.insert("GREENLIGHT_MAX_CONNECTIONS".into(), "2".into());
            env.insert("GREENLIGHT_HTTP_WORKERS".into(), "1".into());
        },
        true,
    )
    .await;
    let address = app.address.trim_start_matches("http://").to_owned();
    // Two connections that hold their place (a request head in progress).
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(&address).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\n")
            .await
            .unwrap();
        held.push(stream);
    }
    // A third is accepted by the kernel but not served while they last.
    let mut third = TcpStream::connect(&address).await.unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut first_byte = [0u8; 1];
    let waited = tokio::time::timeout(Duration::from_secs(1), third.read(&mut first_byte)).await;
    assert!(waited.is_err(), "served beyond the cap");
    // One leaves: the third is served.
    drop(held.pop());
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), third.read_to_end(&mut answer))
        .await
        .expect("served once a place was free")
        .unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
}

async fn every_answer_says_what_it_allows(backend: Backend) {
    let app = spawn_app(backend).await;
    // 405 names the methods the path takes.
    for (method, path, allow) in [
        (reqwest::Method::POST, "/healthz", "GET, HEAD"),
        (reqwest::Method::DELETE, "/release", "POST"),
        (reqwest::Method::PUT, "/approval", "HEAD, GET, POST"),
    ] {
        let answer = app
            .client
            .request(method.clone(), format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 405, "{method} {path}");
        assert_eq!(answer.headers()["allow"], allow, "{method} {path}");
    }
    // Probes and scrapers may ask with HEAD.
    for path in ["/healthz", "/readyz", "/metrics"] {
        let answer = app
            .client
            .head(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "HEAD {path}");
    }
    // Every answer, the API docs included, stays out of frames and sniffing.
    for path in [
        "/docs/",
        "/openapi.json",
        "/healthz",
        "/nowhere",
        "/ui",
        "/approval?token=not-a-token",
    ] {
        let answer = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        let headers = answer.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
    }
    let docs = app
        .client
        .get(format!("{}/docs/", app.address))
        .send()
        .await
        .unwrap();
    let csp = docs.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("default-src 'self'"), "{csp}");
}
