//! Policies per project and environment, from `greenlight.toml`:
//!
//! ```toml
//! [projects.Devx]
//! required_approvals = 2
//! approvers = "Ana <ana@example.com>, bruno@example.com, carla@example.com"
//!
//! [projects.Devx.environments.staging]
//! required_approvals = 1
//! release_ttl = "4h"
//! ```
//!
//! Looked up from the most specific to the least, key by key: project and
//! environment, project, global. Project and environment names match
//! case-insensitively, as releases do. A wrong value fails at start, naming
//! the key and the project.

use std::collections::HashMap;

use serde::Deserialize;

use crate::domain::approver;
use crate::domain::policy::{format_duration, parse_duration};
use crate::domain::policy::{parse_approval_mode, ApprovalMode};
use crate::domain::release::fold;
use crate::domain::stack::{stack_prefix, StackPolicy, DEFAULT_LEASE_TTL, DEFAULT_PREFIX};
use crate::domain::{Policy, ReleaseKey};
use crate::integrations::approvers::ApproversSource;
use crate::integrations::webhooks::{SigningKeys, WebhookSecret};

/// A wrong value in a policy table, naming the key and the project.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

/// A webhook target: an http(s) URL.
pub fn webhook_url(url: &str) -> Result<String, String> {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => Ok(url.to_owned()),
        _ => Err(format!(
            "must be an http(s) URL, got {:?}",
            crate::redact::mask_url(url)
        )),
    }
}

/// One table's keys as written; every one optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    required_approvals: Option<toml::Value>,
    approvers: Option<String>,
    approvers_url: Option<String>,
    release_ttl: Option<String>,
    requester_can_approve: Option<bool>,
    reminder_after: Option<String>,
    approval_mode: Option<String>,
    webhook_url: Option<String>,
    webhook_secret: Option<String>,
    webhook_secret_previous: Option<String>,
    slack_channel: Option<String>,
    deploy_requires_approval: Option<bool>,
    /// Test stacks: only under a project.
    stack_prefix: Option<String>,
    max_stacks: Option<toml::Value>,
    stack_lease_ttl: Option<String>,
    /// Only under a project.
    environments: Option<HashMap<String, toml::Value>>,
}

/// What one table sets, checked.
#[derive(Debug, Clone, Default)]
struct Overrides {
    /// `Some(None)`: every approver; `Some(Some(n))`: a quorum.
    quorum: Option<Option<u32>>,
    approvers: Option<ApproversSource>,
    release_ttl: Option<chrono::Duration>,
    requester_can_approve: Option<bool>,
    /// `Some(None)`: "off", over a global reminder.
    reminder_after: Option<Option<chrono::Duration>>,
    approval_mode: Option<ApprovalMode>,
    /// `Some(None)`: "off", over a global webhook.
    webhook_url: Option<Option<String>>,
    /// `webhook_secret` with its `webhook_secret_previous`: a rotation
    /// belongs to the secret it rotates, so both come from one table.
    webhook_keys: Option<SigningKeys>,
    /// `Some(None)`: "off", over a global channel.
    slack_channel: Option<Option<String>>,
    /// A new deployment waits for its release's approval.
    deploy_requires_approval: Option<bool>,
    /// Test stacks (a project's only).
    stack_prefix: Option<String>,
    /// `Some(None)`: unlimited.
    max_stacks: Option<Option<u32>>,
    stack_lease_ttl: Option<chrono::Duration>,
}

impl Overrides {
    fn apply<'a>(&'a self, policy: &mut Policy, approvers: &mut &'a ApproversSource) {
        if let Some(quorum) = self.quorum {
            policy.quorum = quorum;
        }
        if let Some(ttl) = self.release_ttl {
            policy.release_ttl = ttl;
        }
        if let Some(allowed) = self.requester_can_approve {
            policy.requester_can_approve = allowed;
        }
        if let Some(after) = self.reminder_after {
            policy.reminder_after = after;
        }
        if let Some(source) = &self.approvers {
            *approvers = source;
        }
    }
}

#[derive(Debug, Clone, Default)]
struct ProjectPolicy {
    /// The project's name as written in the file.
    name: String,
    overrides: Overrides,
    /// By folded name: the name as written, and what it sets.
    environments: HashMap<String, (String, Overrides)>,
}

/// Where a resolved policy value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetIn {
    /// The table itself sets it.
    Here,
    /// Its project's table (an environment inherits it).
    Project(String),
    /// The global variable (or its default).
    Global,
}

/// One key of a table's effective policy, for `greenlight config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedKey {
    /// As written in the table (`required_approvals`).
    pub key: &'static str,
    /// The global variable it falls back to.
    pub variable: &'static str,
    /// Shown as an operator reads it (URLs masked).
    pub value: String,
    pub set_in: SetIn,
}

/// A project's or an environment's policy in effect, key by key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableReport {
    /// `projects.Devx` or `projects.Devx.environments.staging`.
    pub table: String,
    pub keys: Vec<ResolvedKey>,
}

