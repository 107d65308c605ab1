//! Test harness: the real application on a random port, a fresh database
//! per test (SQLite file or PostgreSQL database), a real SMTP server on
//! loopback that captures what it receives, and wiremock as the approvers API.

use std::collections::HashMap;
use std::net::TcpListener;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::{Connection, RunQueryDsl};
use greenlight::config::Settings;
use greenlight::db::{DbConnection, Manager};
use greenlight::startup::Application;
use mailin_embedded::{response, Handler, Response, Server};
use serde_json::{json, Value};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const PUBLIC_URL: &str = "http://greenlight.test";

/// Jobs that still have work to do: every queued job but what a pending
/// release schedules for later (its expiry, its reminder).
pub const WORK_QUEUED: &str = "SELECT COUNT(*) FROM jobs WHERE state = 'queued' \
     AND kind NOT IN ('expire_release', 'remind_approvers', 'redeliver_github_webhooks')";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a scenario once per backend: `both_backends!(name)` makes the tests
/// `name::sqlite` and `name::postgres`, each on a runtime with room for the
/// load it generates.
#[macro_export]
macro_rules! both_backends {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                super::$scenario($crate::helpers::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                super::$scenario($crate::helpers::Backend::Postgres).await
            }
        }
    )*};
}

// ---------------------------------------------------------------- database

/// A database that exists for one test.
pub struct TestDb {
    pub url: String,
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

fn pg_admin_url() -> String {
    std::env::var("GREENLIGHT_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

impl TestDb {
    pub fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = dir.path().join("greenlight.db").display().to_string();
                Self {
                    url,
                    pg_name: None,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => {
                let admin = pg_admin_url();
                let name = format!("greenlight_test_{}", greenlight::random_id());
                let mut conn = diesel::PgConnection::establish(&admin).unwrap_or_else(|e| {
                    panic!("PostgreSQL is required for this test and unreachable at {admin}: {e}")
                });
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .expect("create the test database");
                let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
                // Loopback needs no TLS and no Kerberos; without them libpq
                // never enters OpenSSL or krb5, whose exit handlers otherwise
                // race the pool's reconnecting threads when a test process
                // exits: a SIGSEGV in OpenSSL (about one run in ten before
                // sslmode), and a SIGABRT in krb5's k5_mutex_lock ("Received
                // error 22") from GSS encryption, tried first by default.
                Self {
                    url: format!("{base}/{name}?sslmode=disable&gssencmode=disable"),
                    pg_name: Some(name),
                    _dir: None,
                }
            }
        }
    }

    pub fn connect(&self) -> DbConnection {
        Manager::new(&self.url)
            .establish()
            .expect("test database connection")
    }

    /// Runs a query returning one number (counts, mostly).
    pub fn count(&self, sql: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let sql = format!("SELECT CAST(({sql}) AS BIGINT) AS n");
        let row: N = match &mut self.connect() {
            DbConnection::Postgresql(c) => diesel::sql_query(sql).get_result(c),
            DbConnection::Sqlite(c) => diesel::sql_query(sql).get_result(c),
        }
        .expect("count query");
        row.n
    }

    /// The job queue as text, for failure messages.
    pub fn dump_jobs(&self) -> String {
        #[derive(Debug, diesel::QueryableByName)]
        #[allow(dead_code)] // read through Debug
        struct Job {
            #[diesel(sql_type = diesel::sql_types::Text)]
            kind: String,
            #[diesel(sql_type = diesel::sql_types::Text)]
            state: String,
            #[diesel(sql_type = diesel::sql_types::Integer)]
            attempts: i32,
            #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
            last_error: Option<String>,
        }
        let sql = "SELECT kind, state, attempts, last_error FROM jobs ORDER BY id";
        let jobs: Vec<Job> = match &mut self.connect() {
            DbConnection::Postgresql(c) => diesel::sql_query(sql).load(c),
            DbConnection::Sqlite(c) => diesel::sql_query(sql).load(c),
        }
        .expect("jobs");
        format!("{jobs:#?}")
    }

    /// Every non-NULL value of `column` in `table`, as text: to search
    /// stored rows for what must not be there.
    pub fn texts(&self, table: &str, column: &str) -> Vec<String> {
        #[derive(diesel::QueryableByName)]
        struct T {
            #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
            t: Option<String>,
        }
        let sql = format!("SELECT CAST({column} AS TEXT) AS t FROM {table}");
        let rows: Vec<T> = match &mut self.connect() {
            DbConnection::Postgresql(c) => diesel::sql_query(&sql).load(c),
            DbConnection::Sqlite(c) => diesel::sql_query(&sql).load(c),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
        rows.into_iter().filter_map(|r| r.t).collect()
    }

    /// Runs a statement (to set up states the API cannot reach quickly).
    pub fn execute(&self, sql: &str) {
        match &mut self.connect() {
            DbConnection::Postgresql(c) => diesel::sql_query(sql).execute(c),
            DbConnection::Sqlite(c) => diesel::sql_query(sql).execute(c),
        }
        .expect("statement");
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = &self.pg_name {
            if let Ok(mut conn) = diesel::PgConnection::establish(&pg_admin_url()) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn);
            }
        }
    }
}

// -------------------------------------------------------------------- SMTP

/// A real SMTP server (mailin-embedded) on a loopback port, keeping every
/// message it accepts. `set_refusing(true)` makes it answer DATA with a
/// temporary failure, as a server that is down for maintenance would.
#[derive(Clone)]
pub struct SmtpServer {
    pub port: u16,
    received: Arc<Mutex<Vec<Vec<u8>>>>,
    refusing: Arc<AtomicBool>,
}

#[derive(Clone)]
struct Capture {
    received: Arc<Mutex<Vec<Vec<u8>>>>,
    refusing: Arc<AtomicBool>,
    /// A slow server: how long it takes to accept each message.
    delay: Duration,
    current: Vec<u8>,
}

impl Handler for Capture {
    fn data_start(
        &mut self,
        _domain: &str,
        _from: &str,
        _is8bit: bool,
        _to: &[String],
    ) -> Response {
        self.current.clear();
        // Slow before the message is taken: a client that dies meanwhile
        // has delivered nothing.
        std::thread::sleep(self.delay);
        if self.refusing.load(Ordering::SeqCst) {
            return response::INTERNAL_ERROR;
        }
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.current.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        self.received
            .lock()
            .unwrap()
            .push(std::mem::take(&mut self.current));
        response::OK
    }
}

impl SmtpServer {
    pub fn start() -> Self {
        Self::start_on(0)
    }

