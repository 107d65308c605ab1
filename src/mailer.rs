//! Approval emails: rendered from `templates/email/`, sent over SMTP, or
//! written to an outbox folder when no SMTP server is configured.

mod transport;

use askama::Template;
use chrono::{DateTime, Utc};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::Message;

use secrecy::SecretString;
pub use transport::read_ca_file;
use transport::Transport;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MailError {
    /// The server may accept it later (4xx, connection refused, timeout).
    #[error("{0}")]
    Transient(String),
    /// The server refused it for good (5xx), or the message cannot be built.
    #[error("{0}")]
    Permanent(String),
}

/// One approval email's content.
#[derive(Debug, Clone)]
pub struct ApprovalEmail {
    pub to: Mailbox,
    pub release_name: String,
    pub release_id: String,
    pub team_project: String,
    pub environment: String,
    pub token: String,
    pub expires_at: DateTime<Utc>,
    /// Stable across retries, so a receiving system can drop a duplicate.
    pub message_id: String,
    /// Names the outbox file; stable across retries too.
    pub file_stem: String,
    /// The request itself, or its one reminder (its own templates).
    pub reminder: bool,
}

#[derive(Template)]
#[template(path = "email/approval_request.txt")]
struct TextBody<'a> {
    e: &'a ApprovalEmail,
    approve_url: &'a str,
    reject_url: &'a str,
    expires: String,
}

#[derive(Template)]
#[template(path = "email/approval_request.html")]
struct HtmlBody<'a> {
    e: &'a ApprovalEmail,
    approve_url: &'a str,
    reject_url: &'a str,
    expires: String,
}

#[derive(Template)]
#[template(path = "email/approval_reminder.txt")]
struct ReminderText<'a> {
    e: &'a ApprovalEmail,
    approve_url: &'a str,
    reject_url: &'a str,
    expires: String,
}

#[derive(Template)]
#[template(path = "email/approval_reminder.html")]
struct ReminderHtml<'a> {
    e: &'a ApprovalEmail,
    approve_url: &'a str,
    reject_url: &'a str,
    expires: String,
}

pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    public_url: String,
    timeout: std::time::Duration,
}

/// What the mailer needs of the configuration.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// `GREENLIGHT_SMTP_URL`; without it emails go to `outbox_dir`.
    pub smtp_url: Option<SecretString>,
    /// A PEM file of CA certificates that TLS to the mail server trusts
    /// besides the system's store (an internal CA kept out of it).
    pub smtp_ca_file: Option<std::path::PathBuf>,
    pub mail_from: String,
    pub outbox_dir: std::path::PathBuf,
    /// The base of the approval links.
    pub public_url: String,
    pub smtp_timeout: std::time::Duration,
}

#[derive(Debug, thiserror::Error)]
#[error("mail configuration: {0}")]
pub struct MailConfigError(String);

impl Mailer {
    pub fn new(settings: &MailSettings) -> Result<Self, MailConfigError> {
        let from: Mailbox = settings
            .mail_from
            .parse()
            .map_err(|e| MailConfigError(format!("GREENLIGHT_MAIL_FROM: {e}")))?;
        let transport = Transport::from_settings(settings)?;
        Ok(Self {
            transport,
            from,
            public_url: settings.public_url.clone(),
            timeout: settings.smtp_timeout,
        })
    }

    pub fn describe(&self) -> String {
        self.transport.describe()
    }

    pub fn approval_link(&self, token: &str) -> String {
        format!("{}/approval?token={token}", self.public_url)
    }

