//! Configuration: environment variables, or the same keys in a
//! `greenlight.toml` (environment wins). Read once at start and passed
//! down, so tests build their own `Settings`.
//!
//! Every variable is named once, in the `settings!` table below: the row
//! of the field it fills says how it is read (default, parser, checks:
//! `read.rs`), the line `greenlight config` shows for it (secrets masked)
//! and whether the redactor masks it. `Settings`, reading, `effective()`
//! and `redactor()` are all generated from that table.

use std::collections::BTreeMap;

use std::path::PathBuf;
use std::time::Duration;

use figment::value::{Dict, Value};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};

mod read;
mod sources;

use crate::environments::policies::SetIn;
pub use crate::environments::Policies;
pub use read::ConfigError;
use read::{Reader, Result};
use sources::{ConfigFile, Variables};

use crate::domain::approver;
use crate::domain::policy::parse_approval_mode;
pub use crate::domain::policy::ApprovalMode;
use crate::domain::Policy;
use crate::environments::policies::webhook_url;
pub use crate::integrations::approvers::ApproversSource;
use crate::integrations::github::GithubSettings;
use crate::integrations::outbound::OutboundSettings;
use crate::integrations::slack::SlackSettings;
use crate::mailer::MailSettings;
pub use crate::queue::QueueSettings;
use crate::redact::mask_url;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// For people: one line of text per event.
    Text,
    /// For log pipelines: one JSON object per line, with the span fields
    /// (the request id) beside the event's.
    Json,
}

/// `GREENLIGHT_BODY_TIMEOUT`'s default: a request body is a few
/// kilobytes; ten seconds is a very slow network.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// `GREENLIGHT_DEPLOYMENT_LOG_LIMIT`'s default: 10 MiB of log is a long
/// deployment; a runaway one stops there.
pub const DEFAULT_DEPLOYMENT_LOG_LIMIT: u64 = 10 * 1024 * 1024;

/// How a variable is shown by `greenlight config`, from the settings read.
type Show = Option<fn(&Settings) -> String>;

fn show(line: fn(&Settings) -> String) -> Show {
    Some(line)
}

/// Not shown by `greenlight config` (read all the same).
const HIDDEN: Show = None;

/// Secrets are shown only as set or not.
fn set_or<T>(value: Option<&T>, unset: &str) -> String {
    value.map_or_else(|| unset.to_owned(), |_| "*** (set)".to_owned())
}

