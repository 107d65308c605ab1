//! TLS to the mail server, against a real TLS mail server on loopback whose
//! certificate comes from a CA this test makes (as a company's internal CA
//! would): STARTTLS and implicit TLS delivered when the CA is trusted
//! (GREENLIGHT_SMTP_CA_FILE, or the system store the real binary reads),
//! refused when it is not or when the certificate names another host.
//!
//! The server is written here on tokio-rustls (mailin-embedded speaks
//! STARTTLS only): EHLO offering STARTTLS (or AUTH PLAIN once encrypted),
//! the upgrade, AUTH, MAIL/RCPT/DATA; it refuses MAIL before TLS, so every
//! message it keeps came encrypted. The mail transport touches no database,
//! so these run on SQLite only.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use greenlight::config::Settings;
use greenlight::mailer::{ApprovalEmail, MailError, Mailer};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

use crate::helpers::{
    approvers_stub, cli, release_body, spawn_app_with, test_env, Backend, Mail, Service, TestApp,
    TestDb,
};

// ------------------------------------------------------------ certificates

/// A certificate authority made for one test, in no system store.
struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    /// Its certificate as a PEM file (what GREENLIGHT_SMTP_CA_FILE names).
    file: PathBuf,
    _dir: tempfile::TempDir,
}

/// A server's certificate chain and key.
struct ServerIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl TestCa {
    fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        // A name of its own: two CAs of one name would pass for each
        // other's issuer (then refused as BadSignature, not UnknownIssuer).
        params.distinguished_name.push(
            DnType::CommonName,
            format!("Greenlight Test Internal CA {}", greenlight::random_id()),
        );
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("internal-ca.pem");
        std::fs::write(&file, issuer.pem()).unwrap();
        Self {
            issuer,
            file,
            _dir: dir,
        }
    }

    /// A server certificate for `names` (DNS names or IP addresses).
    fn server(&self, names: &[&str]) -> ServerIdentity {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name.push(DnType::CommonName, names[0]);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let certificate = params.signed_by(&key, &*self.issuer).unwrap();
        ServerIdentity {
            chain: vec![certificate.der().clone()],
            key: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        }
    }
}

// ---------------------------------------------------------- the TLS server

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Plain greeting, STARTTLS offered, nothing accepted before it.
    StartTls,
    /// TLS from the first byte (smtps, port 465 in real life).
    Implicit,
}

/// One accepted message.
#[derive(Debug, Clone)]
struct Received {
    /// Received inside TLS (always, as the server refuses MAIL before it).
    tls: bool,
    /// The AUTH PLAIN user, if any.
    user: Option<String>,
    raw: Vec<u8>,
}

#[derive(Clone, Default)]
struct Mailbox {
    received: Arc<Mutex<Vec<Received>>>,
    /// Handshakes that failed, as the server saw them (the client's alert).
    tls_failures: Arc<Mutex<Vec<String>>>,
    /// The only credentials AUTH PLAIN accepts; with them set, MAIL needs
    /// AUTH first.
    credentials: Option<(String, String)>,
}

struct TlsSmtpServer {
    port: u16,
    mailbox: Mailbox,
}

impl TlsSmtpServer {
    async fn start(mode: Mode, identity: ServerIdentity) -> Self {
        Self::start_with(mode, identity, None).await
    }

    async fn start_with(
        mode: Mode,
        identity: ServerIdentity,
        credentials: Option<(&str, &str)>,
    ) -> Self {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(identity.chain, identity.key)
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mailbox = Mailbox {
            credentials: credentials.map(|(u, p)| (u.to_owned(), p.to_owned())),
            ..Mailbox::default()
        };
        let shared = mailbox.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(session(tcp, mode, acceptor.clone(), shared.clone()));
            }
        });
        Self { port, mailbox }
    }

    fn received(&self) -> Vec<Received> {
        self.mailbox.received.lock().unwrap().clone()
    }

    fn tls_failures(&self) -> Vec<String> {
        self.mailbox.tls_failures.lock().unwrap().clone()
    }

    /// Waits until `n` messages arrived (a deadline, not a timing check).
    async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..300 {
            let received = self.received();
            if received.len() >= n {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "expected {n} messages, got {}; TLS failures: {:?}",
            self.received().len(),
            self.tls_failures()
        );
    }
}

