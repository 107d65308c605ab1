//! How emails leave: plain SMTP over our own connection, lettre's
//! transport for TLS and credentials (trusting the system's CA store and
//! `GREENLIGHT_SMTP_CA_FILE`), or the outbox folder.

use std::path::{Path, PathBuf};

use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use secrecy::ExposeSecret;

use super::MailSettings;
use super::{MailConfigError, MailError};

pub(super) enum Transport {
    /// TLS, credentials, or anything else lettre's own transport handles.
    Smtp(LettreSmtp),
    /// Plain `smtp://host:port` (a local relay, a sidecar): our own TCP
    /// connection with TCP_NODELAY. lettre 0.11.23 writes the message and
    /// its final dot separately without it, and the server's delayed ACK
    /// then holds the dot ~40 ms per email (fixed upstream, unreleased).
    Direct(DirectSmtp),
    Outbox(PathBuf),
}

pub(super) struct DirectSmtp {
    host: String,
    port: u16,
    hello: ClientId,
}

impl DirectSmtp {
    /// The plain-SMTP URLs it serves: `smtp://` without `tls=` and without
    /// credentials (lettre's transport handles the rest).
    fn from_url(url: &str) -> Option<Self> {
        let url = url::Url::parse(url).ok()?;
        let plain = url.scheme() == "smtp"
            && url.username().is_empty()
            && url.password().is_none()
            && !url.query_pairs().any(|(k, _)| k == "tls");
        if !plain {
            return None;
        }
        let path = url.path().trim_matches('/');
        Some(Self {
            host: url.host_str()?.trim_matches(['[', ']']).to_owned(),
            port: url.port().unwrap_or(25),
            hello: if path.is_empty() {
                ClientId::default()
            } else {
                ClientId::Domain(path.to_owned())
            },
        })
    }

    pub(super) async fn send(&self, message: &Message) -> Result<(), MailError> {
        let transient = |e: std::io::Error| MailError::Transient(format!("SMTP: {e}"));
        let classify = |e: lettre::transport::smtp::Error| {
            if e.is_permanent() {
                MailError::Permanent(format!("SMTP: {e}"))
            } else {
                MailError::Transient(format!("SMTP: {e}"))
            }
        };
        let stream = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(transient)?;
        stream.set_nodelay(true).map_err(transient)?;
        let mut conn = AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello)
            .await
            .map_err(classify)?;
        conn.send(message.envelope(), &message.formatted())
            .await
            .map_err(classify)?;
        // Accepted: a failed goodbye changes nothing.
        let _ = conn.quit().await;
        Ok(())
    }
}

pub(super) struct LettreSmtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    /// What the start log says of it (no credentials).
    description: String,
    /// TLS is asked for (STARTTLS or implicit).
    tls: bool,
}

/// How a `GREENLIGHT_SMTP_URL` asks for TLS, as lettre's URLs say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TlsMode {
    /// `smtp://user:pass@host`: plain (without credentials such URLs take
    /// the Direct path instead).
    None,
    /// `smtp://host?tls=opportunistic`: STARTTLS if the server offers it.
    Opportunistic,
    /// `smtp://host?tls=required`: STARTTLS or nothing.
    Required,
    /// `smtps://host`: TLS from the first byte (implicit TLS).
    Wrapper,
}

