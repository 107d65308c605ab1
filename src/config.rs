//! Configuration: environment variables, or the same keys in a
//! `greenlight.toml` (environment wins). Read once at start and passed
//! down, so tests build their own `Settings`.

use std::collections::BTreeMap;

use std::path::PathBuf;
use std::time::Duration;

use figment::value::{Dict, Value};
use figment::Figment;

mod sources;

use crate::environments::policies::SetIn;
pub use crate::environments::Policies;
use sources::{ConfigFile, Variables};

use crate::domain::approver;
use crate::domain::policy::parse_approval_mode;
pub use crate::domain::policy::ApprovalMode;
use crate::domain::Policy;
use crate::environments::policies::webhook_url;
pub use crate::integrations::approvers::ApproversSource;
use crate::integrations::outbound::OutboundSettings;
use crate::mailer::MailSettings;
pub use crate::queue::QueueSettings;
pub use crate::redact::Secret;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// For people: one line of text per event.
    Text,
    /// For log pipelines: one JSON object per line, with the span fields
    /// (the request id) beside the event's.
    Json,
}

/// The GitHub App: all of its three variables, or none.
fn github(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Option<crate::integrations::github::GithubSettings>, ConfigError> {
    const NEEDED: [&str; 3] = [
        "GREENLIGHT_GITHUB_APP_ID",
        "GREENLIGHT_GITHUB_PRIVATE_KEY",
        "GREENLIGHT_GITHUB_WEBHOOK_SECRET",
    ];
    let values: Vec<Option<String>> = NEEDED.iter().map(|k| get(k)).collect();
    if values.iter().all(Option::is_none) {
        return Ok(None);
    }
    if let Some(missing) = NEEDED.iter().zip(&values).find(|(_, v)| v.is_none()) {
        return Err(ConfigError(format!(
            "{} must be set with the other GitHub App variables ({})",
            missing.0,
            NEEDED.join(", ")
        )));
    }
    let [app_id, key, webhook_secret] = <[Option<String>; 3]>::try_from(values)
        .expect("three values")
        .map(Option::unwrap_or_default);
    // The PEM itself (newlines escaped as \n in some secret stores), or
    // the path of the file GitHub handed out.
    let private_key = if key.starts_with("-----BEGIN") {
        key.replace("\\n", "\n")
    } else {
        std::fs::read_to_string(&key).map_err(|e| {
            ConfigError(format!(
                "GREENLIGHT_GITHUB_PRIVATE_KEY: neither a PEM key nor a readable file ({e})"
            ))
        })?
    };
    let settings = crate::integrations::github::GithubSettings {
        app_id,
        private_key,
        webhook_secret,
        api_url: get("GREENLIGHT_GITHUB_API_URL")
            .unwrap_or_else(|| "https://api.github.com".to_owned()),
    };
    // Checked now, so that a bad key fails at start naming its variable.
    settings.check().map_err(ConfigError)?;
    Ok(Some(settings))
}

/// `GREENLIGHT_BODY_TIMEOUT`'s default: a request body is a few
/// kilobytes; ten seconds is a very slow network.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct Settings {
    /// Where each value set came from (normalised key -> a variable's
    /// name or a file's path), for `greenlight config`.
    pub origins: BTreeMap<String, String>,
    pub listen: String,
    pub database_url: String,
    pub public_url: String,
    pub approvers: ApproversSource,
    pub smtp_url: Option<Secret>,
    /// A PEM file of CA certificates that TLS to the mail server trusts
    /// besides the system's store (an internal CA kept out of it).
    pub smtp_ca_file: Option<PathBuf>,
    pub mail_from: String,
    pub outbox_dir: PathBuf,
    pub secret: Option<Secret>,
    /// Secrets that signed before `secret`: their tokens still verify.
    pub secret_previous: Vec<Secret>,
    /// The HMAC key of webhook signatures.
    pub webhook_secret: Option<Secret>,
    /// Seals credentials kept in the database (`sealed`), and the key that
    /// sealed before it (a rotation). Checked to be 32 bytes of base64.
    pub encryption_key: Option<Secret>,
    pub encryption_key_previous: Option<Secret>,
    /// Greenlight as a GitHub App (deployment protection rules).
    pub github: Option<crate::integrations::github::GithubSettings>,
    pub log_format: LogFormat,
    /// Hosts an Azure DevOps PlanUrl may name (callback mode): Greenlight
    /// posts there with the caller's token, so not to just anywhere.
    pub azure_devops_hosts: Vec<String>,
    /// More `Host` names the service answers to (behind a proxy); `*` is
    /// any. The public URL's host and the listen address always are.
    pub allowed_hosts: Vec<String>,
    /// The longest a request body may take to arrive (then 408).
    pub body_timeout: Duration,
    /// Connections served at once, over all HTTP workers.
    pub max_connections: usize,
    /// Pipelines and operators must present an API key.
    pub require_api_key: bool,
    /// A release whose approvers source names more fails with a reason.
    pub max_approvers: usize,
    /// Requests per minute per client on `/approval` (`None`: no limit).
    pub approval_rate_limit: Option<u32>,
    /// Failed API key attempts per minute per client before 429s.
    pub auth_failure_limit: Option<u32>,
    pub approval_mode: ApprovalMode,
    /// The rule releases are decided by (stored with each release): the
    /// global one, and what projects and environments set over it.
    pub policies: Policies,
    pub http_timeout: Duration,
    /// Whether a target a caller names (an Azure DevOps PlanUrl, a GitHub
    /// callback URL) may be a private, loopback or link-local address.
    pub outbound_allow_private: bool,
    pub smtp_timeout: Duration,
    pub queue: QueueSettings,
    /// HTTP worker threads; `None` is one per core.
    pub http_workers: Option<usize>,
    /// Database connections per pool (one for requests, one for jobs);
    /// `None` picks by backend (see `db::Backend::default_pool_size`).
    pub db_pool_size: Option<u32>,
    /// How long a request waits for a free database connection (or, on
    /// SQLite, for the write slot) before it is answered 503.
    pub db_timeout: Duration,
    /// SQLite's `synchronous` setting: FULL (default) survives a power
    /// loss, NORMAL only a process crash.
    pub sqlite_synchronous_full: bool,
    /// Deprecated names that were read, each with what to write instead
    /// (logged at start).
    pub deprecations: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(String);

impl From<crate::environments::PolicyError> for ConfigError {
    fn from(e: crate::environments::PolicyError) -> Self {
        Self(e.0)
    }
}

impl Settings {
    /// Reads the process environment, over `greenlight.toml` if present
    /// (or the file named by `GREENLIGHT_CONFIG`).
    pub fn load() -> Result<Self, ConfigError> {
        Self::read(std::env::vars(), true)
    }

    /// Settings from these variables, over the file `GREENLIGHT_CONFIG`
    /// names if they name one (tests configure apps this way).
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        Self::read(vars, false)
    }

    fn read(
        vars: impl IntoIterator<Item = (String, String)>,
        default_file: bool,
    ) -> Result<Self, ConfigError> {
        let vars = Variables::new(vars);
        let file = vars
            .get("GREENLIGHT_CONFIG")
            .map(PathBuf::from)
            .or_else(|| {
                let default = PathBuf::from("greenlight.toml");
                (default_file && default.exists()).then_some(default)
            });
        let mut figment = Figment::new();
        if let Some(path) = file {
            figment = figment.merge(ConfigFile { path });
        }
        let figment = figment.merge(vars);
        let dict: Dict = figment.extract().map_err(|e| ConfigError(e.to_string()))?;
        let origins = dict
            .keys()
            .filter_map(|key| {
                let meta = figment.find_metadata(key)?;
                let origin = match &meta.source {
                    Some(figment::Source::File(path)) => path.display().to_string(),
                    _ => meta.interpolate(&figment::Profile::Default, &[key]),
                };
                Some((key.clone(), origin))
            })
            .collect();
        let projects = match dict.get("projects") {
            None => toml::Table::new(),
            Some(value) => value.deserialize().map_err(|e| {
                ConfigError(format!("projects must be a table ([projects.<name>]): {e}"))
            })?,
        };
        Self::from_parts(
            |key| {
                dict.get(&sources::normalise(key))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            },
            &projects,
            origins,
        )
    }

    /// Builds settings from a key lookup (variable names), the
    /// `[projects]` table and where each value came from.
    fn from_parts(
        get: impl Fn(&str) -> Option<String>,
        projects: &toml::Table,
        origins: BTreeMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let get = |key: &str| {
            get(key)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let listen = get("GREENLIGHT_LISTEN").unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let public_url = get("GREENLIGHT_PUBLIC_URL")
            .unwrap_or_else(|| format!("http://{listen}"))
            .trim_end_matches('/')
            .to_owned();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            return Err(ConfigError(format!(
                "GREENLIGHT_PUBLIC_URL must start with http:// or https://, got {public_url:?}"
            )));
        }
        let approvers = match (get("GREENLIGHT_APPROVERS_URL"), get("GREENLIGHT_APPROVERS")) {
            (Some(url), _) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(ConfigError(format!(
                        "GREENLIGHT_APPROVERS_URL must be an http(s) URL, got {url:?}"
                    )));
                }
                ApproversSource::Http(url)
            }
            (None, Some(list)) => ApproversSource::Static(
                approver::parse_list(&list)
                    .map_err(|e| ConfigError(format!("GREENLIGHT_APPROVERS: {e}")))?,
            ),
            (None, None) => ApproversSource::None,
        };
        let approval_mode = match get("GREENLIGHT_APPROVAL_MODE") {
            None => ApprovalMode::OneClick,
            Some(mode) => parse_approval_mode(&mode).ok_or_else(|| {
                ConfigError(format!(
                    "GREENLIGHT_APPROVAL_MODE must be one-click or confirm, got {mode:?}"
                ))
            })?,
        };
        let secret = get("GREENLIGHT_SECRET").map(Secret::new);
        if let Some(s) = &secret {
            if s.expose().len() < crate::token::MIN_SECRET_BYTES {
                return Err(ConfigError(format!(
                    "GREENLIGHT_SECRET must be at least {} bytes long",
                    crate::token::MIN_SECRET_BYTES
                )));
            }
        }
        let secret_previous = get("GREENLIGHT_SECRET_PREVIOUS")
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        if s.len() < crate::token::MIN_SECRET_BYTES {
                            Err(ConfigError(format!(
                                "GREENLIGHT_SECRET_PREVIOUS: each secret must be at least {} bytes long",
                                crate::token::MIN_SECRET_BYTES
                            )))
                        } else {
                            Ok(Secret::new(s))
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        let require_api_key = boolean(&get, "GREENLIGHT_REQUIRE_API_KEY", false)?;
        let max_approvers = number(&get, "GREENLIGHT_MAX_APPROVERS", 100usize)?;
        if max_approvers < 1 {
            return Err(ConfigError(
                "GREENLIGHT_MAX_APPROVERS must be at least 1".to_owned(),
            ));
        }
        let approval_rate_limit = per_minute(&get, "GREENLIGHT_APPROVAL_RATE_LIMIT", Some(60))?;
        let auth_failure_limit = per_minute(&get, "GREENLIGHT_AUTH_FAILURE_LIMIT", Some(10))?;
        let mut deprecated = Vec::new();
        let defaults = QueueSettings::default();
        let queue = QueueSettings {
            max_attempts: number(&get, "GREENLIGHT_JOB_MAX_ATTEMPTS", defaults.max_attempts)?,
            backoff_base: duration(
                &get,
                &mut deprecated,
                "GREENLIGHT_JOB_BACKOFF",
                defaults.backoff_base,
            )?,
            backoff_max: duration(
                &get,
                &mut deprecated,
                "GREENLIGHT_JOB_BACKOFF_MAX",
                defaults.backoff_max,
            )?,
            lease: duration(
                &get,
                &mut deprecated,
                "GREENLIGHT_JOB_LEASE",
                defaults.lease,
            )?,
            poll_interval: duration(
                &get,
                &mut deprecated,
                "GREENLIGHT_JOB_POLL",
                defaults.poll_interval,
            )?,
            concurrency: number(&get, "GREENLIGHT_JOB_CONCURRENCY", defaults.concurrency)?,
            job_timeout: duration(
                &get,
                &mut deprecated,
                "GREENLIGHT_JOB_TIMEOUT",
                defaults.job_timeout,
            )?,
            shutdown_timeout: seconds(
                &get,
                "GREENLIGHT_SHUTDOWN_TIMEOUT",
                defaults.shutdown_timeout,
            )?,
        };
        if queue.max_attempts < 1 || queue.concurrency < 1 {
            return Err(ConfigError(
                "GREENLIGHT_JOB_MAX_ATTEMPTS and GREENLIGHT_JOB_CONCURRENCY must be at least 1"
                    .to_owned(),
            ));
        }
        if queue.lease < Duration::from_millis(300)
            || queue.poll_interval.is_zero()
            || queue.job_timeout.is_zero()
        {
            return Err(ConfigError(
                "GREENLIGHT_JOB_LEASE must be at least 300ms, GREENLIGHT_JOB_POLL and GREENLIGHT_JOB_TIMEOUT at least 1ms"
                    .to_owned(),
            ));
        }
        let webhook = get("GREENLIGHT_WEBHOOK_URL")
            .filter(|v| !v.eq_ignore_ascii_case("off"))
            .map(|url| {
                webhook_url(&url).map_err(|e| ConfigError(format!("GREENLIGHT_WEBHOOK_URL {e}")))
            })
            .transpose()?;
        let policies = Policies::global(policy(&get)?, approvers.clone())
            .with_approval_mode(approval_mode)
            .with_webhook(webhook)
            .with_projects(projects)?;
        let webhook_secret = get("GREENLIGHT_WEBHOOK_SECRET").map(Secret::new);
        let github = github(&get)?;
        let smtp_ca_file = get("GREENLIGHT_SMTP_CA_FILE").map(PathBuf::from);
        if let Some(path) = &smtp_ca_file {
            // Read now, so that a wrong path fails at start naming it.
            crate::mailer::read_ca_file(path)
                .map_err(|e| ConfigError(format!("GREENLIGHT_SMTP_CA_FILE: {e}")))?;
        }
        if policies.any_webhook() && webhook_secret.is_none() {
            return Err(ConfigError(
                "GREENLIGHT_WEBHOOK_SECRET must be set to sign the webhooks that are configured"
                    .to_owned(),
            ));
        }
        let [encryption_key, encryption_key_previous] = [
            "GREENLIGHT_ENCRYPTION_KEY",
            "GREENLIGHT_ENCRYPTION_KEY_PREVIOUS",
        ]
        .map(|name| {
            get(name)
                .map(|value| {
                    crate::sealed::SealKey::parse(&value)
                        .map(|_| Secret::new(value))
                        .map_err(|e| ConfigError(format!("{name} {e}")))
                })
                .transpose()
        });
        let (encryption_key, encryption_key_previous) = (encryption_key?, encryption_key_previous?);
        if encryption_key.is_none() && encryption_key_previous.is_some() {
            return Err(ConfigError(
                "GREENLIGHT_ENCRYPTION_KEY_PREVIOUS is set without GREENLIGHT_ENCRYPTION_KEY"
                    .to_owned(),
            ));
        }
        Ok(Self {
            origins,
            listen,
            database_url: get("DATABASE_URL").unwrap_or_else(|| "greenlight.db".to_owned()),
            public_url,
            approvers,
            smtp_url: get("GREENLIGHT_SMTP_URL").map(Secret::new),
            smtp_ca_file,
            mail_from: get("GREENLIGHT_MAIL_FROM")
                .unwrap_or_else(|| "Greenlight <greenlight@localhost>".to_owned()),
            outbox_dir: get("GREENLIGHT_OUTBOX_DIR")
                .unwrap_or_else(|| "outbox".to_owned())
                .into(),
            secret,
            secret_previous,
            webhook_secret,
            encryption_key,
            encryption_key_previous,
            github,
            azure_devops_hosts: get("GREENLIGHT_AZURE_DEVOPS_HOSTS")
                .unwrap_or_else(|| "dev.azure.com,*.visualstudio.com".to_owned())
                .split(',')
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
            allowed_hosts: get("GREENLIGHT_ALLOWED_HOSTS")
                .unwrap_or_default()
                .split(',')
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
            body_timeout: duration(
                &get,
                &mut deprecated,
                "GREENLIGHT_BODY_TIMEOUT",
                DEFAULT_BODY_TIMEOUT,
            )?,
            max_connections: match number(&get, "GREENLIGHT_MAX_CONNECTIONS", 1024usize)? {
                0 => {
                    return Err(ConfigError(
                        "GREENLIGHT_MAX_CONNECTIONS must be at least 1".to_owned(),
                    ))
                }
                n => n,
            },
            log_format: match get("GREENLIGHT_LOG_FORMAT")
                .map(|v| v.to_ascii_lowercase())
                .as_deref()
            {
                None | Some("text") => LogFormat::Text,
                Some("json") => LogFormat::Json,
                Some(other) => {
                    return Err(ConfigError(format!(
                        "GREENLIGHT_LOG_FORMAT must be text or json, got {other:?}"
                    )))
                }
            },
            require_api_key,
            max_approvers,
            approval_rate_limit,
            auth_failure_limit,
            approval_mode,
            policies,
            http_timeout: duration(
                &get,
                &mut deprecated,
                "GREENLIGHT_HTTP_TIMEOUT",
                Duration::from_secs(10),
            )?,
            outbound_allow_private: boolean(&get, "GREENLIGHT_OUTBOUND_ALLOW_PRIVATE", false)?,
            smtp_timeout: duration(
                &get,
                &mut deprecated,
                "GREENLIGHT_SMTP_TIMEOUT",
                Duration::from_secs(30),
            )?,
            queue,
            http_workers: optional_number(&get, "GREENLIGHT_HTTP_WORKERS")?,
            db_pool_size: optional_number(&get, "GREENLIGHT_DB_POOL_SIZE")?,
            db_timeout: duration(
                &get,
                &mut deprecated,
                "GREENLIGHT_DB_TIMEOUT",
                Duration::from_secs(5),
            )?,
            sqlite_synchronous_full: match get("GREENLIGHT_SQLITE_SYNCHRONOUS")
                .map(|v| v.to_ascii_lowercase())
                .as_deref()
            {
                None | Some("full") => true,
                Some("normal") => false,
                Some(other) => {
                    return Err(ConfigError(format!(
                        "GREENLIGHT_SQLITE_SYNCHRONOUS must be full or normal, got {other:?}"
                    )))
                }
            },
            deprecations: deprecated,
        })
    }
}

