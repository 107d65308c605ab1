//! A database that goes away, or stays locked: every answer in the
//! meantime is a 503 with `Retry-After` (never a 500), the service recovers
//! by itself, and nothing that was accepted is lost.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use crate::helpers::{release_body, spawn_app_with, Backend, WORK_QUEUED};

/// A TCP proxy in front of PostgreSQL that can cut every connection
/// (mid-query, mid-transaction: wherever they are) and refuse new ones.
struct CutProxy {
    port: u16,
    up: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<AbortHandle>>>,
}

impl CutProxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let (up_, links_) = (up.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !up_.load(Ordering::SeqCst) {
                    continue; // dropped: the connection closes at once
                }
                let upstream = upstream.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                links_.lock().unwrap().push(link.abort_handle());
            }
        });
        Self { port, up, links }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// `host:port` of a PostgreSQL URL.
fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split(['/', '?']).next().unwrap_or(rest).to_owned()
}

/// What the pipelines saw: (status, had Retry-After, problem type).
type Answer = (u16, bool, String);

async fn post(client: &reqwest::Client, address: &str, id: &str) -> Option<Answer> {
    let r = client
        .post(format!("{address}/release"))
        .json(&release_body(id))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()?;
    let status = r.status().as_u16();
    let retry_after = r.headers().contains_key("retry-after");
    let body: Value = r.json().await.unwrap_or_default();
    Some((
        status,
        retry_after,
        body["type"].as_str().unwrap_or_default().to_owned(),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_outage_answers_503_and_recovers_postgres() {
    // The app reaches PostgreSQL only through the proxy.
    let admin = std::env::var("GREENLIGHT_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let proxy = CutProxy::start(host_port(&admin)).await;
    let port = proxy.port;
    let app = spawn_app_with(
        Backend::Postgres,
        |env| {
            let url = env["DATABASE_URL"].clone();
            let proxied = url.replace(&host_port(&url), &format!("127.0.0.1:{port}"));
            env.insert("DATABASE_URL".into(), proxied);
        },
        true,
    )
    .await;

    // Four pipelines post new releases across the outage.
    let stop = Arc::new(AtomicBool::new(false));
    let answers: Arc<Mutex<Vec<(String, Answer)>>> = Arc::default();
    let mut pipelines = Vec::new();
    for p in 0..4 {
        let (stop, answers, address) = (stop.clone(), answers.clone(), app.address.clone());
        pipelines.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let id = format!("p{p}-{i}");
                if let Some(answer) = post(&client, &address, &id).await {
                    answers.lock().unwrap().push((id, answer));
                }
                i += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(3)).await;
    proxy.restore();
    // Served again by itself, without a restart.
    let client = reqwest::Client::new();
    let mut recovered = false;
    for i in 0..100 {
        if let Some((202, _, _)) = post(&client, &app.address, &format!("after-{i}")).await {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for p in pipelines {
        p.await.unwrap();
    }
    assert!(
        recovered,
        "the service recovered after the database came back"
    );

    let answers = answers.lock().unwrap().clone();
    let unavailable: Vec<_> = answers.iter().filter(|(_, a)| a.0 == 503).collect();
    assert!(
        !unavailable.is_empty(),
        "the outage was seen: {}",
        answers.len()
    );
    for (id, (status, retry_after, kind)) in &answers {
        assert!(
            matches!(status, 200 | 202 | 503),
            "{id}: answered {status} ({kind})"
        );
        if *status == 503 {
            assert!(retry_after, "{id}: a 503 without Retry-After");
            assert_eq!(kind, "urn:greenlight:problem:unavailable");
        }
    }
    // Nothing accepted was lost: every 202 is stored and gets its emails.
    let accepted: Vec<_> = answers.iter().filter(|(_, a)| a.0 == 202).collect();
    for (id, _) in &accepted {
        assert_eq!(
            app.db.count(&format!(
                "SELECT COUNT(*) FROM releases WHERE release_id = '{id}'"
            )),
            1,
            "{id} was accepted and must be stored"
        );
    }
    for _ in 0..300 {
        if app.db.count(WORK_QUEUED) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM releases WHERE status = 'failed'"),
        0,
        "{}",
        app.db.dump_jobs()
    );
    let sent = app
        .db
        .count("SELECT COUNT(*) FROM approvals WHERE email_sent_at IS NOT NULL");
    assert!(
        sent >= 2 * accepted.len() as i64,
        "{sent} emails for {} releases: {}",
        accepted.len(),
        app.db.dump_jobs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_locked_sqlite_database_answers_503_sqlite() {
    let app = spawn_app_with(Backend::Sqlite, |_| {}, true).await;
    assert_eq!(
        post(&app.client, &app.address, "known").await.unwrap().0,
        202
    );

    // Another process holds SQLite's write lock for longer than the
    // service waits for it (1 s in the tests).
    let mut locker = app.db.connect();
    let greenlight::db::DbConnection::Sqlite(c) = &mut locker else {
        unreachable!()
    };
    c.batch_execute("BEGIN EXCLUSIVE").unwrap();
    let (status, retry_after, kind) = post(&app.client, &app.address, "new").await.unwrap();
    assert_eq!(status, 503, "{kind}");
    assert!(retry_after);
    assert_eq!(kind, "urn:greenlight:problem:unavailable");
    // Reads do not need the write lock: polls still answer.
    assert_eq!(
        post(&app.client, &app.address, "known").await.unwrap().0,
        200
    );
    c.batch_execute("COMMIT").unwrap();

    // The lock gone, the same request succeeds; nothing half-written.
    assert_eq!(post(&app.client, &app.address, "new").await.unwrap().0, 202);
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM releases WHERE release_id = 'new'"),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_row_lock_held_too_long_answers_503_postgres() {
    let app = spawn_app_with(Backend::Postgres, |_| {}, true).await;
    app.post_release(&release_body("locked")).await;
    let mails = app.wait_for_mails(2).await;
    // Another session holds the release's row lock for longer than the
    // service waits for a lock (1 s in the tests).
    let mut locker = app.db.connect();
    let greenlight::db::DbConnection::Postgresql(c) = &mut locker else {
        unreachable!()
    };
    c.batch_execute("BEGIN; SELECT id FROM releases FOR UPDATE")
        .unwrap();
    let answer = app.approve(&mails[0].token()).await;
    assert_eq!(answer.status(), 503);
    assert!(answer.headers().contains_key("retry-after"));
    c.batch_execute("ROLLBACK").unwrap();
    // Nothing was half-recorded; the same click now counts.
    let answer: Value = app.approve(&mails[0].token()).await.json().await.unwrap();
    assert_eq!(answer["recorded"], true);
    assert_eq!(answer["approvals"], 1);
}