    /// Starts on a given port (0: any), e.g. one a service already points at.
    pub fn start_on(port: u16) -> Self {
        Self::start_with(port, Duration::ZERO)
    }

    /// A server that takes `delay` to accept each message (a slow relay),
    /// with threads enough for every connection to wait at once.
    pub fn start_slow(delay: Duration) -> Self {
        Self::start_with(0, delay)
    }

    fn start_with(port: u16, delay: Duration) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind SMTP");
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let refusing = Arc::new(AtomicBool::new(false));
        let handler = Capture {
            received: received.clone(),
            refusing: refusing.clone(),
            delay,
            current: Vec::new(),
        };
        let mut server = Server::new(handler);
        server
            .with_name("smtp.test")
            .with_num_threads(if delay.is_zero() { 8 } else { 128 })
            .with_tcp_listener(listener);
        // serve() blocks for good: the thread ends with the test process.
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        Self {
            port,
            received,
            refusing,
        }
    }

    pub fn set_refusing(&self, refusing: bool) {
        self.refusing.store(refusing, Ordering::SeqCst);
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|raw| Mail::parse(raw))
            .collect()
    }
}

/// One received email, parsed as a mail client would.
#[derive(Debug, Clone)]
pub struct Mail {
    pub raw: String,
    pub to: String,
    pub subject: String,
    pub message_id: String,
    pub text: String,
    pub html: String,
}

impl Mail {
    pub fn parse(raw: &[u8]) -> Self {
        let message = mail_parser::MessageParser::default()
            .parse(raw)
            .expect("a parsable email");
        let to = message
            .to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .unwrap_or_default()
            .to_owned();
        Self {
            raw: String::from_utf8_lossy(raw).into_owned(),
            to,
            subject: message.subject().unwrap_or_default().to_owned(),
            message_id: message.message_id().unwrap_or_default().to_owned(),
            text: message
                .body_text(0)
                .map(|t| t.into_owned())
                .unwrap_or_default(),
            html: message
                .body_html(0)
                .map(|t| t.into_owned())
                .unwrap_or_default(),
        }
    }

    /// The approval link of the plain-text body.
    pub fn approval_link(&self) -> String {
        let start = self
            .text
            .find(PUBLIC_URL)
            .expect("an approval link in the email");
        self.text[start..]
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    }