impl Settings {
    /// Seals and opens the credentials kept in the database.
    pub fn sealer(&self) -> crate::sealed::Sealer {
        let key = |s: &Option<Secret>| {
            s.as_ref()
                .and_then(|s| crate::sealed::SealKey::parse(s.expose()).ok())
        };
        crate::sealed::Sealer::new(
            key(&self.encryption_key),
            key(&self.encryption_key_previous),
        )
    }

    /// The mailer's part of the configuration.
    pub fn mail(&self) -> MailSettings {
        MailSettings {
            smtp_url: self.smtp_url.clone(),
            smtp_ca_file: self.smtp_ca_file.clone(),
            mail_from: self.mail_from.clone(),
            outbox_dir: self.outbox_dir.clone(),
            public_url: self.public_url.clone(),
            smtp_timeout: self.smtp_timeout,
        }
    }

    /// The outbound HTTP client's part: every integration calls out with it.
    pub fn outbound(&self) -> OutboundSettings {
        OutboundSettings {
            timeout: self.http_timeout,
            allow_private: self.outbound_allow_private,
        }
    }

    /// Where the value of variable `name` came from: a variable, a file,
    /// or the default.
    pub fn origin(&self, name: &str) -> &str {
        self.origins
            .get(&sources::normalise(name))
            .map_or("default", String::as_str)
    }