/// The global policy and approvers, with what projects and environments
/// set over them.
#[derive(Debug, Clone)]
pub struct Policies {
    global: Policy,
    global_approvers: ApproversSource,
    global_mode: ApprovalMode,
    global_webhook: Option<String>,
    global_webhook_keys: Option<SigningKeys>,
    global_slack_channel: Option<String>,
    global_deploy_requires_approval: bool,
    projects: HashMap<String, ProjectPolicy>,
}

impl Policies {
    pub fn global(policy: Policy, approvers: ApproversSource) -> Self {
        Self {
            global: policy,
            global_approvers: approvers,
            global_mode: ApprovalMode::OneClick,
            global_webhook: None,
            global_webhook_keys: None,
            global_slack_channel: None,
            global_deploy_requires_approval: false,
            projects: HashMap::new(),
        }
    }

    /// What an approval link does unless a project or environment says.
    pub fn with_approval_mode(mut self, mode: ApprovalMode) -> Self {
        self.global_mode = mode;
        self
    }

    /// Where every decision is posted, and what signs it, unless a
    /// project or environment says.
    pub fn with_webhook(mut self, url: Option<String>, keys: Option<SigningKeys>) -> Self {
        self.global_webhook = url;
        self.global_webhook_keys = keys;
        self
    }

    /// What signs this release's webhook deliveries: the most specific
    /// table's `webhook_secret` (with its `webhook_secret_previous`).
    pub fn webhook_keys(&self, key: &ReleaseKey) -> Option<&SigningKeys> {
        let (project, env) = self.tables_of(key);
        env.and_then(|o| o.webhook_keys.as_ref())
            .or_else(|| project.and_then(|o| o.webhook_keys.as_ref()))
            .or(self.global_webhook_keys.as_ref())
    }

    /// Every webhook URL in effect has a secret to sign with: checked once
    /// the global values and every table are read, for the global policy
    /// and each project and environment (as a release of it resolves
    /// them), naming the table whose URL is left unsigned.
    pub fn check_webhooks(self) -> Result<Self, PolicyError> {
        let unsigned = |table: Option<&str>| {
            let (url_key, secret_keys) = match table {
                None => (
                    "GREENLIGHT_WEBHOOK_URL".to_owned(),
                    "GREENLIGHT_WEBHOOK_SECRET".to_owned(),
                ),
                Some(at) => (
                    format!("{at}.webhook_url"),
                    format!("{at}.webhook_secret (or GREENLIGHT_WEBHOOK_SECRET)"),
                ),
            };
            PolicyError(format!(
                "{url_key}: no webhook secret signs its deliveries; set {secret_keys}"
            ))
        };
        if self.global_webhook.is_some() && self.global_webhook_keys.is_none() {
            return Err(unsigned(None));
        }
        for project in self.projects.values() {
            let at = format!("projects.{}", project.name);
            let scopes = std::iter::once((at.clone(), None)).chain(
                project
                    .environments
                    .values()
                    .map(|(name, env)| (format!("{at}.environments.{name}"), Some(env))),
            );
            for (table, env) in scopes {
                let tables = [env, Some(&project.overrides)];
                // The table that sets the URL in effect here (none: the
                // global one, checked above).
                let Some((url_table, url)) = tables
                    .iter()
                    .zip([table.as_str(), at.as_str()])
                    .find_map(|(o, name)| Some((name, o.as_ref()?.webhook_url.as_ref()?)))
                else {
                    continue;
                };
                let signed = tables
                    .iter()
                    .any(|o| o.is_some_and(|o| o.webhook_keys.is_some()))
                    || self.global_webhook_keys.is_some();
                if url.is_some() && !signed {
                    return Err(unsigned(Some(url_table)));
                }
            }
        }
        Ok(self)
    }

    /// Where this release's decision is posted, if anywhere (resolved at
    /// creation: the release keeps the subscriber it was created with).
    pub fn webhook_url(&self, key: &ReleaseKey) -> Option<&str> {
        let (project, env) = self.tables_of(key);
        env.and_then(|o| o.webhook_url.as_ref())
            .or_else(|| project.and_then(|o| o.webhook_url.as_ref()))
            .map_or(self.global_webhook.as_deref(), Option::as_deref)
    }

    /// What signs webhooks unless a project or environment says.
    pub fn global_webhook_keys(&self) -> Option<&SigningKeys> {
        self.global_webhook_keys.as_ref()
    }

    /// Where approvals are also asked in Slack unless a project or
    /// environment says (`off` is none).
    pub fn with_slack_channel(mut self, channel: Option<String>) -> Self {
        self.global_slack_channel = channel.filter(|c| !c.eq_ignore_ascii_case("off"));
        self
    }

    /// The Slack channel this release is asked in, if any (read when its
    /// approvers are known, as its approvers source is).
    pub fn slack_channel(&self, key: &ReleaseKey) -> Option<&str> {
        let (project, env) = self.tables_of(key);
        env.and_then(|o| o.slack_channel.as_ref())
            .or_else(|| project.and_then(|o| o.slack_channel.as_ref()))
            .map_or(self.global_slack_channel.as_deref(), Option::as_deref)
    }

    /// Whether deployments wait for approval unless a project or
    /// environment says (`GREENLIGHT_DEPLOY_REQUIRES_APPROVAL`).
    pub fn with_deploy_requires_approval(mut self, required: bool) -> Self {
        self.global_deploy_requires_approval = required;
        self
    }