async fn session(tcp: TcpStream, mode: Mode, acceptor: TlsAcceptor, mailbox: Mailbox) {
    let tcp = match mode {
        Mode::Implicit => tcp,
        Mode::StartTls => match converse(BufReader::new(tcp), false, true, &mailbox).await {
            Ok(Some(tcp)) => tcp,
            _ => return,
        },
    };
    match acceptor.accept(tcp).await {
        Ok(tls) => {
            // After STARTTLS the client speaks first (EHLO again).
            let _ = converse(BufReader::new(tls), true, mode == Mode::Implicit, &mailbox).await;
        }
        Err(e) => mailbox.tls_failures.lock().unwrap().push(e.to_string()),
    }
}

/// One SMTP conversation until QUIT or the end of the connection; on
/// STARTTLS, hands the stream back for the TLS handshake.
async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: BufReader<S>,
    tls: bool,
    greet: bool,
    mailbox: &Mailbox,
) -> std::io::Result<Option<S>> {
    if greet {
        stream.write_all(b"220 smtp.test ESMTP ready\r\n").await?;
    }
    let mut user: Option<String> = None;
    let mut from = false;
    let mut recipients = 0;
    let mut line = Vec::new();
    loop {
        line.clear();
        if stream.read_until(b'\n', &mut line).await? == 0 {
            return Ok(None);
        }
        let command = String::from_utf8_lossy(&line).trim_end().to_owned();
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply = match verb.as_str() {
            "EHLO" => {
                from = false;
                recipients = 0;
                if tls {
                    "250-smtp.test\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n"
                } else {
                    "250-smtp.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n"
                }
                .to_owned()
            }
            "HELO" => "250 smtp.test\r\n".to_owned(),
            "STARTTLS" if !tls => {
                stream
                    .write_all(b"220 2.0.0 Ready to start TLS\r\n")
                    .await?;
                stream.flush().await?;
                // Whatever came after STARTTLS in plaintext must not
                // survive the upgrade (command injection).
                if !stream.buffer().is_empty() {
                    return Ok(None);
                }
                return Ok(Some(stream.into_inner()));
            }
            "AUTH" if tls => {
                let plain = command
                    .strip_prefix("AUTH PLAIN ")
                    .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
                    .map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
                let parts: Vec<String> = plain
                    .as_deref()
                    .unwrap_or_default()
                    .split('\0')
                    .map(str::to_owned)
                    .collect();
                match (&mailbox.credentials, parts.as_slice()) {
                    (Some((u, p)), [_, user_given, password])
                        if u == user_given && p == password =>
                    {
                        user = Some(user_given.clone());
                        "235 2.7.0 Authentication successful\r\n".to_owned()
                    }
                    _ => "535 5.7.8 Authentication credentials invalid\r\n".to_owned(),
                }
            }
            "MAIL" if !tls => "530 5.7.0 Must issue a STARTTLS command first\r\n".to_owned(),
            "MAIL" if mailbox.credentials.is_some() && user.is_none() => {
                "530 5.7.0 Authentication required\r\n".to_owned()
            }
            "MAIL" => {
                from = true;
                "250 2.1.0 OK\r\n".to_owned()
            }
            "RCPT" if !from => "503 5.5.1 MAIL first\r\n".to_owned(),
            "RCPT" => {
                recipients += 1;
                "250 2.1.5 OK\r\n".to_owned()
            }
            "DATA" if recipients == 0 => "503 5.5.1 RCPT first\r\n".to_owned(),
            "DATA" => {
                stream
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                stream.flush().await?;
                let mut raw = Vec::new();
                loop {
                    line.clear();
                    if stream.read_until(b'\n', &mut line).await? == 0 {
                        return Ok(None);
                    }
                    if line == b".\r\n" {
                        break;
                    }
                    // Dot-unstuffing (RFC 5321 4.5.2).
                    let text = line.strip_prefix(b".").unwrap_or(&line);
                    raw.extend_from_slice(text);
                }
                mailbox.received.lock().unwrap().push(Received {
                    tls,
                    user: user.clone(),
                    raw,
                });
                from = false;
                recipients = 0;
                "250 2.0.0 OK queued\r\n".to_owned()
            }
            "RSET" => {
                from = false;
                recipients = 0;
                "250 2.0.0 OK\r\n".to_owned()
            }
            "NOOP" => "250 2.0.0 OK\r\n".to_owned(),
            "QUIT" => {
                stream.write_all(b"221 2.0.0 Bye\r\n").await?;
                stream.flush().await?;
                return Ok(None);
            }
            _ => "502 5.5.2 Command not implemented\r\n".to_owned(),
        };
        stream.write_all(reply.as_bytes()).await?;
        stream.flush().await?;
    }
}