    /// What `greenlight config` prints: every variable (secrets masked),
    /// then each project's and environment's policy key by key, each line
    /// with where its value came from.
    pub fn lines(&self) -> Vec<(String, String, String)> {
        let mut lines: Vec<(String, String, String)> = self
            .effective()
            .into_iter()
            .map(|(key, value)| {
                let origin = match self.origin(key) {
                    // Read from the older name of the key.
                    "default" if self.origin(&format!("{key}_MS")) != "default" => {
                        format!("{} (deprecated name)", self.origin(&format!("{key}_MS")))
                    }
                    origin => origin.to_owned(),
                };
                (key.to_owned(), value, origin)
            })
            .collect();
        let file = self
            .origins
            .get("projects")
            .map_or("default", String::as_str);
        for table in self.policies.report() {
            for key in table.keys {
                let origin = match key.set_in {
                    SetIn::Here => file.to_owned(),
                    SetIn::Project(project) => format!("{project} in {file}"),
                    SetIn::Global => format!("global: {}", self.origin(key.variable)),
                };
                lines.push((format!("[{}] {}", table.table, key.key), key.value, origin));
            }
        }
        lines
    }

    /// The configuration in effect, as `greenlight config` prints it:
    /// variable names and values, secrets masked.
    pub fn effective(&self) -> Vec<(&'static str, String)> {
        use crate::redact::mask_url;
        let rate = |r: Option<u32>| r.map_or("off".to_owned(), |n| format!("{n} per minute"));
        let key = crate::domain::ReleaseKey::parse("-", None, "-").expect("a valid key");
        let global = self.policies.resolve(&key).0;
        let q = &self.queue;
        let show = |d: Duration| humantime::format_duration(d).to_string();
        vec![
            ("GREENLIGHT_LISTEN", self.listen.clone()),
            ("DATABASE_URL", mask_url(&self.database_url)),
            ("GREENLIGHT_PUBLIC_URL", self.public_url.clone()),
            (
                "GREENLIGHT_APPROVERS_URL",
                match &self.approvers {
                    ApproversSource::Http(url) => mask_url(url),
                    _ => "(not set)".to_owned(),
                },
            ),
            (
                "GREENLIGHT_APPROVERS",
                match &self.approvers {
                    ApproversSource::Static(list) => format!("{} approvers", list.len()),
                    _ => "(not set)".to_owned(),
                },
            ),
            (
                "GREENLIGHT_SMTP_URL",
                self.smtp_url.as_ref().map_or_else(
                    || format!("(not set: emails go to {})", self.outbox_dir.display()),
                    |u| mask_url(u.expose()),
                ),
            ),
            (
                "GREENLIGHT_SMTP_CA_FILE",
                self.smtp_ca_file.as_ref().map_or_else(
                    || "(not set: TLS trusts the system's CA store)".to_owned(),
                    |path| path.display().to_string(),
                ),
            ),
            ("GREENLIGHT_MAIL_FROM", self.mail_from.clone()),
            (
                "GREENLIGHT_SECRET",
                self.secret.as_ref().map_or_else(
                    || "(not set: generated once, kept in the database)".to_owned(),
                    |_| "*** (set)".to_owned(),
                ),
            ),
            (
                "GREENLIGHT_ENCRYPTION_KEY",
                self.encryption_key.as_ref().map_or_else(
                    || "(not set: credentials in the database are kept in clear)".to_owned(),
                    |_| "*** (set)".to_owned(),
                ),
            ),
            (
                "GREENLIGHT_ENCRYPTION_KEY_PREVIOUS",
                self.encryption_key_previous
                    .as_ref()
                    .map_or_else(|| "(not set)".to_owned(), |_| "*** (set)".to_owned()),
            ),
            (
                "GREENLIGHT_SECRET_PREVIOUS",
                format!("{} previous secrets", self.secret_previous.len()),
            ),
            (
                "GREENLIGHT_APPROVAL_MODE",
                match self.approval_mode {
                    ApprovalMode::OneClick => "one-click".to_owned(),
                    ApprovalMode::Confirm => "confirm".to_owned(),
                },
            ),
            (
                "GREENLIGHT_REQUIRE_API_KEY",
                self.require_api_key.to_string(),
            ),
            ("GREENLIGHT_MAX_APPROVERS", self.max_approvers.to_string()),
            (
                "GREENLIGHT_APPROVAL_RATE_LIMIT",
                rate(self.approval_rate_limit),
            ),
            (
                "GREENLIGHT_AUTH_FAILURE_LIMIT",
                rate(self.auth_failure_limit),
            ),
            (
                "GREENLIGHT_REQUIRED_APPROVALS",
                global.quorum.map_or("all".to_owned(), |n| n.to_string()),
            ),
            (
                "GREENLIGHT_REQUESTER_CAN_APPROVE",
                global.requester_can_approve.to_string(),
            ),
            (
                "GREENLIGHT_RELEASE_TTL",
                crate::domain::policy::format_duration(global.release_ttl),
            ),
            (
                "GREENLIGHT_REMINDER_AFTER",
                global
                    .reminder_after
                    .map_or("off".to_owned(), crate::domain::policy::format_duration),
            ),
            ("GREENLIGHT_JOB_MAX_ATTEMPTS", q.max_attempts.to_string()),
            ("GREENLIGHT_JOB_BACKOFF", show(q.backoff_base)),
            ("GREENLIGHT_JOB_BACKOFF_MAX", show(q.backoff_max)),
            ("GREENLIGHT_JOB_LEASE", show(q.lease)),
            ("GREENLIGHT_JOB_POLL", show(q.poll_interval)),
            ("GREENLIGHT_JOB_CONCURRENCY", q.concurrency.to_string()),
            ("GREENLIGHT_JOB_TIMEOUT", show(q.job_timeout)),
            ("GREENLIGHT_SHUTDOWN_TIMEOUT", show(q.shutdown_timeout)),
            (
                "GREENLIGHT_ALLOWED_HOSTS",
                if self.allowed_hosts.is_empty() {
                    "(none: the public URL's host and the listen address)".to_owned()
                } else {
                    self.allowed_hosts.join(",")
                },
            ),
            ("GREENLIGHT_BODY_TIMEOUT", show(self.body_timeout)),
            (
                "GREENLIGHT_MAX_CONNECTIONS",
                self.max_connections.to_string(),
            ),
            ("GREENLIGHT_HTTP_TIMEOUT", show(self.http_timeout)),
            (
                "GREENLIGHT_OUTBOUND_ALLOW_PRIVATE",
                self.outbound_allow_private.to_string(),
            ),
            ("GREENLIGHT_SMTP_TIMEOUT", show(self.smtp_timeout)),
            (
                "GREENLIGHT_HTTP_WORKERS",
                self.http_workers
                    .map_or("(one per core)".to_owned(), |n| n.to_string()),
            ),
            (
                "GREENLIGHT_DB_POOL_SIZE",
                self.db_pool_size
                    .map_or("(by backend)".to_owned(), |n| n.to_string()),
            ),
            ("GREENLIGHT_DB_TIMEOUT", show(self.db_timeout)),
            (
                "GREENLIGHT_SQLITE_SYNCHRONOUS",
                if self.sqlite_synchronous_full {
                    "full"
                } else {
                    "normal"
                }
                .to_owned(),
            ),
        ]
    }

