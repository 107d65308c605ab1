//! What a copy of the database alone can do. Without
//! `GREENLIGHT_ENCRYPTION_KEY` it holds the generated signing secret in
//! clear: a script that reads it mints links that approve. With the key
//! the secret (and the API-key pepper, and Azure DevOps AuthTokens: see
//! `notify`) is sealed, and such links are refused. The generated secret
//! can be retired, and credentials written before the key sealed later.

use std::collections::HashMap;

use base64::Engine;
use greenlight::token::{ApprovalClaims, TokenKeys};
use serde_json::Value;

use crate::both_backends;
use crate::helpers::{cli, release_body, spawn_app_with, start, Backend, TestApp};

both_backends!(
    a_copy_of_the_database_alone_cannot_approve,
    the_generated_secret_is_retired_and_sealed_by_commands,
);

fn key(byte: u8) -> String {
    base64::engine::general_purpose::STANDARD.encode([byte; 32])
}

fn stored(app: &TestApp, name: &str) -> String {
    let values = app
        .db
        .texts(&format!("settings WHERE key = '{name}'"), "value");
    assert_eq!(values.len(), 1, "{name}");
    values[0].clone()
}

/// What a script that read the database would send: the claims of a real
/// link, signed with what the database holds.
fn forge(token: &str, secret: &str) -> String {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    let claims: ApprovalClaims = serde_json::from_slice(&bytes).unwrap();
    TokenKeys::new(secret.as_bytes()).mint(&claims)
}

/// HEAD checks a link and records nothing.
async fn link_works(app: &TestApp, address: &str, token: &str) -> bool {
    let status = app
        .client
        .head(format!("{address}/approval?token={token}"))
        .send()
        .await
        .unwrap()
        .status();
    status.is_success()
}

async fn app(backend: Backend, encryption_key: Option<String>) -> TestApp {
    spawn_app_with(
        backend,
        move |env| {
            env.remove("GREENLIGHT_SECRET");
            if let Some(key) = encryption_key {
                env.insert("GREENLIGHT_ENCRYPTION_KEY".into(), key);
            }
        },
        true,
    )
    .await
}

async fn a_copy_of_the_database_alone_cannot_approve(backend: Backend) {
    // Without the key: the attack works (what the README warns of).
    let clear = app(backend, None).await;
    assert_eq!(clear.post_release(&release_body("c1")).await.status(), 202);
    let token = clear.wait_for_mails(1).await[0].token();
    let secret = stored(&clear, "signing_secret");
    let forged = forge(&token, &secret);
    assert_eq!(clear.approve(&forged).await.status(), 200);

    // With it: the database holds ciphertext, and links made from it fail.
    let sealed = app(backend, Some(key(7))).await;
    assert_eq!(sealed.post_release(&release_body("s1")).await.status(), 202);
    let token = sealed.wait_for_mails(1).await[0].token();
    for name in ["signing_secret", "api_key_pepper"] {
        let value = stored(&sealed, name);
        assert!(value.starts_with("sealed:v1:"), "{name}: {value}");
    }
    let forged = forge(&token, &stored(&sealed, "signing_secret"));
    assert_eq!(sealed.approve(&forged).await.status(), 403);
    assert_eq!(sealed.status("s1").await["approvals"], 0);
    // The service itself opens it: its own links work.
    assert_eq!(sealed.approve(&token).await.status(), 200);
    // With a wrong key nothing opens: the service would not start, and the
    // command says why.
    let mut wrong = sealed.env.clone();
    wrong.insert("GREENLIGHT_ENCRYPTION_KEY".into(), key(8));
    let (ok, _, err) = cli(&wrong, &["rotate-encryption-key"]);
    assert!(!ok && err.contains("does not open"), "{err}");
}

async fn the_generated_secret_is_retired_and_sealed_by_commands(backend: Backend) {
    let app = app(backend, None).await;
    assert_eq!(app.post_release(&release_body("g1")).await.status(), 202);
    let token = app.wait_for_mails(1).await[0].token();
    let env: HashMap<String, String> = app.env.clone();

    // Sealing what was written in clear.
    let mut keyed = env.clone();
    keyed.insert("GREENLIGHT_ENCRYPTION_KEY".into(), key(3));
    let (ok, _, err) = cli(&keyed, &["rotate-encryption-key"]);
    assert!(ok, "{err}");
    assert!(err.contains("2 stored credentials sealed"), "{err}");
    assert!(stored(&app, "signing_secret").starts_with("sealed:v1:"));
    let replica = start(&keyed).await;
    assert!(
        link_works(&app, &replica, &token).await,
        "opened with the key"
    );

    // Retiring needs a secret to sign with instead.
    let (ok, _, err) = cli(&keyed, &["retire-generated-secret"]);
    assert!(!ok && err.contains("GREENLIGHT_SECRET is not set"), "{err}");
    let mut configured = keyed.clone();
    configured.insert(
        "GREENLIGHT_SECRET".into(),
        "a-configured-secret-a-configured-secret".into(),
    );
    let before = start(&configured).await;
    assert!(
        link_works(&app, &before, &token).await,
        "the generated secret verifies until it is retired"
    );
    let (ok, _, err) = cli(&configured, &["retire-generated-secret"]);
    assert!(ok, "{err}");
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM settings WHERE key = 'signing_secret'"),
        0
    );
    let after = start(&configured).await;
    assert!(!link_works(&app, &after, &token).await, "retired");
    let doc: Value = app.status("g1").await;
    assert_eq!(doc["approvals"], 0);
}