// ------------------------------------------------------------------ tests

/// An app on SQLite sending through `smtp_url`, trusting `ca_file` too.
async fn app(smtp_url: String, ca_file: Option<&Path>) -> TestApp {
    spawn_app_with(
        Backend::Sqlite,
        |env| {
            env.insert("GREENLIGHT_SMTP_URL".into(), smtp_url);
            if let Some(path) = ca_file {
                env.insert("GREENLIGHT_SMTP_CA_FILE".into(), path.display().to_string());
            }
        },
        true,
    )
    .await
}

/// Both approvers' emails arrived, encrypted, and they work: the release
/// is approved with the tokens they carry.
async fn assert_delivered(app: &TestApp, server: &TlsSmtpServer, release_id: &str) {
    let received = server.wait_for(2).await;
    assert!(received.iter().all(|r| r.tls), "every message inside TLS");
    let mails: Vec<Mail> = received.iter().map(|r| Mail::parse(&r.raw)).collect();
    let mut to: Vec<&str> = mails.iter().map(|m| m.to.as_str()).collect();
    to.sort_unstable();
    assert_eq!(to, ["ana@example.com", "bruno@example.com"]);
    for mail in &mails {
        assert!(mail.subject.contains("Desafio-CD"), "{}", mail.subject);
        assert_eq!(app.approve(&mail.token()).await.status(), 200);
    }
    app.wait_for_status(release_id, "approved").await;
    let sent = app
        .events(release_id)
        .await
        .iter()
        .filter(|e| e["type"] == "email.sent")
        .count();
    assert_eq!(sent, 2);
    assert!(
        server.tls_failures().is_empty(),
        "{:?}",
        server.tls_failures()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn starttls_delivers_with_the_ca_file() {
    let ca = TestCa::new();
    let server = TlsSmtpServer::start(Mode::StartTls, ca.server(&["localhost"])).await;
    let app = app(
        format!("smtp://localhost:{}?tls=required", server.port),
        Some(&ca.file),
    )
    .await;
    assert_eq!(app.post_release(&release_body("tls-1")).await.status(), 202);
    assert_delivered(&app, &server, "tls-1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn implicit_tls_delivers_with_the_ca_file_and_credentials() {
    let ca = TestCa::new();
    // An IP address the certificate names (not a DNS name), and a password
    // percent-encoded in the URL as lettre's URLs write it.
    let server = TlsSmtpServer::start_with(
        Mode::Implicit,
        ca.server(&["127.0.0.1"]),
        Some(("greenlight", "p@ss w:rd")),
    )
    .await;
    let app = app(
        format!(
            "smtps://greenlight:p%40ss%20w%3Ard@127.0.0.1:{}",
            server.port
        ),
        Some(&ca.file),
    )
    .await;
    assert_eq!(app.post_release(&release_body("tls-2")).await.status(), 202);
    assert_delivered(&app, &server, "tls-2").await;
    assert!(server
        .received()
        .iter()
        .all(|r| r.user.as_deref() == Some("greenlight")));
}

/// Without the CA (unknown to the system store too) nothing is delivered,
/// over either kind of TLS: the client aborts the handshake, the email is
/// not retried (no retry makes a certificate trusted) and the release
/// fails with a reason saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unknown_ca_is_refused_and_the_release_fails() {
    let ca = TestCa::new();
    let starttls = TlsSmtpServer::start(Mode::StartTls, ca.server(&["localhost"])).await;
    let implicit = TlsSmtpServer::start(Mode::Implicit, ca.server(&["127.0.0.1"])).await;
    for (url, server) in [
        (
            format!("smtp://localhost:{}?tls=required", starttls.port),
            &starttls,
        ),
        (format!("smtps://127.0.0.1:{}", implicit.port), &implicit),
    ] {
        let app = app(url.clone(), None).await;
        assert_eq!(app.post_release(&release_body("tls-3")).await.status(), 202);
        let status = app.wait_for_status("tls-3", "failed").await;
        let reason = status["reason"].as_str().unwrap();
        assert!(
            reason.contains("certificate") && reason.contains("UnknownIssuer"),
            "{url}: {reason}"
        );
        assert!(
            reason.contains("gave up after 1 attempt)"),
            "{url}: {reason}"
        );
        let events = app.events("tls-3").await;
        assert!(
            events.iter().any(|e| e["type"] == "email.failed"),
            "{url}: {events:?}"
        );
        // Tried once, not retried: the first refusal fails the release,
        // and the other email is then not sent at all.
        assert_eq!(
            app.db.count(
                "SELECT COUNT(*) FROM jobs WHERE kind = 'send_approval_email' AND attempts > 1"
            ),
            0,
            "{url}: {}",
            app.db.dump_jobs()
        );
        assert!(
            app.db.count(
                "SELECT COUNT(*) FROM jobs WHERE kind = 'send_approval_email' \
                 AND last_error LIKE '%UnknownIssuer%'"
            ) >= 1,
            "{url}: {}",
            app.db.dump_jobs()
        );
        assert!(server.received().is_empty(), "{url}: nothing delivered");
        // The server saw the client refuse its certificate, not a network
        // failure.
        let mut failures = server.tls_failures();
        for _ in 0..50 {
            if !failures.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            failures = server.tls_failures();
        }
        assert!(
            !failures.is_empty() && failures.iter().all(|f| f.contains("UnknownCA")),
            "{url}: {failures:?}"
        );
    }
}

/// One approval email, for the mailer alone.
fn email() -> ApprovalEmail {
    ApprovalEmail {
        to: "ana@example.com".parse().unwrap(),
        release_name: "Desafio-CD".into(),
        release_id: "386".into(),
        team_project: "Devx".into(),
        environment: "production".into(),
        token: "t".into(),
        expires_at: chrono::Utc::now(),
        message_id: "<tls-test@greenlight>".into(),
        file_stem: "tls-test".into(),
        reminder: false,
    }
}

fn mailer(smtp_url: &str, ca_file: &Path) -> Mailer {
    let settings = Settings::from_vars([
        ("GREENLIGHT_SMTP_URL".to_owned(), smtp_url.to_owned()),
        (
            "GREENLIGHT_SMTP_CA_FILE".to_owned(),
            ca_file.display().to_string(),
        ),
        ("GREENLIGHT_SMTP_TIMEOUT".to_owned(), "5000ms".to_owned()),
    ])
    .unwrap();
    Mailer::new(&settings.mail()).unwrap()
}

/// A certificate from the trusted CA for another host is refused: host
/// names are verified, for DNS names and IP addresses alike.
#[tokio::test]
async fn a_certificate_for_another_host_is_refused() {
    let ca = TestCa::new();
    let other = || ca.server(&["mail.example.com", "10.9.8.7"]);
    let starttls = TlsSmtpServer::start(Mode::StartTls, other()).await;
    let implicit = TlsSmtpServer::start(Mode::Implicit, other()).await;
    for (url, server) in [
        (
            format!("smtp://localhost:{}?tls=required", starttls.port),
            &starttls,
        ),
        (format!("smtps://127.0.0.1:{}", implicit.port), &implicit),
    ] {
        let error = mailer(&url, &ca.file).send(&email()).await.unwrap_err();
        assert!(
            matches!(&error, MailError::Permanent(m) if m.contains("not valid for name")),
            "{url}: {error:?}"
        );
        assert!(server.received().is_empty());
    }
    // The same server, trusted and named as its certificate says, accepts.
    let right = TlsSmtpServer::start(Mode::Implicit, ca.server(&["localhost"])).await;
    let mailer = mailer(&format!("smtps://localhost:{}", right.port), &ca.file);
    assert!(
        mailer.describe().contains("implicit TLS"),
        "{}",
        mailer.describe()
    );
    mailer.send(&email()).await.unwrap();
    assert_eq!(right.wait_for(1).await.len(), 1);
}

/// Opportunistic STARTTLS takes the offer, and then checks the certificate
/// as strictly as `tls=required` does.
#[tokio::test]
async fn opportunistic_starttls_verifies_too() {
    let ca = TestCa::new();
    let server = TlsSmtpServer::start(Mode::StartTls, ca.server(&["localhost"])).await;
    let url = format!("smtp://localhost:{}?tls=opportunistic", server.port);
    mailer(&url, &ca.file).send(&email()).await.unwrap();
    assert!(server.wait_for(1).await[0].tls);
    let other = TestCa::new();
    let error = mailer(&url, &other.file).send(&email()).await.unwrap_err();
    assert!(
        matches!(&error, MailError::Permanent(m) if m.contains("UnknownIssuer")),
        "{error:?}"
    );
    assert_eq!(server.received().len(), 1);
}

/// The system's store is trusted, as reqwest trusts it: the real binary,
/// without GREENLIGHT_SMTP_CA_FILE, with the CA as its only system root
/// (`SSL_CERT_FILE`, which the system store reader honours; the machine's
/// own store is left alone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_system_store_is_trusted() {
    let ca = TestCa::new();
    let server = TlsSmtpServer::start(Mode::StartTls, ca.server(&["localhost"])).await;
    let db = TestDb::new(Backend::Sqlite);
    let approvers = approvers_stub(&["ana@example.com", "bruno@example.com"], Duration::ZERO).await;
    let mut env = test_env(&db, 0, &approvers);
    env.insert(
        "GREENLIGHT_SMTP_URL".into(),
        format!("smtp://localhost:{}?tls=required", server.port),
    );
    env.insert("SSL_CERT_FILE".into(), ca.file.display().to_string());
    env.insert("RUST_LOG".into(), "info".into());
    let service = Service::start(&env).await;
    let created = reqwest::Client::new()
        .post(format!("{}/release", service.address))
        .json(&release_body("tls-4"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 202);
    let received = server.wait_for(2).await;
    assert!(received.iter().all(|r| r.tls));
    assert!(
        service
            .output()
            .contains("(STARTTLS, trusting the system's CA store)"),
        "the start log says how mail goes: {}",
        service.output()
    );
}

/// `greenlight config` shows the CA file and where it was set; a file that
/// is not there stops the binary naming the variable.
#[test]
fn the_binary_shows_and_checks_the_ca_file() {
    let ca = TestCa::new();
    let mut env = std::collections::HashMap::from([
        (
            "GREENLIGHT_SMTP_URL".to_owned(),
            "smtps://mail.example.com".to_owned(),
        ),
        (
            "GREENLIGHT_SMTP_CA_FILE".to_owned(),
            ca.file.display().to_string(),
        ),
    ]);
    let (ok, config, err) = cli(&env, &["config"]);
    assert!(ok, "{err}");
    let line = config
        .lines()
        .find(|l| l.starts_with("GREENLIGHT_SMTP_CA_FILE "))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "));
    assert_eq!(
        line,
        Some(format!(
            "GREENLIGHT_SMTP_CA_FILE = {} # GREENLIGHT_SMTP_CA_FILE",
            ca.file.display()
        ))
    );
    let missing = ca.file.with_file_name("missing.pem");
    env.insert(
        "GREENLIGHT_SMTP_CA_FILE".into(),
        missing.display().to_string(),
    );
    let (ok, _, err) = cli(&env, &["config"]);
    assert!(
        !ok && err.contains("GREENLIGHT_SMTP_CA_FILE") && err.contains("missing.pem"),
        "{err}"
    );
}