    /// Masks every configured secret (signing keys, URL credentials and
    /// query strings) in texts meant for people and logs.
    pub fn redactor(&self) -> crate::redact::Redactor {
        let github = self
            .github
            .iter()
            .flat_map(|g| [g.webhook_secret.as_str(), g.private_key.as_str()]);
        let values = [
            &self.secret,
            &self.webhook_secret,
            &self.encryption_key,
            &self.encryption_key_previous,
        ]
        .into_iter()
        .flatten()
        .chain(&self.secret_previous)
        .map(Secret::expose)
        .chain(github);
        let urls = self
            .policies
            .urls()
            .into_iter()
            .chain(self.smtp_url.as_ref().map(Secret::expose))
            .chain(Some(self.database_url.as_str()));
        crate::redact::Redactor::new(values, urls)
    }
}

/// The global policy: `GREENLIGHT_REQUIRED_APPROVALS` (`all` or N),
/// `GREENLIGHT_REQUESTER_CAN_APPROVE`, `GREENLIGHT_RELEASE_TTL` (`72h`; the
/// older `GREENLIGHT_DECISION_TIMEOUT_HOURS` is still read when it is unset).
fn policy(get: &impl Fn(&str) -> Option<String>) -> Result<Policy, ConfigError> {
    let defaults = Policy::default();
    let quorum = match get("GREENLIGHT_REQUIRED_APPROVALS") {
        None => None,
        Some(v) if v.eq_ignore_ascii_case("all") => None,
        Some(v) => Some(v.parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(|| {
            ConfigError(format!(
                "GREENLIGHT_REQUIRED_APPROVALS must be all or a number of at least 1, got {v:?}"
            ))
        })?),
    };
    let requester_can_approve = boolean(
        get,
        "GREENLIGHT_REQUESTER_CAN_APPROVE",
        defaults.requester_can_approve,
    )?;
    let release_ttl = match (
        get("GREENLIGHT_RELEASE_TTL"),
        get("GREENLIGHT_DECISION_TIMEOUT_HOURS"),
    ) {
        (Some(ttl), _) => crate::domain::policy::parse_duration(&ttl)
            .map_err(|e| ConfigError(format!("GREENLIGHT_RELEASE_TTL: {e}")))?,
        (None, Some(hours)) => {
            let hours: i64 = parse("GREENLIGHT_DECISION_TIMEOUT_HOURS", &hours)?;
            if !(1..=8784).contains(&hours) {
                return Err(ConfigError(
                    "GREENLIGHT_DECISION_TIMEOUT_HOURS must be from 1 to 8784 (a year)".to_owned(),
                ));
            }
            chrono::Duration::hours(hours)
        }
        (None, None) => defaults.release_ttl,
    };
    let reminder_after = match get("GREENLIGHT_REMINDER_AFTER") {
        None => None,
        Some(v) if v.eq_ignore_ascii_case("off") => None,
        Some(v) => Some(
            crate::domain::policy::parse_duration(&v)
                .map_err(|e| ConfigError(format!("GREENLIGHT_REMINDER_AFTER: {e}")))?,
        ),
    };
    Ok(Policy {
        quorum,
        requester_can_approve,
        release_ttl,
        reminder_after,
    })
}