fn human(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

fn rate(r: Option<u32>) -> String {
    r.map_or("off".to_owned(), |n| format!("{n} per minute"))
}

/// The global policy (what no project or environment overrides).
fn global(s: &Settings) -> Policy {
    let key = crate::domain::ReleaseKey::parse("-", None, "-").expect("a valid key");
    s.policies.resolve(&key).0
}

/// Which of the redactor's lists a value's texts go to: `Secret`s are
/// masked whole, `Url`s give up their credentials and query strings. A
/// value may hold both (a policy's webhook URLs and secrets).
struct Secret;
struct Url;

/// The texts of a value that the redactor masks, as kind `K`.
trait Redacted<K> {
    fn texts(&self) -> Vec<&str>;
}

impl<K> Redacted<K> for SecretString {
    fn texts(&self) -> Vec<&str> {
        vec![self.expose_secret()]
    }
}

impl<K> Redacted<K> for String {
    fn texts(&self) -> Vec<&str> {
        vec![self]
    }
}

impl<K, T: Redacted<K>> Redacted<K> for Option<T> {
    fn texts(&self) -> Vec<&str> {
        self.iter().flat_map(T::texts).collect()
    }
}

impl<K, T: Redacted<K>> Redacted<K> for Vec<T> {
    fn texts(&self) -> Vec<&str> {
        self.iter().flat_map(T::texts).collect()
    }
}

impl Redacted<Secret> for GithubSettings {
    fn texts(&self) -> Vec<&str> {
        vec![
            self.webhook_secret.expose_secret(),
            self.private_key.expose_secret(),
        ]
    }
}

impl Redacted<Secret> for SlackSettings {
    fn texts(&self) -> Vec<&str> {
        vec![
            self.bot_token.expose_secret(),
            self.signing_secret.expose_secret(),
        ]
    }
}

impl Redacted<Url> for Policies {
    fn texts(&self) -> Vec<&str> {
        self.urls()
    }
}

impl Redacted<Secret> for Policies {
    fn texts(&self) -> Vec<&str> {
        // The base64 alone too: a text may quote it without its prefix.
        self.webhook_secrets()
            .into_iter()
            .flat_map(|s| [s.text(), s.text().trim_start_matches("whsec_")])
            .collect()
    }
}

/// Which list of the redactor a row's value goes to.
macro_rules! redact {
    (secret, $values:ident, $urls:ident, $value:expr) => {
        $values.extend(Redacted::<Secret>::texts($value))
    };
    (url, $values:ident, $urls:ident, $value:expr) => {
        $urls.extend(Redacted::<Url>::texts($value))
    };
}

/// The table of settings. A row: `field: Type = reader`, then each of the
/// variables the reader is handed (in order) with how `greenlight config`
/// shows it, then `redact secret` and/or `redact url` if the redactor masks
/// the value. Rows are read in order, so a row may use the fields above it;
/// lines are shown in order.
macro_rules! settings {
    ($(
        $(#[$meta:meta])*
        $field:ident: $ty:ty = $read:expr
            $(, $var:literal => $show:expr)+
            $(, redact $kind:ident)*;
    )*) => {
        #[derive(Debug, Clone)]
        pub struct Settings {
            /// Where each value set came from (normalised key -> a
            /// variable's name or a file's path), for `greenlight config`.
            pub origins: BTreeMap<String, String>,
            $($(#[$meta])* pub $field: $ty,)*
            /// Deprecated names that were read, each with what to write
            /// instead (logged at start).
            pub deprecations: Vec<String>,
        }

        /// Every variable of the table, in order.
        #[cfg(test)]
        const VARIABLES: &[&str] = &[$($($var,)+)*];

        impl Settings {
            fn from_reader(r: &Reader) -> Result<Self> {
                $(let $field: $ty = read::row(r, [$($var),+], $read)?;)*
                Ok(Self {
                    origins: r.origins.clone(),
                    $($field,)*
                    deprecations: r.deprecated.take(),
                })
            }

            /// The configuration in effect, as `greenlight config` prints
            /// it: variable names and values, secrets masked.
            pub fn effective(&self) -> Vec<(&'static str, String)> {
                let mut lines = Vec::new();
                $($(
                    if let Some(line) = $show {
                        lines.push(($var, line(self)));
                    }
                )+)*
                lines
            }

            /// Masks every configured secret (signing keys, URL
            /// credentials and query strings) in texts meant for people
            /// and logs.
            pub fn redactor(&self) -> crate::redact::Redactor {
                let (mut values, mut urls) = (Vec::new(), Vec::new());
                $($(redact!($kind, values, urls, &self.$field);)*)*
                crate::redact::Redactor::new(values, urls)
            }
        }
    };
}

settings! {
    listen: String = read::text("127.0.0.1:8080"),
        "GREENLIGHT_LISTEN" => show(|s| s.listen.clone());
    database_url: String = read::text("greenlight.db"),
        "DATABASE_URL" => show(|s| mask_url(&s.database_url)),
        redact url;
    public_url: String = |r, [key]| {
        let url = r
            .get(key)
            .unwrap_or_else(|| format!("http://{listen}"))
            .trim_end_matches('/')
            .to_owned();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ConfigError(format!(
                "{key} must start with http:// or https://, got {url:?}"
            )));
        }
        Ok(url)
    },
        "GREENLIGHT_PUBLIC_URL" => show(|s| s.public_url.clone());
    approvers: ApproversSource = approvers,
        "GREENLIGHT_APPROVERS_URL" => show(|s| match &s.approvers {
            ApproversSource::Http(url) => mask_url(url),
            _ => "(not set)".to_owned(),
        }),
        "GREENLIGHT_APPROVERS" => show(|s| match &s.approvers {
            ApproversSource::Static(list) => format!("{} approvers", list.len()),
            _ => "(not set)".to_owned(),
        });
    smtp_url: Option<SecretString> = read::secret,
        "GREENLIGHT_SMTP_URL" => show(|s| s.smtp_url.as_ref().map_or_else(
            || format!("(not set: emails go to {})", s.outbox_dir.display()),
            |u| mask_url(u.expose_secret()),
        )),
        redact url;
    /// A PEM file of CA certificates that TLS to the mail server trusts
    /// besides the system's store (an internal CA kept out of it).
    smtp_ca_file: Option<PathBuf> = |r, [key]| {
        let path = read::optional(r, [key])?.map(PathBuf::from);
        if let Some(path) = &path {
            // Read now, so that a wrong path fails at start naming it.
            crate::mailer::read_ca_file(path)
                .map_err(|e| ConfigError(format!("{key}: {e}")))?;
        }
        Ok(path)
    },
        "GREENLIGHT_SMTP_CA_FILE" => show(|s| s.smtp_ca_file.as_ref().map_or_else(
            || "(not set: TLS trusts the system's CA store)".to_owned(),
            |path| path.display().to_string(),
        ));
    mail_from: String = read::text("Greenlight <greenlight@localhost>"),
        "GREENLIGHT_MAIL_FROM" => show(|s| s.mail_from.clone());
    outbox_dir: PathBuf = |r, key| read::text("outbox")(r, key).map(PathBuf::from),
        "GREENLIGHT_OUTBOX_DIR" => HIDDEN;
    secret: Option<SecretString> = read::signing_secret,
        "GREENLIGHT_SECRET" => show(|s| set_or(
            s.secret.as_ref(),
            "(not set: generated once, kept in the database)",
        )),
        redact secret;
    /// Seals credentials kept in the database (`sealed`), and the key that
    /// sealed before it (a rotation). Checked to be 32 bytes of base64.
    encryption_key: Option<SecretString> = read::seal_key,
        "GREENLIGHT_ENCRYPTION_KEY" => show(|s| set_or(
            s.encryption_key.as_ref(),
            "(not set: credentials in the database are kept in clear)",
        )),
        redact secret;
    encryption_key_previous: Option<SecretString> = |r, [key]| {
        let previous = read::seal_key(r, [key])?;
        if encryption_key.is_none() && previous.is_some() {
            return Err(ConfigError(format!(
                "{key} is set without GREENLIGHT_ENCRYPTION_KEY"
            )));
        }
        Ok(previous)
    },
        "GREENLIGHT_ENCRYPTION_KEY_PREVIOUS" => show(|s| set_or(
            s.encryption_key_previous.as_ref(),
            "(not set)",
        )),
        redact secret;
    /// Secrets that signed before `secret`: their tokens still verify.
    secret_previous: Vec<SecretString> = read::signing_secrets,
        "GREENLIGHT_SECRET_PREVIOUS" => show(|s| format!(
            "{} previous secrets",
            s.secret_previous.len()
        )),
        redact secret;
    approval_mode: ApprovalMode = read::parsed(
        ApprovalMode::OneClick,
        parse_approval_mode,
        "one-click or confirm",
    ),
        "GREENLIGHT_APPROVAL_MODE" => show(|s| match s.approval_mode {
            ApprovalMode::OneClick => "one-click".to_owned(),
            ApprovalMode::Confirm => "confirm".to_owned(),
        });
    /// Pipelines and operators must present an API key.
    require_api_key: bool = read::boolean(false),
        "GREENLIGHT_REQUIRE_API_KEY" => show(|s| s.require_api_key.to_string());
    /// A release whose approvers source names more fails with a reason.
    max_approvers: usize = read::at_least(1, 100),
        "GREENLIGHT_MAX_APPROVERS" => show(|s| s.max_approvers.to_string());
    /// Requests per minute per client on `/approval` (`None`: no limit).
    approval_rate_limit: Option<u32> = read::per_minute(Some(60)),
        "GREENLIGHT_APPROVAL_RATE_LIMIT" => show(|s| rate(s.approval_rate_limit));
    /// Failed API key attempts per minute per client before 429s.
    auth_failure_limit: Option<u32> = read::per_minute(Some(10)),
        "GREENLIGHT_AUTH_FAILURE_LIMIT" => show(|s| rate(s.auth_failure_limit));
    /// The rule releases are decided by (stored with each release): the
    /// global one, and what projects and environments set over it.
    policies: Policies = |r, [quorum, requester, ttl, reminder, hours, webhook, secret, previous, slack_channel, deploy_approval]| {
        let webhook = r
            .get(webhook)
            .filter(|v| !v.eq_ignore_ascii_case("off"))
            .map(|url| webhook_url(&url).map_err(|e| ConfigError(format!("{webhook} {e}"))))
            .transpose()?;
        let keys = read::webhook_keys(r, [secret, previous])?;
        let global = policy(r, [quorum, requester, ttl, reminder, hours])?;
        Ok(Policies::global(global, approvers.clone())
            .with_approval_mode(approval_mode)
            .with_webhook(webhook, keys)
            .with_slack_channel(read::optional(r, [slack_channel])?)
            .with_deploy_requires_approval(read::boolean(false)(r, [deploy_approval])?)
            .with_projects(r.projects)?
            .check_webhooks()?)
    },
        "GREENLIGHT_REQUIRED_APPROVALS" => show(|s| {
            global(s).quorum.map_or("all".to_owned(), |n| n.to_string())
        }),
        "GREENLIGHT_REQUESTER_CAN_APPROVE" => show(|s| {
            global(s).requester_can_approve.to_string()
        }),
        "GREENLIGHT_RELEASE_TTL" => show(|s| {
            crate::domain::policy::format_duration(global(s).release_ttl)
        }),
        "GREENLIGHT_REMINDER_AFTER" => show(|s| {
            global(s)
                .reminder_after
                .map_or("off".to_owned(), crate::domain::policy::format_duration)
        }),
        "GREENLIGHT_DECISION_TIMEOUT_HOURS" => HIDDEN,
        "GREENLIGHT_WEBHOOK_URL" => HIDDEN,
        "GREENLIGHT_WEBHOOK_SECRET" => show(|s| set_or(
            s.policies.global_webhook_keys().map(|k| &k.current),
            "(not set)",
        )),
        "GREENLIGHT_WEBHOOK_SECRET_PREVIOUS" => show(|s| set_or(
            s.policies.global_webhook_keys().and_then(|k| k.previous.as_ref()),
            "(not set)",
        )),
        "GREENLIGHT_SLACK_CHANNEL" => HIDDEN,
        "GREENLIGHT_DEPLOY_REQUIRES_APPROVAL" => HIDDEN,
        redact url,
        redact secret;
    queue: QueueSettings = queue,
        "GREENLIGHT_JOB_MAX_ATTEMPTS" => show(|s| s.queue.max_attempts.to_string()),
        "GREENLIGHT_JOB_BACKOFF" => show(|s| human(s.queue.backoff_base)),
        "GREENLIGHT_JOB_BACKOFF_MAX" => show(|s| human(s.queue.backoff_max)),
        "GREENLIGHT_JOB_LEASE" => show(|s| human(s.queue.lease)),
        "GREENLIGHT_JOB_POLL" => show(|s| human(s.queue.poll_interval)),
        "GREENLIGHT_JOB_CONCURRENCY" => show(|s| s.queue.concurrency.to_string()),
        "GREENLIGHT_JOB_TIMEOUT" => show(|s| human(s.queue.job_timeout)),
        "GREENLIGHT_SHUTDOWN_TIMEOUT" => show(|s| human(s.queue.shutdown_timeout));
    /// Greenlight as a GitHub App (deployment protection rules).
    github: Option<GithubSettings> = github,
        "GREENLIGHT_GITHUB_APP_ID" => HIDDEN,
        "GREENLIGHT_GITHUB_PRIVATE_KEY" => HIDDEN,
        "GREENLIGHT_GITHUB_WEBHOOK_SECRET" => HIDDEN,
        "GREENLIGHT_GITHUB_API_URL" => HIDDEN,
        redact secret;
    /// How often GitHub is asked to redeliver the App's failed
    /// `deployment_protection_rule` deliveries (it never retries them by
    /// itself); `None` (`off`): never.
    github_redelivery_interval: Option<Duration> = read::duration_or_off(Duration::from_secs(300)),
        "GREENLIGHT_GITHUB_REDELIVERY_INTERVAL" => show(|s| match (&s.github, s.github_redelivery_interval) {
            (None, _) => "(no GitHub App)".to_owned(),
            (Some(_), None) => "off".to_owned(),
            (Some(_), Some(d)) => human(d),
        });
    /// Approvals from Slack: the bot token and the signing secret, both
    /// or neither.
    slack: Option<SlackSettings> = slack,
        "GREENLIGHT_SLACK_BOT_TOKEN" => show(|s| set_or(
            s.slack.as_ref().map(|s| &s.bot_token),
            "(not set: no approvals from Slack)",
        )),
        "GREENLIGHT_SLACK_SIGNING_SECRET" => show(|s| set_or(
            s.slack.as_ref().map(|s| &s.signing_secret),
            "(not set)",
        )),
        "GREENLIGHT_SLACK_API_URL" => show(|s| s.slack.as_ref().map_or_else(
            || "(not set)".to_owned(),
            |s| s.api_url.clone(),
        )),
        redact secret;
    log_format: LogFormat = read::choice([("text", LogFormat::Text), ("json", LogFormat::Json)]),
        "GREENLIGHT_LOG_FORMAT" => HIDDEN;
    /// Hosts an Azure DevOps PlanUrl may name (callback mode): Greenlight
    /// posts there with the caller's token, so not to just anywhere.
    azure_devops_hosts: Vec<String> = read::hosts("dev.azure.com,*.visualstudio.com"),
        "GREENLIGHT_AZURE_DEVOPS_HOSTS" => HIDDEN;
    /// More `Host` names the service answers to (behind a proxy); `*` is
    /// any. The public URL's host and the listen address always are.
    allowed_hosts: Vec<String> = read::hosts(""),
        "GREENLIGHT_ALLOWED_HOSTS" => show(|s| if s.allowed_hosts.is_empty() {
            "(none: the public URL's host and the listen address)".to_owned()
        } else {
            s.allowed_hosts.join(",")
        });
    /// The most a deployment's log keeps (`10MiB`, `512KiB`, bytes);
    /// past it one marker line says how much was dropped.
    deployment_log_limit: u64 = read::bytes(DEFAULT_DEPLOYMENT_LOG_LIMIT),
        "GREENLIGHT_DEPLOYMENT_LOG_LIMIT" => show(|s| s.deployment_log_limit.to_string());
    /// A claimed deployment whose runner is silent this long ends
    /// `error` (runners and their claims come with the runner routes).
    runner_lease: Duration = read::duration(Duration::from_secs(60)),
        "GREENLIGHT_RUNNER_LEASE" => show(|s| human(s.runner_lease));
    /// GitHub repositories whose `deployment` events belong to a team
    /// project other than the repository's full name (`owner/repo=Devx`,
    /// comma-separated; repositories lowercased, matched so).
    github_projects: Vec<(String, String)> = github_projects,
        "GREENLIGHT_GITHUB_PROJECTS" => show(|s| if s.github_projects.is_empty() {
            "(none: a repository's deployments go to its full name)".to_owned()
        } else {
            s.github_projects
                .iter()
                .map(|(repo, project)| format!("{repo}={project}"))
                .collect::<Vec<_>>()
                .join(",")
        });
    /// The longest a request body may take to arrive (then 408).
    body_timeout: Duration = read::duration(DEFAULT_BODY_TIMEOUT),
        "GREENLIGHT_BODY_TIMEOUT" => show(|s| human(s.body_timeout));
    /// Connections served at once, over all HTTP workers.
    max_connections: usize = read::at_least(1, 1024),
        "GREENLIGHT_MAX_CONNECTIONS" => show(|s| s.max_connections.to_string());
    http_timeout: Duration = read::duration(Duration::from_secs(10)),
        "GREENLIGHT_HTTP_TIMEOUT" => show(|s| human(s.http_timeout));
    /// Whether a target a caller names (an Azure DevOps PlanUrl, a GitHub
    /// callback URL) may be a private, loopback or link-local address.
    outbound_allow_private: bool = read::boolean(false),
        "GREENLIGHT_OUTBOUND_ALLOW_PRIVATE" => show(|s| s.outbound_allow_private.to_string());
    smtp_timeout: Duration = read::duration(Duration::from_secs(30)),
        "GREENLIGHT_SMTP_TIMEOUT" => show(|s| human(s.smtp_timeout));
    /// HTTP worker threads; `None` is one per core.
    http_workers: Option<usize> = read::optional_number,
        "GREENLIGHT_HTTP_WORKERS" => show(|s| s.http_workers
            .map_or("(one per core)".to_owned(), |n| n.to_string()));
    /// Database connections per pool (one for requests, one for jobs);
    /// `None` picks by backend (see `db::Backend::default_pool_size`).
    db_pool_size: Option<u32> = read::optional_number,
        "GREENLIGHT_DB_POOL_SIZE" => show(|s| s.db_pool_size
            .map_or("(by backend)".to_owned(), |n| n.to_string()));
    /// How long a request waits for a free database connection (or, on
    /// SQLite, for the write slot) before it is answered 503.
    db_timeout: Duration = read::duration(Duration::from_secs(5)),
        "GREENLIGHT_DB_TIMEOUT" => show(|s| human(s.db_timeout));
    /// SQLite's `synchronous` setting: FULL (default) survives a power
    /// loss, NORMAL only a process crash.
    sqlite_synchronous_full: bool = read::choice([("full", true), ("normal", false)]),
        "GREENLIGHT_SQLITE_SYNCHRONOUS" => show(|s| {
            if s.sqlite_synchronous_full { "full" } else { "normal" }.to_owned()
        });
}

/// The approvers: fetched from a URL, or a static list (the URL wins).
fn approvers(r: &Reader, [url_key, list_key]: [&'static str; 2]) -> Result<ApproversSource> {
    Ok(match (r.get(url_key), r.get(list_key)) {
        (Some(url), _) => {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError(format!(
                    "{url_key} must be an http(s) URL, got {url:?}"
                )));
            }
            ApproversSource::Http(url)
        }
        (None, Some(list)) => ApproversSource::Static(
            approver::parse_list(&list).map_err(|e| ConfigError(format!("{list_key}: {e}")))?,
        ),
        (None, None) => ApproversSource::None,
    })
}

/// The job queue's settings, each with `QueueSettings`' default.
fn queue(r: &Reader, keys: [&'static str; 8]) -> Result<QueueSettings> {
    let [max_attempts, backoff, backoff_max, lease, poll, concurrency, timeout, shutdown] = keys;
    let defaults = QueueSettings::default();
    let queue = QueueSettings {
        max_attempts: read::number(defaults.max_attempts)(r, [max_attempts])?,
        backoff_base: read::duration(defaults.backoff_base)(r, [backoff])?,
        backoff_max: read::duration(defaults.backoff_max)(r, [backoff_max])?,
        lease: read::duration(defaults.lease)(r, [lease])?,
        poll_interval: read::duration(defaults.poll_interval)(r, [poll])?,
        concurrency: read::number(defaults.concurrency)(r, [concurrency])?,
        job_timeout: read::duration(defaults.job_timeout)(r, [timeout])?,
        shutdown_timeout: read::seconds(defaults.shutdown_timeout)(r, [shutdown])?,
    };
    if queue.max_attempts < 1 || queue.concurrency < 1 {
        return Err(ConfigError(format!(
            "{max_attempts} and {concurrency} must be at least 1"
        )));
    }
    if queue.lease < Duration::from_millis(300)
        || queue.poll_interval.is_zero()
        || queue.job_timeout.is_zero()
    {
        return Err(ConfigError(format!(
            "{lease} must be at least 300ms, {poll} and {timeout} at least 1ms"
        )));
    }
    Ok(queue)
}

/// The GitHub App: all of its three variables, or none.
fn github(r: &Reader, keys: [&'static str; 4]) -> Result<Option<GithubSettings>> {
    let [needed @ .., api_url] = keys;
    let values = needed.map(|k| r.get(k));
    if values.iter().all(Option::is_none) {
        return Ok(None);
    }
    if let Some((missing, _)) = needed.iter().zip(&values).find(|(_, v)| v.is_none()) {
        return Err(ConfigError(format!(
            "{missing} must be set with the other GitHub App variables ({})",
            needed.join(", ")
        )));
    }
    let [app_id, key, webhook_secret] = values.map(Option::unwrap_or_default);
    // The PEM itself (newlines escaped as \n in some secret stores), or
    // the path of the file GitHub handed out.
    let private_key = if key.starts_with("-----BEGIN") {
        key.replace("\\n", "\n")
    } else {
        std::fs::read_to_string(&key).map_err(|e| {
            ConfigError(format!(
                "{}: neither a PEM key nor a readable file ({e})",
                needed[1]
            ))
        })?
    };
    let settings = GithubSettings {
        app_id,
        private_key: private_key.into(),
        webhook_secret: webhook_secret.into(),
        api_url: r
            .get(api_url)
            .unwrap_or_else(|| "https://api.github.com".to_owned()),
    };
    // Checked now, so that a bad key fails at start naming its variable.
    settings.check().map_err(ConfigError)?;
    Ok(Some(settings))
}

/// `owner/repo=TeamProject` pairs, comma-separated: the team project of
/// a GitHub repository's `deployment` events when it is not the
/// repository's full name.
fn github_projects(r: &Reader, [key]: [&'static str; 1]) -> Result<Vec<(String, String)>> {
    use crate::integrations::github_deployments::{valid_owner, valid_repo};
    let Some(text) = r.get(key) else {
        return Ok(Vec::new());
    };
    text.split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let refused = || {
                ConfigError(format!(
                    "{key} must be owner/repo=TeamProject pairs separated by commas (a GitHub repository, a team project of at most {} characters), not {pair:?}",
                    crate::domain::release::MAX_TEAM_PROJECT
                ))
            };
            let (repository, project) = pair.split_once('=').ok_or_else(refused)?;
            let repository = repository.trim();
            let named = repository
                .split_once('/')
                .is_some_and(|(owner, repo)| valid_owner(owner) && valid_repo(repo));
            let project = crate::domain::release::key_part(
                "team_project",
                project,
                crate::domain::release::MAX_TEAM_PROJECT,
                &mut Vec::new(),
            );
            match (named, project) {
                (true, Some(project)) => Ok((repository.to_ascii_lowercase(), project)),
                _ => Err(refused()),
            }
        })
        .collect()
}

/// Slack: the bot token and the signing secret, both or neither; the API
/// URL defaults to Slack's.
fn slack(r: &Reader, [token, secret, url_key]: [&'static str; 3]) -> Result<Option<SlackSettings>> {
    let (bot_token, signing_secret) = match (read::secret(r, [token])?, read::secret(r, [secret])?)
    {
        (None, None) => return Ok(None),
        (Some(t), Some(s)) => (t, s),
        (None, Some(_)) => return Err(ConfigError(format!("{token} must be set with {secret}"))),
        (Some(_), None) => return Err(ConfigError(format!("{secret} must be set with {token}"))),
    };
    let api_url = r
        .get(url_key)
        .unwrap_or_else(|| "https://slack.com/api".to_owned());
    if !(api_url.starts_with("http://") || api_url.starts_with("https://")) {
        return Err(ConfigError(format!(
            "{url_key} must be an http(s) URL, got {:?}",
            mask_url(&api_url)
        )));
    }
    Ok(Some(SlackSettings {
        bot_token,
        signing_secret,
        api_url: api_url.trim_end_matches('/').to_owned(),
    }))
}

impl Settings {
    /// Reads the process environment, over `greenlight.toml` if present
    /// (or the file named by `GREENLIGHT_CONFIG`).
    pub fn load() -> Result<Self> {
        Self::read(std::env::vars(), true)
    }

    /// Settings from these variables, over the file `GREENLIGHT_CONFIG`
    /// names if they name one (tests configure apps this way).
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Result<Self> {
        Self::read(vars, false)
    }

    fn read(vars: impl IntoIterator<Item = (String, String)>, default_file: bool) -> Result<Self> {
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
    ) -> Result<Self> {
        Self::from_reader(&Reader::new(&get, projects, origins))
    }
    /// Seals and opens the credentials kept in the database.
    pub fn sealer(&self) -> crate::sealed::Sealer {
        let key = |s: &Option<SecretString>| {
            s.as_ref()
                .and_then(|s| crate::sealed::SealKey::parse(s.expose_secret()).ok())
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
}

/// The global policy: the quorum (`all` or N), whether the requester may
/// approve, the release TTL (`72h`; the older hours variable is still read
/// when it is unset) and the reminder (`off` or a duration).
fn policy(r: &Reader, keys: [&'static str; 5]) -> Result<Policy> {
    let [quorum_key, requester, ttl_key, reminder, hours_key] = keys;
    let defaults = Policy::default();
    let quorum = match r.get(quorum_key) {
        None => None,
        Some(v) if v.eq_ignore_ascii_case("all") => None,
        Some(v) => Some(v.parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(|| {
            ConfigError(format!(
                "{quorum_key} must be all or a number of at least 1, got {v:?}"
            ))
        })?),
    };
    let requester_can_approve = read::boolean(defaults.requester_can_approve)(r, [requester])?;
    let release_ttl = match (r.get(ttl_key), r.get(hours_key)) {
        (Some(ttl), _) => crate::domain::policy::parse_duration(&ttl)
            .map_err(|e| ConfigError(format!("{ttl_key}: {e}")))?,
        (None, Some(hours)) => {
            let hours: i64 = read::parse(hours_key, &hours)?;
            if !(1..=8784).contains(&hours) {
                return Err(ConfigError(format!(
                    "{hours_key} must be from 1 to 8784 (a year)"
                )));
            }
            chrono::Duration::hours(hours)
        }
        (None, None) => defaults.release_ttl,
    };
    let reminder_after = match r.get(reminder) {
        None => None,
        Some(v) if v.eq_ignore_ascii_case("off") => None,
        Some(v) => Some(
            crate::domain::policy::parse_duration(&v)
                .map_err(|e| ConfigError(format!("{reminder}: {e}")))?,
        ),
    };
    Ok(Policy {
        quorum,
        requester_can_approve,
        release_ttl,
        reminder_after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings> {
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
            ("GREENLIGHT_WEBHOOK_URL", "https://hooks.example/x"),
            ("GREENLIGHT_WEBHOOK_SECRET", "webhook-hmac-key"),
            ("GREENLIGHT_WEBHOOK_SECRET", "whsec_c2hvcnQ="),
            (
                "GREENLIGHT_WEBHOOK_SECRET_PREVIOUS",
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            ),
            ("GREENLIGHT_GITHUB_APP_ID", "1"),
            ("GREENLIGHT_GITHUB_PRIVATE_KEY", "/nonexistent/key.pem"),
            ("GREENLIGHT_LOG_FORMAT", "xml"),
        ] {
            let err = settings(&[(key, value)]).unwrap_err().to_string();
            assert!(err.contains(key), "{err}");
        }
    }

    /// Webhook secrets from `greenlight.toml` per project and environment,
    /// over the global variables: a bad one fails naming its key, and
    /// `greenlight config` shows each only as set, with where it is from.
    #[test]
    fn webhook_secrets_are_checked_at_load_and_masked_in_the_config_lines() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("greenlight.toml");
        let good = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let load = |toml: &str, vars: &[(&str, &str)]| {
            std::fs::write(&file, toml).unwrap();
            let mut pairs = vec![("GREENLIGHT_CONFIG", file.to_str().unwrap())];
            pairs.extend_from_slice(vars);
            settings(&pairs)
        };
        let err = load(
            "[projects.Devx.environments.staging]\nwebhook_secret = \"whsec_bm90IGVub3VnaA==\"\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("projects.Devx.environments.staging.webhook_secret must hold 24 to 64"),
            "{err}"
        );
        // A global URL with no global secret, though a project has one:
        // the other projects' releases would go unsigned.
        let err = load(
            &format!("[projects.Devx]\nwebhook_secret = \"{good}\"\n"),
            &[("GREENLIGHT_WEBHOOK_URL", "https://hooks.example/x")],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("GREENLIGHT_WEBHOOK_URL: no webhook secret signs its deliveries; set GREENLIGHT_WEBHOOK_SECRET"),
            "{err}"
        );
        let s = load(
            &format!(
                "[projects.Devx]\nwebhook_url = \"https://devx.example/h\"\n\
                 webhook_secret = \"{good}\"\nwebhook_secret_previous = \"{good}\"\n"
            ),
            &[],
        )
        .unwrap();
        let lines = s.lines();
        let line = |key: &str| {
            lines
                .iter()
                .find(|(k, _, _)| k == key)
                .unwrap_or_else(|| panic!("{key} in {lines:?}"))
                .clone()
        };
        assert_eq!(line("GREENLIGHT_WEBHOOK_SECRET").1, "(not set)");
        let (_, value, origin) = line("[projects.Devx] webhook_secret_previous");
        assert_eq!(value, "*** (set)");
        assert_eq!(origin, file.display().to_string());
        assert!(!format!("{lines:?} {s:?}").contains("MfKQ9r8"));
        let s = settings(&[("GREENLIGHT_WEBHOOK_SECRET", good)]).unwrap();
        assert_eq!(line_of(&s, "GREENLIGHT_WEBHOOK_SECRET"), "*** (set)");
        assert_eq!(
            line_of(&s, "GREENLIGHT_WEBHOOK_SECRET_PREVIOUS"),
            "(not set)"
        );
    }

    fn line_of(s: &Settings, key: &str) -> String {
        s.effective()
            .into_iter()
            .find(|(k, _)| *k == key)
            .unwrap()
            .1
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

    #[test]
    fn each_variable_is_one_row_of_the_table() {
        let mut names = VARIABLES.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), VARIABLES.len(), "a variable named twice");
        assert!(VARIABLES
            .iter()
            .all(|v| v.starts_with("GREENLIGHT_") || *v == "DATABASE_URL"));
        let shown: Vec<&str> = settings(&[])
            .unwrap()
            .effective()
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert!(shown.iter().all(|name| VARIABLES.contains(name)));
    }

    #[test]
    fn every_secret_row_reaches_the_redactor() {
        let key = |byte: u8| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode([byte; 32])
        };
        let whsec = |byte: u8| format!("whsec_{}", key(byte));
        let pem = include_str!("../tests/fixtures/github-app-test.pem");
        let s = settings(&[
            ("GREENLIGHT_SECRET", "signing-secret-of-more-than-32-bytes"),
            (
                "GREENLIGHT_SECRET_PREVIOUS",
                "previous-secret-of-more-than-32-bytes",
            ),
            ("GREENLIGHT_WEBHOOK_SECRET", &whsec(3)),
            ("GREENLIGHT_WEBHOOK_SECRET_PREVIOUS", &whsec(4)),
            ("GREENLIGHT_ENCRYPTION_KEY", &key(1)),
            ("GREENLIGHT_ENCRYPTION_KEY_PREVIOUS", &key(2)),
            (
                "GREENLIGHT_SMTP_URL",
                "smtps://me:smtp-pass@mail.example.com",
            ),
            ("DATABASE_URL", "postgres://gl:db-pass@db.example/gl"),
            (
                "GREENLIGHT_WEBHOOK_URL",
                "https://hooks.example/x?code=hook-code",
            ),
            ("GREENLIGHT_GITHUB_APP_ID", "1"),
            ("GREENLIGHT_GITHUB_PRIVATE_KEY", pem),
            ("GREENLIGHT_GITHUB_WEBHOOK_SECRET", "github-hmac-key"),
        ])
        .unwrap();
        let secrets = [
            "signing-secret-of-more-than-32-bytes",
            "previous-secret-of-more-than-32-bytes",
            &whsec(3),
            &whsec(4),
            &whsec(4)[6..],
            &key(1),
            &key(2),
            "smtp-pass",
            "db-pass",
            "hook-code",
            "github-hmac-key",
            pem,
        ];
        let scrubbed = s.redactor().scrub(&secrets.join(" "));
        for secret in secrets {
            assert!(!scrubbed.contains(secret), "{secret} in {scrubbed}");
        }
        // URLs keep where they point.
        assert!(s.redactor().scrub("db.example").contains("db.example"));
    }

    #[test]
    fn slack_needs_its_token_and_secret_together_and_masks_both() {
        let err = settings(&[("GREENLIGHT_SLACK_BOT_TOKEN", "xoxb-1")]).unwrap_err();
        assert!(
            err.to_string().contains("GREENLIGHT_SLACK_SIGNING_SECRET"),
            "{err}"
        );
        let err = settings(&[("GREENLIGHT_SLACK_SIGNING_SECRET", "s")]).unwrap_err();
        assert!(
            err.to_string().contains("GREENLIGHT_SLACK_BOT_TOKEN"),
            "{err}"
        );
        let s = settings(&[
            ("GREENLIGHT_SLACK_BOT_TOKEN", "xoxb-bot-token-1"),
            ("GREENLIGHT_SLACK_SIGNING_SECRET", "signing-secret-1"),
            ("GREENLIGHT_SLACK_CHANNEL", "#releases"),
        ])
        .unwrap();
        let slack = s.slack.as_ref().unwrap();
        assert_eq!(slack.api_url, "https://slack.com/api");
        let shown = format!("{:?}", s.effective());
        assert!(!shown.contains("xoxb-bot-token-1") && !shown.contains("signing-secret-1"));
        assert!(shown.contains("GREENLIGHT_SLACK_BOT_TOKEN"), "{shown}");
        let scrubbed = s
            .redactor()
            .scrub("token xoxb-bot-token-1, secret signing-secret-1");
        assert!(!scrubbed.contains("xoxb-bot-token-1") && !scrubbed.contains("signing-secret-1"));
        let key = crate::domain::ReleaseKey::parse("Devx", None, "1").unwrap();
        assert_eq!(s.policies.slack_channel(&key), Some("#releases"));
        assert!(settings(&[]).unwrap().slack.is_none());
    }

    #[test]
    fn github_repositories_map_to_team_projects() {
        let s = settings(&[(
            "GREENLIGHT_GITHUB_PROJECTS",
            " Octo/App=Devx , octo/lib=Devx",
        )])
        .unwrap();
        assert_eq!(
            s.github_projects,
            [
                ("octo/app".to_owned(), "Devx".to_owned()),
                ("octo/lib".to_owned(), "Devx".to_owned())
            ]
        );
        for bad in [
            "octo/app",
            "octo=Devx",
            "octo/app=",
            "oc to/app=Devx",
            "octo/app=\u{7}",
        ] {
            let e = settings(&[("GREENLIGHT_GITHUB_PROJECTS", bad)]).unwrap_err();
            assert!(
                e.to_string().contains("GREENLIGHT_GITHUB_PROJECTS"),
                "{bad}: {e}"
            );
        }
    }
}