    pub fn token(&self) -> String {
        let link = self.approval_link();
        link.split_once("token=")
            .unwrap()
            .1
            .split('&')
            .next()
            .unwrap()
            .to_owned()
    }
}

// --------------------------------------------------------------------- app

pub struct TestApp {
    pub address: String,
    /// The environment the app was started with, for replicas.
    pub env: HashMap<String, String>,
    pub client: reqwest::Client,
    pub db: TestDb,
    pub smtp: SmtpServer,
    pub approvers: MockServer,
}

/// Settings as a map of environment variables, so that tests of the real
/// binary and of the in-process app configure alike.
pub fn test_env(db: &TestDb, smtp_port: u16, approvers: &MockServer) -> HashMap<String, String> {
    [
        ("DATABASE_URL", db.url.clone()),
        ("GREENLIGHT_LISTEN", "127.0.0.1:0".to_owned()),
        ("GREENLIGHT_PUBLIC_URL", PUBLIC_URL.to_owned()),
        (
            "GREENLIGHT_SMTP_URL",
            format!("smtp://127.0.0.1:{smtp_port}"),
        ),
        (
            "GREENLIGHT_APPROVERS_URL",
            format!(
                "{}/approvers/{{team_project}}/{{release_id}}",
                approvers.uri()
            ),
        ),
        (
            "GREENLIGHT_SECRET",
            "test-secret-test-secret-test-secret!".to_owned(),
        ),
        ("GREENLIGHT_JOB_MAX_ATTEMPTS", "3".to_owned()),
        ("GREENLIGHT_JOB_BACKOFF", "50ms".to_owned()),
        ("GREENLIGHT_JOB_BACKOFF_MAX", "200ms".to_owned()),
        ("GREENLIGHT_JOB_POLL", "100ms".to_owned()),
        ("GREENLIGHT_HTTP_TIMEOUT", "2000ms".to_owned()),
        ("GREENLIGHT_SMTP_TIMEOUT", "5000ms".to_owned()),
        ("GREENLIGHT_JOB_TIMEOUT", "15000ms".to_owned()),
        ("GREENLIGHT_HTTP_WORKERS", "2".to_owned()),
        ("GREENLIGHT_DB_POOL_SIZE", "8".to_owned()),
        // Short, so that a test's teardown (its database dropped under the
        // running app) does not wait for the default five seconds.
        ("GREENLIGHT_DB_TIMEOUT", "1000ms".to_owned()),
        // Tests approve from one address, many times a second; the limits
        // have tests of their own.
        ("GREENLIGHT_APPROVAL_RATE_LIMIT", "off".to_owned()),
        // The Azure DevOps and GitHub stubs listen on loopback, which a
        // target a caller names may not be by default.
        ("GREENLIGHT_AZURE_DEVOPS_HOSTS", "127.0.0.1".to_owned()),
        ("GREENLIGHT_OUTBOUND_ALLOW_PRIVATE", "true".to_owned()),
        ("GREENLIGHT_AUTH_FAILURE_LIMIT", "off".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// The challenge mock's answer: two approvers.
pub async fn mount_two_approvers(server: &MockServer) {
    mount_approvers(
        server,
        &["ana@example.com", "bruno@example.com"],
        Duration::ZERO,
    )
    .await;
}

/// Answers every GET with `{"approvers": [...]}`, after `delay`.
pub async fn mount_approvers(server: &MockServer, emails: &[&str], delay: Duration) {
    Mock::given(method("GET"))
        .and(path_regex("^/approvers/"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "approvers": emails }))
                .set_delay(delay),
        )
        .mount(server)
        .await;
}

/// A new approvers API stub answering `emails` after `delay`.
pub async fn approvers_stub(emails: &[&str], delay: Duration) -> MockServer {
    let server = MockServer::start().await;
    mount_approvers(&server, emails, delay).await;
    server
}

/// base64url without padding, as in JWTs (to forge tokens in tests).
pub fn b64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A fresh log file for a service under test.
pub fn log_file(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("greenlight-{name}-{}.log", greenlight::random_id()))
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}, true).await
}

/// An app whose every route needs an API key (`GREENLIGHT_REQUIRE_API_KEY`),
/// with the default approvers.
pub async fn spawn_keyed_app(backend: Backend) -> TestApp {
    spawn_app_with(
        backend,
        |env| {
            env.insert("GREENLIGHT_REQUIRE_API_KEY".into(), "true".into());
        },
        true,
    )
    .await
}

