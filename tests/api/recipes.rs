//! The CI recipes in `docs/` run here as written: the shell loop every
//! polling recipe shares, against a running Greenlight with keys on.

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use crate::both_backends;
use crate::helpers::{cli, spawn_keyed_app, Backend, TestApp};

both_backends!(the_shared_poll_loop_follows_the_decision);

const LOOP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/docs/examples/wait-for-approval.sh"
);

/// Runs the loop in the background: its exit code, stdout and stderr.
fn start_loop(
    app: &TestApp,
    key: &str,
    release_id: &str,
    timeout_seconds: u32,
) -> tokio::task::JoinHandle<(i32, String, String)> {
    let env = HashMap::from([
        ("GREENLIGHT_URL", app.address.clone()),
        ("GREENLIGHT_API_KEY", key.to_owned()),
        ("TEAM_PROJECT", "Devx".to_owned()),
        ("RELEASE_ID", release_id.to_owned()),
        ("RELEASE_NAME", "Checkout \"v2\" \\ rc".to_owned()),
        ("ENVIRONMENT", "production".to_owned()),
        ("TIMEOUT_SECONDS", timeout_seconds.to_string()),
        ("POLL_SECONDS", "0.2".to_owned()),
    ]);
    tokio::task::spawn_blocking(move || {
        let out = Command::new("sh")
            .arg(LOOP)
            .envs(env)
            .output()
            .expect("run the loop");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
}

async fn the_shared_poll_loop_follows_the_decision(backend: Backend) {
    let app = spawn_keyed_app(backend).await;
    let (ok, key, err) = cli(
        &HashMap::from([("DATABASE_URL".to_owned(), app.db.url.clone())]),
        &["api-key", "create", "--project", "Devx"],
    );
    assert!(ok, "{err}");
    let key = key.trim().to_owned();

    let approved = start_loop(&app, &key, "ok", 60);
    let rejected = start_loop(&app, &key, "no", 60);
    let mails = app.wait_for_mails(4).await;
    // The release name went through the loop's JSON quoting intact.
    assert_eq!(
        app.db.texts("releases", "release_name"),
        ["Checkout \"v2\" \\ rc"; 2]
    );
    for mail in mails.iter().filter(|m| m.subject.contains("#ok)")) {
        assert_eq!(app.approve(&mail.token()).await.status(), 200);
    }
    let reject_token = mails
        .iter()
        .find(|m| m.subject.contains("#no)"))
        .unwrap()
        .token();
    app.post_decision(&[("token", &reject_token), ("decision", "reject")])
        .await;

    let (code, out, err) = approved.await.unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("approved"), "{out}");
    let (code, _, err) = rejected.await.unwrap();
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("rejected"), "{err}");

    // Nobody decides: the loop gives up at its timeout.
    let (code, _, err) = start_loop(&app, &key, "slow", 1).await.unwrap();
    assert_eq!(code, 2, "{err}");
    // A wrong key is refused at once, not retried until the timeout.
    let started = std::time::Instant::now();
    let (code, _, err) = start_loop(&app, &format!("glk_{}", "0".repeat(64)), "x", 60)
        .await
        .unwrap();
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("HTTP 401"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30));
}