    /// Whether a new deployment to this project and environment waits for
    /// its release's approval (`deploy_requires_approval`).
    pub fn deploy_requires_approval(&self, key: &ReleaseKey) -> bool {
        let (project, env) = self.tables_of(key);
        env.and_then(|o| o.deploy_requires_approval)
            .or_else(|| project.and_then(|o| o.deploy_requires_approval))
            .unwrap_or(self.global_deploy_requires_approval)
    }

    /// A project's test stack policy (`team_project_key` folded):
    /// `stack_prefix`, `max_stacks`, `stack_lease_ttl`, else the defaults.
    pub fn stacks(&self, team_project_key: &str) -> StackPolicy {
        let mut policy = StackPolicy::default();
        if let Some(o) = self.projects.get(team_project_key).map(|p| &p.overrides) {
            if let Some(prefix) = &o.stack_prefix {
                policy.prefix.clone_from(prefix);
            }
            if let Some(max) = o.max_stacks {
                policy.max_stacks = max;
            }
            if let Some(ttl) = o.stack_lease_ttl.and_then(|t| t.to_std().ok()) {
                policy.lease_ttl = ttl;
            }
        }
        policy
    }

    /// Every webhook URL configured.
    pub fn webhook_urls(&self) -> impl Iterator<Item = &str> {
        self.global_webhook.as_deref().into_iter().chain(
            self.all_tables()
                .filter_map(|o| o.webhook_url.as_ref()?.as_deref()),
        )
    }

    /// What opening an approval link of this release does. Read when the
    /// link is opened (not stored with the release): a page's behaviour,
    /// not a rule the release was decided by.
    pub fn approval_mode(&self, key: &ReleaseKey) -> ApprovalMode {
        let (project, env) = self.tables_of(key);
        env.and_then(|o| o.approval_mode)
            .or_else(|| project.and_then(|o| o.approval_mode))
            .unwrap_or(self.global_mode)
    }

    /// What a release's project and environment set, if anything: the
    /// lookup every per-release setting shares.
    fn tables_of(&self, key: &ReleaseKey) -> (Option<&Overrides>, Option<&Overrides>) {
        let project = self.projects.get(&key.team_project_key());
        let env = project.and_then(|p| p.environments.get(&key.environment_key()));
        (project.map(|p| &p.overrides), env.map(|(_, o)| o))
    }

    /// Every project's and environment's table.
    fn all_tables(&self) -> impl Iterator<Item = &Overrides> {
        self.projects.values().flat_map(|p| {
            std::iter::once(&p.overrides).chain(p.environments.values().map(|(_, o)| o))
        })
    }

    /// Reads the `[projects]` table of `greenlight.toml`.
    pub fn with_projects(mut self, projects: &toml::Table) -> Result<Self, PolicyError> {
        for (name, value) in projects {
            let at = format!("projects.{name}");
            let table = table_of(&at, value.clone())?;
            let mut environments = HashMap::new();
            for (env, value) in table.environments.clone().unwrap_or_default() {
                let at = format!("{at}.environments.{env}");
                let env_table = table_of(&at, value)?;
                if env_table.stack_prefix.is_some()
                    || env_table.max_stacks.is_some()
                    || env_table.stack_lease_ttl.is_some()
                {
                    return Err(PolicyError(format!(
                        "{at}: stack_prefix, max_stacks and stack_lease_ttl are set per project only"
                    )));
                }
                if env_table.environments.is_some() {
                    return Err(PolicyError(format!(
                        "{at}.environments: environments are set under a project only"
                    )));
                }
                let checked = overrides(&at, &env_table)?;
                if environments
                    .insert(fold(&env), (env.clone(), checked))
                    .is_some()
                {
                    return Err(PolicyError(format!(
                        "{at}: the environment is set twice (names match case-insensitively)"
                    )));
                }
            }
            let project = ProjectPolicy {
                name: name.clone(),
                overrides: overrides(&at, &table)?,
                environments,
            };
            if self.projects.insert(fold(name), project).is_some() {
                return Err(PolicyError(format!(
                    "{at}: the project is set twice (names match case-insensitively)"
                )));
            }
        }
        Ok(self)
    }

    /// The policy and the approvers source of a release.
    pub fn resolve(&self, key: &ReleaseKey) -> (Policy, &ApproversSource) {
        let mut policy = self.global;
        let mut approvers = &self.global_approvers;
        let (project, env) = self.tables_of(key);
        for table in project.into_iter().chain(env) {
            table.apply(&mut policy, &mut approvers);
        }
        (policy, approvers)
    }

    /// Every approvers and webhook URL configured, global or per project
    /// (their credentials are secrets to keep out of every text).
    pub fn urls(&self) -> Vec<&str> {
        let mut urls = self.approvers_urls();
        urls.extend(self.webhook_urls());
        urls
    }

    /// Every webhook secret configured, global or per project, for the
    /// redactor.
    pub fn webhook_secrets(&self) -> Vec<&WebhookSecret> {
        self.global_webhook_keys
            .iter()
            .chain(self.all_tables().filter_map(|o| o.webhook_keys.as_ref()))
            .flat_map(|k| std::iter::once(&k.current).chain(&k.previous))
            .collect()
    }