/// lettre's transport for a `GREENLIGHT_SMTP_URL`: the URL read as
/// lettre's `from_url` reads it (scheme, `tls=`, default ports, the
/// path as the EHLO name, percent-encoded credentials), but TLS trusts
/// the system's CA store plus `extra_roots` (`GREENLIGHT_SMTP_CA_FILE`),
/// in one root store, as reqwest does; lettre's `from_url` would trust
/// only what its features give every connection. Host names are verified.
fn lettre_transport(
    url: &str,
    timeout: std::time::Duration,
    extra_roots: &[CertificateDer<'static>],
) -> Result<LettreSmtp, MailConfigError> {
    // lettre's and url's messages may quote the URL: never echo it.
    let invalid = || MailConfigError("GREENLIGHT_SMTP_URL is not a valid SMTP URL".to_owned());
    let url = url::Url::parse(url).map_err(|_| invalid())?;
    let host = url
        .host_str()
        .ok_or_else(invalid)?
        .trim_matches(['[', ']'])
        .to_owned();
    let tls = url
        .query_pairs()
        .find(|(k, _)| k == "tls")
        .map(|(_, v)| v.into_owned());
    let (mode, default_port) = match (url.scheme(), tls.as_deref()) {
        ("smtp", None) => (TlsMode::None, 25),
        ("smtp", Some("required")) => (TlsMode::Required, 587),
        ("smtp", Some("opportunistic")) => (TlsMode::Opportunistic, 587),
        ("smtps", _) => (TlsMode::Wrapper, 465),
        _ => {
            return Err(MailConfigError(
                "GREENLIGHT_SMTP_URL must be smtp://host[:port] (?tls=required or \
                 ?tls=opportunistic for STARTTLS) or smtps://host[:port]"
                    .to_owned(),
            ))
        }
    };
    let port = url.port().unwrap_or(default_port);
    let mut builder =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.as_str()).port(port);
    let path = url.path().trim_matches('/');
    if !path.is_empty() {
        builder = builder.hello_name(ClientId::Domain(path.to_owned()));
    }
    if let Some(password) = url.password() {
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| invalid())
        };
        builder = builder.credentials(Credentials::new(decode(url.username())?, decode(password)?));
    }
    let (tls, what) = match mode {
        TlsMode::None => (Tls::None, "plain"),
        TlsMode::Opportunistic => (
            Tls::Opportunistic(tls_parameters(&host, extra_roots)?),
            "STARTTLS if offered",
        ),
        TlsMode::Required => (
            Tls::Required(tls_parameters(&host, extra_roots)?),
            "STARTTLS",
        ),
        TlsMode::Wrapper => (
            Tls::Wrapper(tls_parameters(&host, extra_roots)?),
            "implicit TLS",
        ),
    };
    let trust = match (mode, extra_roots.is_empty()) {
        (TlsMode::None, _) => "",
        (_, true) => ", trusting the system's CA store",
        (_, false) => ", trusting the system's CA store and GREENLIGHT_SMTP_CA_FILE",
    };
    Ok(LettreSmtp {
        transport: builder.tls(tls).timeout(Some(timeout)).build(),
        description: format!("SMTP {host}:{port} ({what}{trust})"),
        tls: mode != TlsMode::None,
    })
}