fn boolean(
    get: &impl Fn(&str) -> Option<String>,
    key: &str,
    default: bool,
) -> Result<bool, ConfigError> {
    match get(key) {
        None => Ok(default),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(ConfigError(format!(
            "{key} must be true or false, got {v:?}"
        ))),
    }
}

/// A rate: a number per minute, or `off` (also `0`) for no limit.
fn per_minute(
    get: &impl Fn(&str) -> Option<String>,
    key: &str,
    default: Option<u32>,
) -> Result<Option<u32>, ConfigError> {
    match get(key) {
        None => Ok(default),
        Some(v) if v.eq_ignore_ascii_case("off") => Ok(None),
        Some(v) => v.parse::<u32>().map(|n| (n > 0).then_some(n)).map_err(|_| {
            ConfigError(format!(
                "{key} must be a number per minute or off, got {v:?}"
            ))
        }),
    }
}

fn parse<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ConfigError> {
    value
        .parse()
        .map_err(|_| ConfigError(format!("{key} must be a number, got {value:?}")))
}

fn number<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    key: &str,
    default: T,
) -> Result<T, ConfigError> {
    get(key).map_or(Ok(default), |v| parse(key, &v))
}

/// A number with no fixed default (`None`: decided later, e.g. per backend).
fn optional_number<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    key: &str,
) -> Result<Option<T>, ConfigError> {
    get(key).map(|v| parse(key, &v)).transpose()
}