/// `configure` edits the environment before the app starts; without
/// `default_approvers` the test mounts its own approvers stub.
pub async fn spawn_app_with(
    backend: Backend,
    configure: impl FnOnce(&mut HashMap<String, String>),
    default_approvers: bool,
) -> TestApp {
    let db = TestDb::new(backend);
    let smtp = SmtpServer::start();
    let approvers = MockServer::start().await;
    if default_approvers {
        mount_two_approvers(&approvers).await;
    }
    let mut env = test_env(&db, smtp.port, &approvers);
    configure(&mut env);
    TestApp {
        address: start(&env).await,
        env,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        db,
        smtp,
        approvers,
    }
}

/// Logs of the apps under test, when `TEST_LOG` is set (e.g. `TEST_LOG=debug`).
fn init_test_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Ok(filter) = std::env::var("TEST_LOG") {
            tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .init();
        }
    });
}

/// Starts an app in this process; returns its address.
pub async fn start(env: &HashMap<String, String>) -> String {
    init_test_logs();
    let settings = Settings::from_vars(env.clone()).expect("test settings");
    let app = Application::build(settings).await.expect("the app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    address
}

pub fn release_body(id: &str) -> Value {
    json!({"ReleaseName": "Desafio-CD", "ReleaseId": id, "TeamProject": "Devx"})
}

impl TestApp {
    /// `greenlight api-key create ARGS…` on this app's database: the key.
    pub fn create_key(&self, args: &[&str]) -> String {
        let env = HashMap::from([("DATABASE_URL".to_owned(), self.db.url.clone())]);
        let mut all = vec!["api-key", "create"];
        all.extend_from_slice(args);
        let (ok, out, err) = cli(&env, &all);
        assert!(ok, "api-key create {args:?}: {err}");
        out.trim().to_owned()
    }

    /// Another instance on the same database, SMTP server and approvers
    /// API: a replica. Returns its address.
    pub async fn start_replica(&self) -> String {
        start(&self.env).await
    }

    pub async fn post_release(&self, body: &Value) -> reqwest::Response {
        self.post_release_to(&self.address, body).await
    }

    pub async fn post_release_to(&self, address: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{address}/release"))
            .json(body)
            .send()
            .await
            .expect("POST /release")
    }

    pub async fn post_release_raw(&self, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client
            .post(format!("{}/release", self.address))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("POST /release")
    }

    /// Follows an approval link (its path and query) against this app.
    pub async fn open_link(&self, link: &str, accept: &str) -> reqwest::Response {
        let path = link
            .strip_prefix(PUBLIC_URL)
            .expect("a link to the public URL");
        self.client
            .get(format!("{}{path}", self.address))
            .header("accept", accept)
            .send()
            .await
            .expect("GET /approval")
    }

    pub async fn approve(&self, token: &str) -> reqwest::Response {
        self.open_link(
            &format!("{PUBLIC_URL}/approval?token={token}"),
            "application/json",
        )
        .await
    }

    /// Approves and returns the status code (for many clicks at once).
    pub async fn approve_owned(&self, token: String) -> u16 {
        self.approve(&token).await.status().as_u16()
    }

    pub async fn post_decision(&self, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(format!("{}/approval", self.address))
            .header("accept", "application/json")
            .form(form)
            .send()
            .await
            .expect("POST /approval")
    }

    pub async fn status(&self, release_id: &str) -> Value {
        self.get_json(&format!("/releases/Devx/{release_id}")).await
    }

    /// The status document of a release of project Devx in `environment`.
    pub async fn status_in(&self, release_id: &str, environment: &str) -> Value {
        self.get_json(&format!(
            "/releases/Devx/{release_id}?environment={environment}"
        ))
        .await
    }

    /// A release's audit trail (project Devx, production).
    pub async fn events(&self, release_id: &str) -> Vec<Value> {
        self.get_json(&format!("/releases/Devx/{release_id}/events"))
            .await["events"]
            .as_array()
            .expect("an events list")
            .clone()
    }

    /// GETs `path` (with its query), which must answer 200 with JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        let response = self
            .client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    /// Waits until at least `n` emails arrived (a deadline, not a timing
    /// assertion: it only keeps a broken test from hanging).
    pub async fn wait_for_mails(&self, n: usize) -> Vec<Mail> {
        for _ in 0..300 {
            let mails = self.smtp.mails();
            if mails.len() >= n {
                return mails;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "expected {n} emails, got {}; jobs: {}",
            self.smtp.mails().len(),
            self.db.dump_jobs()
        );
    }

    /// Waits for the first event of `kind` in the audit trail at
    /// `events_path` (a `GET .../events` path with its query) and returns it.
    pub async fn wait_for_event_at(&self, events_path: &str, kind: &str) -> Value {
        for _ in 0..300 {
            let trail = self.get_json(events_path).await;
            let found = trail["events"]
                .as_array()
                .expect("an events list")
                .iter()
                .find(|e| e["type"] == kind)
                .cloned();
            if let Some(event) = found {
                return event;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no {kind} event at {events_path}");
    }

    /// `wait_for_event_at` for a release of project Devx, production.
    pub async fn wait_for_event(&self, release_id: &str, kind: &str) -> Value {
        self.wait_for_event_at(&format!("/releases/Devx/{release_id}/events"), kind)
            .await
    }

    /// Waits until the release reaches `status`.
    pub async fn wait_for_status(&self, release_id: &str, status: &str) -> Value {
        let mut last = Value::Null;
        for _ in 0..300 {
            last = self.status(release_id).await;
            if last["status"] == status {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("release {release_id} never became {status}: {last}");
    }

    /// Waits until no job is queued any more (all done or failed for good).
    pub async fn wait_for_idle_queue(&self) {
        for _ in 0..300 {
            if self.db.count(WORK_QUEUED) == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the job queue never drained: {}", self.db.dump_jobs());
    }
}

/// Runs `greenlight <args>` (the real binary) to completion with `env`:
/// (exit success, stdout, stderr).
pub fn cli(env: &HashMap<String, String>, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_greenlight"))
        .args(args)
        .env_clear()
        .envs(env)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run greenlight");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A free loopback port for a child process.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ----------------------------------------------------------------- process

/// A `greenlight serve` process, killed when dropped. Its output is
/// appended to a log file, so restarts on the same log keep one history.
pub struct Service {
    pub child: Child,
    pub address: String,
    pub port: u16,
    pub log: std::path::PathBuf,
}

impl Service {
    pub async fn start(env: &HashMap<String, String>) -> Self {
        Self::start_on(env, free_port(), &log_file("service")).await
    }

    /// Starts on a given port (a restart keeps its address) and log file.
    pub async fn start_on(env: &HashMap<String, String>, port: u16, log: &std::path::Path) -> Self {
        Self::start_listening(env, &format!("127.0.0.1:{port}"), port, log).await
    }

    /// Starts listening on `listen` (whose port is `port`), reached on loopback.
    pub async fn start_listening(
        env: &HashMap<String, String>,
        listen: &str,
        port: u16,
        log: &std::path::Path,
    ) -> Self {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_greenlight"))
            .arg("serve")
            .envs(env)
            .env("GREENLIGHT_LISTEN", listen)
            .env(
                "RUST_LOG",
                env.get("RUST_LOG").map_or("warn", String::as_str),
            )
            .env("NO_COLOR", "1")
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start greenlight");
        let service = Self {
            child,
            address: format!("http://127.0.0.1:{port}"),
            port,
            log: log.to_owned(),
        };
        for _ in 0..400 {
            if reqwest::get(format!("{}/healthz", service.address))
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                return service;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "greenlight did not start: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM: a graceful stop.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Peak resident memory so far (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A folder holding `package==version` from PyPI for `python3`, for tests
/// that check our wire formats with a library others wrote (Standard
/// Webhooks, Slack's SDK). Installed once per machine by
/// scripts/pip-tool.sh (pip's `--target`, nothing of the system changed);
/// `flock` because nextest runs each test in its own process. Put it on
/// `PYTHONPATH` to import the package.
pub fn pypi(package: &str, version: &str, module: &str) -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = format!(
        ". scripts/pip-tool.sh && pip_tool {package} {version} 'import {module}' >&2 && echo \"$PIP_TOOL_DIR\""
    );
    let lock = std::env::temp_dir().join(format!("greenlight-pypi-{package}.lock"));
    let out = Command::new("flock")
        .arg(&lock)
        .args(["bash", "-c", &script])
        .env("PYTHON", "python3")
        .current_dir(root)
        .output()
        .expect("flock and bash run");
    assert!(
        out.status.success(),
        "installing {package}=={version} from PyPI failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::path::PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}