/// TLS for `domain` (the certificate must name it): lettre's default
/// store, which with its `rustls-platform-verifier` feature is the
/// system's (rustls-native-certs on Linux: `/etc/ssl`, or `SSL_CERT_FILE`
/// and `SSL_CERT_DIR` when set), with `extra_roots` added to the same
/// root store.
fn tls_parameters(
    domain: &str,
    extra_roots: &[CertificateDer<'static>],
) -> Result<TlsParameters, MailConfigError> {
    let mut builder = TlsParameters::builder(domain.to_owned());
    for root in extra_roots {
        builder = builder.add_root_certificate(
            Certificate::from_der(root.to_vec())
                .map_err(|e| MailConfigError(format!("GREENLIGHT_SMTP_CA_FILE: {e}")))?,
        );
    }
    builder.build().map_err(|e| {
        MailConfigError(format!(
            "TLS to the mail server: {e} (install the system's CA certificates, \
             or name the mail server's CA in GREENLIGHT_SMTP_CA_FILE)"
        ))
    })
}

/// The certificates of a PEM file (`GREENLIGHT_SMTP_CA_FILE`): at least
/// one, each usable as a trust anchor.
pub fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{} is not a readable PEM file: {e}", path.display()))?;
    if certificates.is_empty() {
        return Err(format!(
            "{} holds no certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    let mut store = rustls::RootCertStore::empty();
    for (n, certificate) in certificates.iter().enumerate() {
        store.add(certificate.clone()).map_err(|e| {
            format!(
                "certificate {} of {} is not a usable CA certificate: {e}",
                n + 1,
                path.display()
            )
        })?;
    }
    Ok(certificates)
}

/// The TLS certificate the mail server showed was refused (an unknown
/// CA, another host's name, expired): no retry can cure that, only the
/// operator (the CA file, the URL's host, the server's certificate).
/// Other TLS failures (a reset handshake) stay transient.
fn certificate_refused(error: &lettre::transport::smtp::Error) -> Option<&rustls::Error> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = next {
        // tokio-rustls hands rustls' error over inside an io::Error, whose
        // source() skips it.
        let tls = error.downcast_ref::<rustls::Error>().or_else(|| {
            error
                .downcast_ref::<std::io::Error>()
                .and_then(std::io::Error::get_ref)
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(tls @ rustls::Error::InvalidCertificate(_)) = tls {
            return Some(tls);
        }
        next = error.source();
    }
    None
}

impl LettreSmtp {
    pub(super) async fn send(&self, message: Message) -> Result<(), MailError> {
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(MailError::Permanent(format!("SMTP: {e}"))),
            Err(e) => match certificate_refused(&e) {
                Some(tls) => Err(MailError::Permanent(format!(
                    "SMTP: the mail server's TLS certificate was refused ({tls})"
                ))),
                None => Err(MailError::Transient(format!("SMTP: {e}"))),
            },
        }
    }
}

impl Transport {
    /// The transport `GREENLIGHT_SMTP_URL` names (the outbox without one).
    pub(super) fn from_settings(settings: &MailSettings) -> Result<Self, MailConfigError> {
        let extra_roots = match &settings.smtp_ca_file {
            Some(path) => read_ca_file(path)
                .map_err(|e| MailConfigError(format!("GREENLIGHT_SMTP_CA_FILE: {e}")))?,
            None => Vec::new(),
        };
        let transport = match &settings.smtp_url {
            Some(url) if DirectSmtp::from_url(url.expose_secret()).is_some() => {
                Transport::Direct(DirectSmtp::from_url(url.expose_secret()).expect("checked"))
            }
            Some(url) => Transport::Smtp(lettre_transport(
                url.expose_secret(),
                settings.smtp_timeout,
                &extra_roots,
            )?),
            None => Transport::Outbox(settings.outbox_dir.clone()),
        };
        if !extra_roots.is_empty() && !matches!(&transport, Transport::Smtp(s) if s.tls) {
            tracing::warn!(
                "GREENLIGHT_SMTP_CA_FILE is set but GREENLIGHT_SMTP_URL asks for no TLS: the file is not used"
            );
        }
        Ok(transport)
    }

    pub(super) fn describe(&self) -> String {
        match self {
            Transport::Smtp(smtp) => smtp.description.clone(),
            Transport::Direct(d) => format!("SMTP {}:{} (plain)", d.host, d.port),
            Transport::Outbox(dir) => format!("outbox folder {}", dir.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_smtp_urls_get_the_direct_connection() {
        let d = DirectSmtp::from_url("smtp://127.0.0.1:2525").unwrap();
        assert_eq!((d.host.as_str(), d.port), ("127.0.0.1", 2525));
        assert_eq!(DirectSmtp::from_url("smtp://relay").unwrap().port, 25);
        let d = DirectSmtp::from_url("smtp://[::1]:25/greenlight.example").unwrap();
        assert_eq!(d.host, "::1");
        assert_eq!(d.hello, ClientId::Domain("greenlight.example".into()));
    }

    /// A CA of this test's own, so that building TLS needs no system store.
    fn roots() -> Vec<CertificateDer<'static>> {
        let ca = rcgen::generate_simple_self_signed(vec!["ca.internal".to_owned()]).unwrap();
        vec![ca.cert.der().clone()]
    }

    #[test]
    fn tls_urls_read_as_lettre_reads_them() {
        let timeout = std::time::Duration::from_secs(1);
        for (url, description) in [
            (
                "smtps://user:hunter2@mail.example.com",
                "SMTP mail.example.com:465 (implicit TLS, trusting the system's CA store and GREENLIGHT_SMTP_CA_FILE)",
            ),
            (
                "smtp://mail.example.com?tls=required",
                "SMTP mail.example.com:587 (STARTTLS, trusting",
            ),
            (
                "smtp://mail.example.com:2525?tls=opportunistic",
                "SMTP mail.example.com:2525 (STARTTLS if offered, trusting",
            ),
            (
                "smtp://user:p%40ss@mail.example.com:25",
                "SMTP mail.example.com:25 (plain)",
            ),
            (
                "smtps://[::1]:1465/greenlight.example",
                "SMTP ::1:1465 (implicit TLS",
            ),
        ] {
            let smtp = lettre_transport(url, timeout, &roots()).unwrap();
            assert!(smtp.description.starts_with(description), "{url}: {}", smtp.description);
            assert_eq!(smtp.tls, !url.ends_with(":25"), "{url}");
            assert!(!smtp.description.contains("hunter2"));
        }
        for url in [
            "ftp://mail.example.com",
            "smtp://mail.example.com?tls=maybe",
            "smtp://",
        ] {
            let err = lettre_transport(url, timeout, &roots())
                .err()
                .expect(url)
                .to_string();
            assert!(err.contains("GREENLIGHT_SMTP_URL"), "{url}: {err}");
        }
    }

    #[test]
    fn tls_and_credentials_stay_with_lettre() {
        for url in [
            "smtps://mail.example.com",
            "smtp://mail.example.com?tls=required",
            "smtp://mail.example.com:587?tls=opportunistic",
            "smtp://user:secret@mail.example.com",
            "not a url",
        ] {
            assert!(DirectSmtp::from_url(url).is_none(), "{url}");
        }
    }
}