    fn approvers_urls(&self) -> Vec<&str> {
        std::iter::once(&self.global_approvers)
            .chain(self.all_tables().filter_map(|o| o.approvers.as_ref()))
            .filter_map(|source| match source {
                ApproversSource::Http(url) => Some(url.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Each project's and environment's policy in effect, key by key, with
    /// where each value comes from; projects and environments by name.
    pub fn report(&self) -> Vec<TableReport> {
        let mut projects: Vec<&ProjectPolicy> = self.projects.values().collect();
        projects.sort_by(|a, b| a.name.cmp(&b.name));
        let mut tables = Vec::new();
        for project in projects {
            let at = format!("projects.{}", project.name);
            tables.push(TableReport {
                keys: self.resolved(&project.overrides, None),
                table: at.clone(),
            });
            let mut environments: Vec<&(String, Overrides)> =
                project.environments.values().collect();
            environments.sort_by(|a, b| a.0.cmp(&b.0));
            for (name, env) in environments {
                tables.push(TableReport {
                    table: format!("{at}.environments.{name}"),
                    keys: self.resolved(env, Some((&at, &project.overrides))),
                });
            }
        }
        tables
    }

    /// `table`'s policy, over its project's (`parent`) and the global one.
    fn resolved(&self, table: &Overrides, parent: Option<(&str, &Overrides)>) -> Vec<ResolvedKey> {
        // The most specific table that sets a key, and its value.
        fn pick<'a, T>(
            table: &'a Overrides,
            parent: Option<(&str, &'a Overrides)>,
            get: impl Fn(&'a Overrides) -> Option<T>,
        ) -> Option<(T, SetIn)> {
            if let Some(v) = get(table) {
                return Some((v, SetIn::Here));
            }
            let (name, parent) = parent?;
            get(parent).map(|v| (v, SetIn::Project(format!("[{name}]"))))
        }
        let show_approvers = |source: &ApproversSource| match source {
            ApproversSource::Http(url) => format!("url {}", crate::redact::mask_url(url)),
            ApproversSource::Static(list) => format!("{} approvers", list.len()),
            ApproversSource::None => "none".to_owned(),
        };
        let show_quorum = |q: Option<u32>| q.map_or("all".to_owned(), |n| n.to_string());
        let show_after = |a: Option<chrono::Duration>| a.map_or("off".to_owned(), format_duration);
        let show_mode = |m: ApprovalMode| match m {
            ApprovalMode::OneClick => "one-click".to_owned(),
            ApprovalMode::Confirm => "confirm".to_owned(),
        };
        let show_webhook = |w: Option<&str>| w.map_or("off".to_owned(), crate::redact::mask_url);
        let show_secret = |s: Option<&WebhookSecret>| {
            s.map_or("(not set)".to_owned(), |_| "*** (set)".to_owned())
        };
        // A previous secret belongs to the secret it rotates: both are
        // shown from the table that sets the secret.
        let keys = pick(table, parent, |o| o.webhook_keys.as_ref());
        let show_channel = |c: Option<&str>| c.map_or("off".to_owned(), str::to_owned);
        let show_max = |m: Option<u32>| m.map_or("unlimited".to_owned(), |n| n.to_string());
        let entry = |key, variable, found: Option<(String, SetIn)>, global: String| {
            let (value, set_in) = found.unwrap_or((global, SetIn::Global));
            ResolvedKey {
                key,
                variable,
                value,
                set_in,
            }
        };
        vec![
            entry(
                "required_approvals",
                "GREENLIGHT_REQUIRED_APPROVALS",
                pick(table, parent, |o| o.quorum.map(show_quorum)),
                show_quorum(self.global.quorum),
            ),
            entry(
                "approvers",
                match self.global_approvers {
                    ApproversSource::Http(_) => "GREENLIGHT_APPROVERS_URL",
                    _ => "GREENLIGHT_APPROVERS",
                },
                pick(table, parent, |o| o.approvers.as_ref().map(show_approvers)),
                show_approvers(&self.global_approvers),
            ),
            entry(
                "release_ttl",
                "GREENLIGHT_RELEASE_TTL",
                pick(table, parent, |o| o.release_ttl.map(format_duration)),
                format_duration(self.global.release_ttl),
            ),
            entry(
                "requester_can_approve",
                "GREENLIGHT_REQUESTER_CAN_APPROVE",
                pick(table, parent, |o| {
                    o.requester_can_approve.map(|b| b.to_string())
                }),
                self.global.requester_can_approve.to_string(),
            ),
            entry(
                "reminder_after",
                "GREENLIGHT_REMINDER_AFTER",
                pick(table, parent, |o| o.reminder_after.map(show_after)),
                show_after(self.global.reminder_after),
            ),
            entry(
                "approval_mode",
                "GREENLIGHT_APPROVAL_MODE",
                pick(table, parent, |o| o.approval_mode.map(show_mode)),
                show_mode(self.global_mode),
            ),
            entry(
                "webhook_url",
                "GREENLIGHT_WEBHOOK_URL",
                pick(table, parent, |o| {
                    o.webhook_url.as_ref().map(|w| show_webhook(w.as_deref()))
                }),
                show_webhook(self.global_webhook.as_deref()),
            ),
            entry(
                "webhook_secret",
                "GREENLIGHT_WEBHOOK_SECRET",
                keys.clone()
                    .map(|(k, set_in)| (show_secret(Some(&k.current)), set_in)),
                show_secret(self.global_webhook_keys.as_ref().map(|k| &k.current)),
            ),
            entry(
                "webhook_secret_previous",
                "GREENLIGHT_WEBHOOK_SECRET_PREVIOUS",
                keys.map(|(k, set_in)| (show_secret(k.previous.as_ref()), set_in)),
                show_secret(
                    self.global_webhook_keys
                        .as_ref()
                        .and_then(|k| k.previous.as_ref()),
                ),
            ),
            entry(
                "slack_channel",
                "GREENLIGHT_SLACK_CHANNEL",
                pick(table, parent, |o| {
                    o.slack_channel.as_ref().map(|c| show_channel(c.as_deref()))
                }),
                show_channel(self.global_slack_channel.as_deref()),
            ),
            entry(
                "deploy_requires_approval",
                "GREENLIGHT_DEPLOY_REQUIRES_APPROVAL",
                pick(table, parent, |o| {
                    o.deploy_requires_approval.map(|b| b.to_string())
                }),
                self.global_deploy_requires_approval.to_string(),
            ),
            // Per project, with no global variable: the default otherwise.
            entry(
                "stack_prefix",
                "",
                pick(table, parent, |o| o.stack_prefix.clone()),
                DEFAULT_PREFIX.to_owned(),
            ),
            entry(
                "max_stacks",
                "",
                pick(table, parent, |o| o.max_stacks.map(show_max)),
                show_max(None),
            ),
            entry(
                "stack_lease_ttl",
                "",
                pick(table, parent, |o| o.stack_lease_ttl.map(format_duration)),
                format_duration(chrono::Duration::from_std(DEFAULT_LEASE_TTL).unwrap_or_default()),
            ),
        ]
    }

    /// How many projects have a policy of their own (for the start log).
    pub fn project_count(&self) -> usize {
        self.projects.len()
    }
}

fn table_of(at: &str, value: toml::Value) -> Result<Table, PolicyError> {
    if !value.is_table() {
        return Err(PolicyError(format!("{at} must be a table")));
    }
    value
        .try_into()
        .map_err(|e: toml::de::Error| PolicyError(format!("{at}: {}", e.message())))
}

fn overrides(at: &str, table: &Table) -> Result<Overrides, PolicyError> {
    let webhook_url = match table.webhook_url.as_deref() {
        None => None,
        Some(off) if off.eq_ignore_ascii_case("off") => Some(None),
        Some(url) => Some(Some(
            webhook_url(url).map_err(|e| PolicyError(format!("{at}.webhook_url {e}")))?,
        )),
    };
    let secret = |name: &str, text: &Option<String>| {
        text.as_deref()
            .map(|t| WebhookSecret::parse(t).map_err(|e| PolicyError(format!("{at}.{name} {e}"))))
            .transpose()
    };
    let webhook_keys = match (
        secret("webhook_secret", &table.webhook_secret)?,
        secret("webhook_secret_previous", &table.webhook_secret_previous)?,
    ) {
        (Some(current), previous) => Some(SigningKeys { current, previous }),
        (None, Some(_)) => {
            return Err(PolicyError(format!(
                "{at}.webhook_secret_previous is set without {at}.webhook_secret \
                 (a rotation signs with the new secret and the previous one)"
            )))
        }
        (None, None) => None,
    };
    let slack_channel = match table.slack_channel.as_deref().map(str::trim) {
        None => None,
        Some(off) if off.eq_ignore_ascii_case("off") => Some(None),
        Some("") => {
            return Err(PolicyError(format!(
                "{at}.slack_channel must name a channel (its id, C0123ABCD, or #name), or be off"
            )))
        }
        Some(channel) => Some(Some(channel.to_owned())),
    };
    let stack_prefix = table
        .stack_prefix
        .as_deref()
        .map(|p| stack_prefix(p).map_err(|e| PolicyError(format!("{at}.stack_prefix {e}"))))
        .transpose()?;
    let max_stacks = match &table.max_stacks {
        None => None,
        Some(toml::Value::String(s)) if s.eq_ignore_ascii_case("unlimited") => Some(None),
        Some(toml::Value::Integer(n)) if (1..=100_000).contains(n) => Some(Some(*n as u32)),
        Some(_) => {
            return Err(PolicyError(format!(
                "{at}.max_stacks must be a number from 1 to 100000, or \"unlimited\""
            )))
        }
    };
    let stack_lease_ttl = table
        .stack_lease_ttl
        .as_deref()
        .map(|t| parse_duration(t).map_err(|e| PolicyError(format!("{at}.stack_lease_ttl: {e}"))))
        .transpose()?;
    let approval_mode = table
        .approval_mode
        .as_deref()
        .map(|m| {
            parse_approval_mode(m).ok_or_else(|| {
                PolicyError(format!(
                    "{at}.approval_mode must be one-click or confirm, got {m:?}"
                ))
            })
        })
        .transpose()?;
    let quorum = match &table.required_approvals {
        None => None,
        Some(toml::Value::String(s)) if s.eq_ignore_ascii_case("all") => Some(None),
        Some(toml::Value::Integer(n)) if *n >= 1 && *n <= i64::from(u32::MAX) => {
            Some(Some(*n as u32))
        }
        Some(other) => {
            return Err(PolicyError(format!(
                "{at}.required_approvals must be \"all\" or a number of at least 1, got {}",
                match other {
                    toml::Value::Integer(n) => n.to_string(),
                    toml::Value::String(s) => format!("{s:?}"),
                    other => format!("a {}", other.type_str()),
                }
            )))
        }
    };
    let approvers = match (&table.approvers_url, &table.approvers) {
        (Some(_), Some(_)) => {
            return Err(PolicyError(format!(
                "{at}: give approvers or approvers_url, not both"
            )))
        }
        (Some(url), None) => {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(PolicyError(format!(
                    "{at}.approvers_url must be an http(s) URL"
                )));
            }
            Some(ApproversSource::Http(url.clone()))
        }
        (None, Some(list)) => Some(ApproversSource::Static(
            approver::parse_list(list).map_err(|e| PolicyError(format!("{at}.approvers: {e}")))?,
        )),
        (None, None) => None,
    };
    let release_ttl = table
        .release_ttl
        .as_deref()
        .map(|t| parse_duration(t).map_err(|e| PolicyError(format!("{at}.release_ttl: {e}"))))
        .transpose()?;
    let reminder_after = match table.reminder_after.as_deref() {
        None => None,
        Some(off) if off.eq_ignore_ascii_case("off") => Some(None),
        Some(after) => {
            Some(Some(parse_duration(after).map_err(|e| {
                PolicyError(format!("{at}.reminder_after: {e}"))
            })?))
        }
    };
    Ok(Overrides {
        quorum,
        approvers,
        release_ttl,
        requester_can_approve: table.requester_can_approve,
        reminder_after,
        approval_mode,
        webhook_url,
        webhook_keys,
        slack_channel,
        deploy_requires_approval: table.deploy_requires_approval,
        stack_prefix,
        max_stacks,
        stack_lease_ttl,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policies(text: &str) -> Result<Policies, PolicyError> {
        let file: toml::Table = text.parse().unwrap();
        let projects = file
            .get("projects")
            .and_then(|p| p.as_table())
            .cloned()
            .unwrap_or_default();
        Policies::global(Policy::default(), ApproversSource::None)
            .with_projects(&projects)?
            .check_webhooks()
    }

    /// `whsec_` + base64 of 32 bytes of `byte`.
    fn whsec(byte: u8) -> String {
        use base64::Engine;
        format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode([byte; 32])
        )
    }

    /// Which secrets (by their byte) sign a release of `key`.
    fn signers(p: &Policies, key: &ReleaseKey) -> Option<(String, Option<String>)> {
        p.webhook_keys(key).map(|k| {
            (
                k.current.text().to_owned(),
                k.previous.as_ref().map(|s| s.text().to_owned()),
            )
        })
    }

    #[test]
    fn webhook_secrets_resolve_like_the_url_and_a_rotation_stays_with_its_secret() {
        let text = format!(
            r#"
            [projects.A]
            webhook_url = "https://a.example/hook"
            webhook_secret = "{a}"
            webhook_secret_previous = "{a_old}"
            [projects.A.environments.staging]
            webhook_secret = "{a_staging}"
            [projects.B]
            webhook_url = "https://b.example/hook"
            webhook_secret = "{b}"
            [projects.C]
            webhook_url = "https://c.example/hook"
            "#,
            a = whsec(1),
            a_old = whsec(2),
            a_staging = whsec(3),
            b = whsec(4),
        );
        let file: toml::Table = text.parse().unwrap();
        let projects = file["projects"].as_table().unwrap();
        let global = SigningKeys {
            current: WebhookSecret::parse(&whsec(9)).unwrap(),
            previous: None,
        };
        let p = Policies::global(Policy::default(), ApproversSource::None)
            .with_webhook(None, Some(global))
            .with_projects(projects)
            .unwrap()
            .check_webhooks()
            .unwrap();
        assert_eq!(
            signers(&p, &key("a", None)),
            Some((whsec(1), Some(whsec(2))))
        );
        // The environment's own secret, without the project's previous
        // one: that rotation belongs to the project's secret.
        assert_eq!(
            signers(&p, &key("A", Some("Staging"))),
            Some((whsec(3), None))
        );
        assert_eq!(signers(&p, &key("B", Some("qa"))), Some((whsec(4), None)));
        // C sets a URL only: the global secret signs it.
        assert_eq!(signers(&p, &key("C", None)), Some((whsec(9), None)));
        assert_eq!(signers(&p, &key("Other", None)), Some((whsec(9), None)));
        // What the redactor gets: every secret, the previous one too.
        let mut texts: Vec<&str> = p.webhook_secrets().iter().map(|s| s.text()).collect();
        texts.sort_unstable();
        let mut expected = [whsec(1), whsec(2), whsec(3), whsec(4), whsec(9)];
        expected.sort_unstable();
        assert_eq!(texts, expected);
        // `greenlight config` shows where each comes from, never a value.
        let report = p.report();
        let shown = |table: &str, name: &str| {
            let t = report.iter().find(|t| t.table == table).unwrap();
            let k = t.keys.iter().find(|k| k.key == name).unwrap();
            (k.value.clone(), k.set_in.clone())
        };
        assert_eq!(
            shown("projects.A", "webhook_secret"),
            ("*** (set)".into(), SetIn::Here)
        );
        assert_eq!(
            shown("projects.A", "webhook_secret_previous"),
            ("*** (set)".into(), SetIn::Here)
        );
        assert_eq!(
            shown("projects.A.environments.staging", "webhook_secret_previous"),
            ("(not set)".into(), SetIn::Here)
        );
        assert_eq!(
            shown("projects.C", "webhook_secret"),
            ("*** (set)".into(), SetIn::Global)
        );
        let everything = format!("{report:?} {p:?}");
        for byte in [1, 2, 3, 4, 9] {
            assert!(!everything.contains(&whsec(byte)[6..]), "{everything}");
        }
    }

    fn key(project: &str, env: Option<&str>) -> ReleaseKey {
        ReleaseKey::parse(project, env, "1").unwrap()
    }

    #[test]
    fn the_report_shows_each_tables_policy_and_where_each_value_comes_from() {
        let p = policies(
            r#"
            [projects.Web]
            release_ttl = "1d"
            [projects.Devx]
            required_approvals = 2
            approvers = "ana@example.com, bruno@example.com, carla@example.com"
            [projects.Devx.environments.staging]
            required_approvals = 1
            approvers_url = "https://user:pw@people.example/approvers"
            "#,
        )
        .unwrap();
        let report = p.report();
        let tables: Vec<&str> = report.iter().map(|t| t.table.as_str()).collect();
        assert_eq!(
            tables,
            [
                "projects.Devx",
                "projects.Devx.environments.staging",
                "projects.Web"
            ]
        );
        let value = |table: usize, key: &str| {
            let k = report[table].keys.iter().find(|k| k.key == key).unwrap();
            (k.value.clone(), k.set_in.clone())
        };
        assert_eq!(value(0, "required_approvals"), ("2".into(), SetIn::Here));
        assert_eq!(value(0, "approvers"), ("3 approvers".into(), SetIn::Here));
        assert_eq!(value(0, "release_ttl"), ("3d".into(), SetIn::Global));
        assert_eq!(value(1, "required_approvals"), ("1".into(), SetIn::Here));
        let (url, from) = value(1, "approvers");
        assert_eq!(from, SetIn::Here);
        assert!(url.starts_with("url ") && !url.contains("pw"), "{url}");
        assert_eq!(
            value(1, "release_ttl"),
            ("3d".into(), SetIn::Global),
            "neither the environment nor its project sets it"
        );
        assert_eq!(value(2, "release_ttl"), ("1d".into(), SetIn::Here));
        assert_eq!(value(2, "approvers"), ("none".into(), SetIn::Global));
        // An environment inheriting from its project says so.
        let p = policies(
            r#"
            [projects.Devx]
            required_approvals = 2
            [projects.Devx.environments.staging]
            release_ttl = "4h"
            "#,
        )
        .unwrap();
        let staging = &p.report()[1];
        let quorum = staging
            .keys
            .iter()
            .find(|k| k.key == "required_approvals")
            .unwrap();
        assert_eq!(quorum.value, "2");
        assert_eq!(quorum.set_in, SetIn::Project("[projects.Devx]".into()));
    }

    #[test]
    fn the_most_specific_table_wins_key_by_key() {
        let p = policies(
            r#"
            [projects.Devx]
            required_approvals = 2
            approvers = "ana@example.com, bruno@example.com, carla@example.com"
            requester_can_approve = true
            [projects.Devx.environments.Staging]
            required_approvals = 1
            release_ttl = "4h"
            "#,
        )
        .unwrap();
        let (prod, source) = p.resolve(&key("devx", None));
        assert_eq!(prod.quorum, Some(2));
        assert!(prod.requester_can_approve);
        assert_eq!(prod.release_ttl, Policy::default().release_ttl);
        assert!(matches!(source, ApproversSource::Static(l) if l.len() == 3));
        let (staging, source) = p.resolve(&key("DEVX", Some("staging")));
        assert_eq!(staging.quorum, Some(1));
        assert_eq!(staging.release_ttl, chrono::Duration::hours(4));
        assert!(staging.requester_can_approve, "inherited from the project");
        assert!(matches!(source, ApproversSource::Static(l) if l.len() == 3));
        let (other, source) = p.resolve(&key("Other", None));
        assert_eq!(other, Policy::default());
        assert!(matches!(source, ApproversSource::None));
    }

    #[test]
    fn wrong_values_name_the_key_and_the_project() {
        for (text, expected) in [
            (
                "[projects.Devx]\nrequired_approvals = 0",
                "projects.Devx.required_approvals",
            ),
            (
                "[projects.Devx]\nrequired_approvals = \"most\"",
                "projects.Devx.required_approvals",
            ),
            (
                "[projects.Devx]\nrelease_ttl = \"soon\"",
                "projects.Devx.release_ttl",
            ),
            (
                "[projects.Devx]\napprovers = \"nobody\"",
                "projects.Devx.approvers",
            ),
            (
                "[projects.Devx]\napprovers_url = \"ftp://x\"",
                "projects.Devx.approvers_url",
            ),
            (
                "[projects.Devx]\napprovals = 2",
                "projects.Devx: unknown field `approvals`",
            ),
            (
                "[projects.Devx.environments.qa]\nrelease_ttl = 5",
                "projects.Devx.environments.qa",
            ),
            (
                "[projects.Devx]\napprovers = \"a@b.c\"\napprovers_url = \"http://x\"",
                "not both",
            ),
            ("[projects]\nDevx = 3", "projects.Devx must be a table"),
            ("[projects.Devx]\n[projects.devx]", "set twice"),
            (
                "[projects.Devx]\napproval_mode = \"sometimes\"",
                "projects.Devx.approval_mode must be one-click or confirm",
            ),
            (
                "[projects.Devx]\nwebhook_url = \"ftp://x\"",
                "projects.Devx.webhook_url must be an http(s) URL",
            ),
            (
                "[projects.Devx.environments.staging]\nwebhook_secret = \"s3cr3t-but-no-prefix\"",
                "projects.Devx.environments.staging.webhook_secret must start with whsec_",
            ),
            (
                "[projects.Devx]\nwebhook_secret = \"whsec_c2hvcnQ=\"",
                "projects.Devx.webhook_secret must hold 24 to 64 bytes",
            ),
            (
                "[projects.Devx]\nwebhook_secret = \"whsec_%%%\"",
                "projects.Devx.webhook_secret must be whsec_ followed by standard base64",
            ),
            (
                "[projects.Devx]\nwebhook_secret_previous = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"",
                "projects.Devx.webhook_secret_previous is set without projects.Devx.webhook_secret",
            ),
            (
                "[projects.Devx]\nwebhook_secret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\nwebhook_secret_previous = \"whsec_short\"",
                "projects.Devx.webhook_secret_previous must",
            ),
            (
                "[projects.Devx]\nwebhook_url = \"https://x.example/h\"",
                "projects.Devx.webhook_url: no webhook secret signs its deliveries; set projects.Devx.webhook_secret",
            ),
            (
                "[projects.Devx.environments.staging]\nwebhook_url = \"https://x.example/h\"",
                "projects.Devx.environments.staging.webhook_url: no webhook secret",
            ),
        ] {
            let err = policies(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text}: {err}");
            assert!(
                !err.contains("s3cr3t") && !err.contains("MfKQ9r8"),
                "no secret in the error: {err}"
            );
        }
    }

    #[test]
    fn stack_keys_are_per_project_with_defaults() {
        let p = policies(
            "[projects.Devx]\nstack_prefix = \"qa-\"\nmax_stacks = 3\nstack_lease_ttl = \"30m\"",
        )
        .unwrap();
        let devx = p.stacks("devx");
        assert_eq!(devx.prefix, "qa-");
        assert_eq!(devx.max_stacks, Some(3));
        assert_eq!(devx.lease_ttl, std::time::Duration::from_secs(1800));
        assert_eq!(p.stacks("other"), StackPolicy::default());
        let report = p.report();
        let line = |k: &str| {
            report[0]
                .keys
                .iter()
                .find(|r| r.key == k)
                .unwrap()
                .value
                .clone()
        };
        assert_eq!(line("max_stacks"), "3");
        assert_eq!(line("stack_lease_ttl"), "30m");
        for bad in [
            "[projects.Devx]\nstack_prefix = \"a b\"",
            "[projects.Devx]\nmax_stacks = 0",
            "[projects.Devx]\nstack_lease_ttl = \"soon\"",
            "[projects.Devx.environments.qa]\nmax_stacks = 2",
        ] {
            assert!(policies(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn slack_channel_is_looked_up_environment_project_global() {
        let p = policies(
            "[projects.Devx]\nslack_channel = \"#devx\"\n\
             [projects.Devx.environments.staging]\nslack_channel = \"off\"\n\
             [projects.Ops.environments.qa]\nslack_channel = \"C0QA\"",
        )
        .unwrap()
        .with_slack_channel(Some("#releases".to_owned()));
        assert_eq!(
            p.slack_channel(&key("devx", Some("production"))),
            Some("#devx")
        );
        assert_eq!(p.slack_channel(&key("Devx", Some("Staging"))), None);
        assert_eq!(p.slack_channel(&key("Ops", Some("qa"))), Some("C0QA"));
        assert_eq!(p.slack_channel(&key("Ops", None)), Some("#releases"));
        assert_eq!(p.slack_channel(&key("Other", None)), Some("#releases"));
        assert!(policies("[projects.Devx]\nslack_channel = \" \"")
            .unwrap_err()
            .to_string()
            .contains("projects.Devx.slack_channel"));
    }
}