/// Seconds, written `25` (as before), or a duration like `25s` or `1m`.
fn seconds(
    get: &impl Fn(&str) -> Option<String>,
    key: &str,
    default: Duration,
) -> Result<Duration, ConfigError> {
    get(key).map_or(Ok(default), |v| match v.parse::<u64>() {
        Ok(n) => Ok(Duration::from_secs(n)),
        Err(_) => humantime::parse_duration(&v).map_err(|_| {
            ConfigError(format!(
                "{key} must be a duration like 25s or 1m (or seconds), got {v:?}"
            ))
        }),
    })
}

/// A duration, written `500ms`, `5s`, `2m`. The older `<key>_MS`, in
/// milliseconds, is still read when `key` is unset, with a line in
/// `deprecated` for the start log.
fn duration(
    get: &impl Fn(&str) -> Option<String>,
    deprecated: &mut Vec<String>,
    key: &str,
    default: Duration,
) -> Result<Duration, ConfigError> {
    if let Some(v) = get(key) {
        return humantime::parse_duration(&v).map_err(|_| {
            ConfigError(format!(
                "{key} must be a duration like 500ms, 5s or 2m, got {v:?}"
            ))
        });
    }
    let old = format!("{key}_MS");
    match get(&old) {
        None => Ok(default),
        Some(v) => {
            deprecated.push(format!(
                "{old} is deprecated and will go: write {key}={v}ms (or 5s, 2m) instead"
            ));
            parse(&old, &v).map(Duration::from_millis)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::from_vars(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        )
    }

    #[test]
    fn defaults_need_nothing() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.listen, "127.0.0.1:8080");
        assert_eq!(s.database_url, "greenlight.db");
        assert_eq!(s.public_url, "http://127.0.0.1:8080");
        assert_eq!(s.mail_from, "Greenlight <greenlight@localhost>");
        assert_eq!(s.approval_mode, ApprovalMode::OneClick);
        assert!(matches!(s.approvers, ApproversSource::None));
        assert!(s.smtp_url.is_none() && s.secret.is_none());
        assert_eq!(s.queue.shutdown_timeout, Duration::from_secs(25));
        assert!(s.sqlite_synchronous_full, "the safe default");
        assert!(!s.require_api_key && s.secret_previous.is_empty());
        assert_eq!(s.max_approvers, 100);
        assert_eq!(
            (s.approval_rate_limit, s.auth_failure_limit),
            (Some(60), Some(10))
        );
        let key = crate::domain::ReleaseKey::parse("Devx", None, "1").unwrap();
        assert_eq!(s.policies.resolve(&key).0, Policy::default());
        assert_eq!(
            s.policies.resolve(&key).0.release_ttl,
            chrono::Duration::hours(72)
        );
    }

    #[test]
    fn the_policy_reads_its_variables() {
        let s = settings(&[
            ("GREENLIGHT_REQUIRED_APPROVALS", "2"),
            ("GREENLIGHT_REQUESTER_CAN_APPROVE", "TRUE"),
            ("GREENLIGHT_RELEASE_TTL", "4h"),
            ("GREENLIGHT_DECISION_TIMEOUT_HOURS", "9"),
        ])
        .unwrap();
        let key = crate::domain::ReleaseKey::parse("Devx", None, "1").unwrap();
        let policy = s.policies.resolve(&key).0;
        assert_eq!(policy.quorum, Some(2));
        assert!(policy.requester_can_approve);
        assert_eq!(
            policy.release_ttl,
            chrono::Duration::hours(4),
            "the new name wins"
        );
        let s = settings(&[("GREENLIGHT_DECISION_TIMEOUT_HOURS", "9")]).unwrap();
        assert_eq!(
            s.policies.resolve(&key).0.release_ttl,
            chrono::Duration::hours(9)
        );
        let s = settings(&[("GREENLIGHT_REQUIRED_APPROVALS", "all")]).unwrap();
        assert_eq!(s.policies.resolve(&key).0.quorum, None);
    }

    #[test]
    fn the_url_source_wins_over_the_static_list() {
        let s = settings(&[
            ("GREENLIGHT_APPROVERS_URL", "http://x/{team_project}"),
            ("GREENLIGHT_APPROVERS", "a@b.c"),
        ])
        .unwrap();
        assert!(matches!(s.approvers, ApproversSource::Http(_)));
        let s = settings(&[("GREENLIGHT_APPROVERS", "Ana <a@b.c>, d@e.f")]).unwrap();
        assert!(matches!(s.approvers, ApproversSource::Static(ref l) if l.len() == 2));
    }

    #[test]
    fn durations_are_written_with_units_and_the_ms_names_still_read() {
        let s = settings(&[
            ("GREENLIGHT_JOB_POLL", "250ms"),
            ("GREENLIGHT_HTTP_TIMEOUT", "1m 30s"),
            ("GREENLIGHT_SHUTDOWN_TIMEOUT", "20"),
        ])
        .unwrap();
        assert_eq!(s.queue.poll_interval, Duration::from_millis(250));
        assert_eq!(s.http_timeout, Duration::from_secs(90));
        assert_eq!(s.queue.shutdown_timeout, Duration::from_secs(20));
        assert!(s.deprecations.is_empty());
        // The older name, in milliseconds: read, with a line saying what to
        // write instead; the new name wins when both are set.
        let s = settings(&[
            ("GREENLIGHT_JOB_POLL_MS", "200"),
            ("GREENLIGHT_DB_TIMEOUT_MS", "700"),
            ("GREENLIGHT_DB_TIMEOUT", "2s"),
        ])
        .unwrap();
        assert_eq!(s.queue.poll_interval, Duration::from_millis(200));
        assert_eq!(s.db_timeout, Duration::from_secs(2));
        assert_eq!(s.deprecations.len(), 1, "{:?}", s.deprecations);
        assert!(s.deprecations[0].contains("GREENLIGHT_JOB_POLL_MS"));
        assert!(s.deprecations[0].contains("GREENLIGHT_JOB_POLL=200ms"));
        let shown = s.lines();
        let poll = shown
            .iter()
            .find(|(k, _, _)| k == "GREENLIGHT_JOB_POLL")
            .unwrap();
        assert_eq!(poll.1, "200ms");
        assert!(poll.2.contains("GREENLIGHT_JOB_POLL_MS"), "{poll:?}");
    }

    #[test]
    fn bad_values_are_refused_with_the_variable_named() {
        for (key, value) in [
            ("GREENLIGHT_APPROVAL_MODE", "sometimes"),
            ("GREENLIGHT_APPROVERS", "not-an-email"),
            ("GREENLIGHT_APPROVERS_URL", "ftp://x"),
            ("GREENLIGHT_PUBLIC_URL", "example.com"),
            ("GREENLIGHT_SECRET", "short"),
            ("GREENLIGHT_JOB_MAX_ATTEMPTS", "many"),
            ("GREENLIGHT_JOB_MAX_ATTEMPTS", "0"),
            ("GREENLIGHT_JOB_LEASE", "0ms"),
            ("GREENLIGHT_JOB_LEASE", "5"),
            ("GREENLIGHT_JOB_LEASE_MS", "soon"),
            ("GREENLIGHT_HTTP_TIMEOUT", "ten seconds"),
            ("GREENLIGHT_SHUTDOWN_TIMEOUT", "soon"),
            ("GREENLIGHT_REQUIRED_APPROVALS", "0"),
            ("GREENLIGHT_REQUIRED_APPROVALS", "most"),
            ("GREENLIGHT_REQUESTER_CAN_APPROVE", "yes"),
            ("GREENLIGHT_RELEASE_TTL", "3 days"),
            ("GREENLIGHT_REMINDER_AFTER", "tomorrow"),
            ("GREENLIGHT_DECISION_TIMEOUT_HOURS", "0"),
            ("GREENLIGHT_SQLITE_SYNCHRONOUS", "off"),
            ("GREENLIGHT_SECRET_PREVIOUS", "short"),
            ("GREENLIGHT_REQUIRE_API_KEY", "yes"),
            ("GREENLIGHT_MAX_APPROVERS", "0"),
            ("GREENLIGHT_APPROVAL_RATE_LIMIT", "lots"),
            ("GREENLIGHT_AUTH_FAILURE_LIMIT", "-1"),
            ("GREENLIGHT_WEBHOOK_URL", "ftp://x"),
            ("GREENLIGHT_GITHUB_APP_ID", "1"),
            ("GREENLIGHT_GITHUB_PRIVATE_KEY", "/nonexistent/key.pem"),
            ("GREENLIGHT_LOG_FORMAT", "xml"),
        ] {
            let err = settings(&[(key, value)]).unwrap_err().to_string();
            assert!(err.contains(key), "{err}");
        }
    }

    #[test]
    fn the_smtp_ca_file_must_be_a_pem_file_of_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path.display().to_string()
        };
        let key = rcgen::KeyPair::generate().unwrap().serialize_pem();
        for (path, why) in [
            (
                dir.path().join("missing.pem").display().to_string(),
                "cannot read",
            ),
            (write("empty.pem", ""), "holds no certificate"),
            (write("key.pem", &key), "holds no certificate"),
            (
                write(
                    "garbage.pem",
                    "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n",
                ),
                "certificate 1 of",
            ),
            (
                write("broken.pem", "-----BEGIN CERTIFICATE-----\nabc\n"),
                "not a readable PEM file",
            ),
        ] {
            let err = settings(&[("GREENLIGHT_SMTP_CA_FILE", &path)])
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("GREENLIGHT_SMTP_CA_FILE") && err.contains(why),
                "{path}: {err}"
            );
        }

        // Two CAs in one file, a key beside them (ignored).
        let ca = || {
            rcgen::generate_simple_self_signed(vec!["ca.internal".to_owned()])
                .unwrap()
                .cert
                .pem()
        };
        let path = write("cas.pem", &format!("{}{key}{}", ca(), ca()));
        let s = settings(&[("GREENLIGHT_SMTP_CA_FILE", &path)]).unwrap();
        assert_eq!(s.smtp_ca_file.as_deref(), Some(std::path::Path::new(&path)));
        assert_eq!(
            crate::mailer::read_ca_file(std::path::Path::new(&path))
                .unwrap()
                .len(),
            2
        );
        let shown = |s: &Settings| {
            s.effective()
                .into_iter()
                .find(|(k, _)| *k == "GREENLIGHT_SMTP_CA_FILE")
                .unwrap()
                .1
        };
        assert_eq!(shown(&s), path);
        assert_eq!(
            s.origin("GREENLIGHT_SMTP_CA_FILE"),
            "GREENLIGHT_SMTP_CA_FILE"
        );
        let unset = settings(&[]).unwrap();
        assert!(unset.smtp_ca_file.is_none());
        assert!(shown(&unset).contains("system's CA store"));
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let s = settings(&[
            (
                "GREENLIGHT_SECRET",
                "a-very-long-secret-of-more-than-32-bytes",
            ),
            (
                "GREENLIGHT_SMTP_URL",
                "smtps://user:hunter2@mail.example.com",
            ),
        ])
        .unwrap();
        let debug = format!("{s:?}");
        assert!(!debug.contains("hunter2") && !debug.contains("a-very-long-secret"));
    }
}