    pub fn render(&self, email: &ApprovalEmail) -> Result<Message, MailError> {
        let approve_url = self.approval_link(&email.token);
        let reject_url = format!("{approve_url}&decision=reject");
        let expires = email.expires_at.format("%Y-%m-%d %H:%M UTC").to_string();
        let (approve, reject) = (approve_url.as_str(), reject_url.as_str());
        let rendered = if email.reminder {
            ReminderText {
                e: email,
                approve_url: approve,
                reject_url: reject,
                expires: expires.clone(),
            }
            .render()
            .and_then(|text| {
                ReminderHtml {
                    e: email,
                    approve_url: approve,
                    reject_url: reject,
                    expires,
                }
                .render()
                .map(|html| (text, html))
            })
        } else {
            TextBody {
                e: email,
                approve_url: approve,
                reject_url: reject,
                expires: expires.clone(),
            }
            .render()
            .and_then(|text| {
                HtmlBody {
                    e: email,
                    approve_url: approve,
                    reject_url: reject,
                    expires,
                }
                .render()
                .map(|html| (text, html))
            })
        };
        let (text, html) =
            rendered.map_err(|e| MailError::Permanent(format!("rendering the email: {e}")))?;
        // Release names cannot hold line breaks (see domain::release), and
        // the subject is encoded (RFC 2047): no header injection.
        Message::builder()
            .from(self.from.clone())
            .to(email.to.clone())
            .raw_header(subject(format!(
                "{}Approval requested: {} [{}] ({} #{})",
                if email.reminder { "Reminder: " } else { "" },
                email.release_name,
                email.environment,
                email.team_project,
                email.release_id
            )))
            .message_id(Some(email.message_id.clone()))
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| MailError::Permanent(format!("building the email: {e}")))
    }

    /// Sends one approval email. Returns once the SMTP server accepted it
    /// (or the outbox file is written).
    pub async fn send(&self, email: &ApprovalEmail) -> Result<(), MailError> {
        let message = self.render(email)?;
        match &self.transport {
            // lettre's own timeout covers connecting only (lettre issue
            // #1027): a server that stops answering mid-conversation would
            // hold the job, so the whole exchange is bounded here.
            Transport::Smtp(smtp) => {
                match tokio::time::timeout(self.timeout, smtp.send(message)).await {
                    Ok(result) => result,
                    Err(_) => Err(MailError::Transient(format!(
                        "SMTP: no answer within {} ms",
                        self.timeout.as_millis()
                    ))),
                }
            }
            Transport::Direct(direct) => {
                match tokio::time::timeout(self.timeout, direct.send(&message)).await {
                    Ok(result) => result,
                    Err(_) => Err(MailError::Transient(format!(
                        "SMTP: no answer within {} ms",
                        self.timeout.as_millis()
                    ))),
                }
            }
            Transport::Outbox(dir) => {
                write_outbox(dir, &email.file_stem, &message.formatted())
                    .await
                    .map_err(|e| MailError::Transient(format!("outbox {}: {e}", dir.display())))?;
                // No mail server: the operator follows the link from the log.
                tracing::info!(
                    to = %email.to,
                    link = %self.approval_link(&email.token),
                    "approval email written to the outbox"
                );
                Ok(())
            }
        }
    }
}

/// The Subject header, shown by mail clients exactly as written. lettre
/// encodes words with non-ASCII characters but writes ASCII words as they
/// are, so a release name holding an encoded word (`=?utf-8?b?...?=`) would
/// be shown decoded, as text nobody posted (characters the name's checks
/// refuse included). Such a subject is encoded whole.
fn subject(text: String) -> HeaderValue {
    const NAME: HeaderName = HeaderName::new_from_ascii_str("Subject");
    if !text.contains("=?") {
        return HeaderValue::new(NAME, text);
    }
    let mut encoded = String::new();
    {
        let mut writer = email_encoding::headers::writer::EmailWriter::new(
            &mut encoded,
            "Subject: ".len(),
            0,
            false,
        );
        email_encoding::headers::rfc2047::encode(&text, &mut writer)
            .expect("writing to a String does not fail");
    }
    HeaderValue::dangerous_new_pre_encoded(NAME, text, encoded)
}

/// Writes atomically (temporary file, then rename): a reader never sees half
/// an email, and a retry replaces rather than duplicates.
/// The folder and its emails are readable by the service's user only: each
/// email holds a working approval link.
async fn write_outbox(dir: &std::path::Path, stem: &str, bytes: &[u8]) -> std::io::Result<()> {
    tokio::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .await?;
    let tmp = dir.join(format!(".{stem}.eml.tmp"));
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .await?;
    tokio::io::AsyncWriteExt::write_all(&mut file, bytes).await?;
    file.sync_all().await?;
    drop(file);
    tokio::fs::rename(&tmp, dir.join(format!("{stem}.eml"))).await
}
