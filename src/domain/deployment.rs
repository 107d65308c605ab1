//! Deployments as requests name them: "commit C of repository R goes to
//! environment E of project P", parsed once at the edge, and the rule of
//! how a deployment's state may move.

use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};

use super::release::{check_text, fold, key_part, FieldError, ParseError, DEFAULT_ENVIRONMENT};
use super::release::{MAX_ENVIRONMENT, MAX_TEAM_PROJECT};

/// Longer than any real clone URL; short enough to index.
pub const MAX_REPOSITORY_URL: usize = 512;
/// A git ref (`refs/heads/…`): git allows long names, GitHub 255 bytes.
pub const MAX_REF: usize = 256;
pub const MAX_STACK_NAME: usize = 128;
pub const MAX_VERSION: usize = 128;
/// A status's description, as GitHub's deployment statuses cap it.
pub const MAX_DESCRIPTION: usize = 140;
/// `log_url` and `environment_url` of a status.
pub const MAX_URL: usize = 2048;

/// A repository, normalised to `host/path` (`github.com/octo/app`): the
/// seed's form. `https://`, `http://`, `ssh://` and `git://` in front are
/// dropped, the host is lowercased, a trailing `/` or `.git` is dropped, so
/// `https://GitHub.com/octo/app.git` and `github.com/octo/app` are one
/// repository. A URL with credentials (`user@`, `user:password@`), a query
/// or fragment, spaces or control characters, an empty or dot segment is
/// refused: what is stored is shown to every reader of the project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryUrl(String);

impl RepositoryUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let text = raw.trim();
        if text.is_empty() {
            return Err("must not be empty".to_owned());
        }
        if text.chars().count() > MAX_REPOSITORY_URL {
            return Err(format!("must be at most {MAX_REPOSITORY_URL} characters"));
        }
        if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err("must not contain spaces or control characters".to_owned());
        }
        let rest = match text.split_once("://") {
            Some((scheme, rest)) => {
                if !["https", "http", "ssh", "git"]
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(scheme))
                {
                    return Err(
                        "must be host/owner/name, or an https, http, ssh or git URL".to_owned()
                    );
                }
                rest
            }
            None => text,
        };
        if rest.contains(['?', '#']) {
            return Err("must not have a query or a fragment".to_owned());
        }
        let Some((authority, path)) = rest.split_once('/') else {
            return Err("must name a repository: host/owner/name".to_owned());
        };
        if authority.contains('@') {
            return Err("must not carry credentials (user@ or user:password@)".to_owned());
        }
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        let host_ok = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            && !host.starts_with(['.', '-']);
        let port_ok = port
            .is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.chars().all(|c| c.is_ascii_digit()));
        if !host_ok || !port_ok {
            return Err("must start with a host name (github.com/owner/name)".to_owned());
        }
        let path = path.trim_end_matches('/');
        let path = path.strip_suffix(".git").unwrap_or(path);
        if path.is_empty() {
            return Err("must name a repository: host/owner/name".to_owned());
        }
        if path.split('/').any(|s| matches!(s, "" | "." | "..")) {
            return Err("must not have empty, \".\" or \"..\" path segments".to_owned());
        }
        Ok(Self(format!("{}/{path}", authority.to_ascii_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The repository as matched: lowercased whole (GitHub, GitLab and
    /// Azure DevOps name repositories case-insensitively).
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }

    /// The path after the host (`octo/app`): a deployment's project when
    /// the request names none.
    pub fn path(&self) -> &str {
        self.0.split_once('/').map_or("", |(_, path)| path)
    }
}

impl fmt::Display for RepositoryUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A commit: 4 to 64 hex digits (an abbreviated or full SHA-1, a SHA-256),
/// stored lowercase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitSha(String);

impl CommitSha {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let text = raw.trim();
        if !(4..=64).contains(&text.len()) || !text.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err("must be 4 to 64 hex digits".to_owned());
        }
        Ok(Self(text.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where a deployment goes and what its status is, GitHub's states.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    utoipa::ToSchema,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentState {
    /// Waits for its release's approval.
    Waiting,
    Queued,
    InProgress,
    Success,
    Failure,
    Error,
    Canceled,
    /// A success that a newer success of its project and environment
    /// replaced.
    Inactive,
}

/// Why a deployment cannot move to a state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{from} cannot become {to}: {why}")]
pub struct InvalidTransition {
    pub from: DeploymentState,
    pub to: DeploymentState,
    pub why: &'static str,
}

impl DeploymentState {
    pub const ALL: [Self; 8] = [
        Self::Waiting,
        Self::Queued,
        Self::InProgress,
        Self::Success,
        Self::Failure,
        Self::Error,
        Self::Canceled,
        Self::Inactive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Queued => "queued",
            Self::InProgress => "in_progress",
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Error => "error",
            Self::Canceled => "canceled",
            Self::Inactive => "inactive",
        }
    }

    /// Nothing happens to a final deployment any more (but a success
    /// turning inactive).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Success | Self::Failure | Self::Error | Self::Canceled | Self::Inactive
        )
    }

    /// How far along a deployment is: moves go up only.
    fn rank(self) -> u8 {
        match self {
            Self::Waiting => 0,
            Self::Queued => 1,
            Self::InProgress => 2,
            Self::Success | Self::Failure | Self::Error | Self::Canceled => 3,
            Self::Inactive => 4,
        }
    }

    /// Whether a pipeline or runner may move a deployment from `self` to
    /// `to` (`POST /deployments/{id}/statuses`, `/cancel`): forward only,
    /// nothing after a final state. `in_progress` may be posted again (a
    /// runner's progress note). `waiting` leaves only by its release's
    /// decision or a cancel; nobody posts `waiting` or `inactive`: the
    /// approval gate and a newer success set them.
    pub fn may_post(self, to: Self) -> Result<(), InvalidTransition> {
        let refuse = |why| {
            Err(InvalidTransition {
                from: self,
                to,
                why,
            })
        };
        if self.is_final() {
            return refuse("the deployment is final");
        }
        match to {
            Self::Waiting => refuse("only the approval gate makes a deployment wait"),
            Self::Inactive => refuse(
                "only a newer success of the same project and environment makes one inactive",
            ),
            _ if self == Self::Waiting && to != Self::Canceled => refuse(
                "a waiting deployment waits for its release's approval; it can only be canceled",
            ),
            Self::InProgress if self == Self::InProgress => Ok(()),
            _ if to.rank() > self.rank() => Ok(()),
            _ => refuse("a deployment's state only moves forward"),
        }
    }

    /// Whether a newer success of the same project and environment turns
    /// this deployment `inactive` (GitHub's `auto_inactive`).
    pub fn superseded_by_a_success(self) -> bool {
        self == Self::Success
    }
}

impl fmt::Display for DeploymentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeploymentState {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|v| v.as_str() == s).ok_or(())
    }
}

/// The text listing every state, for error messages.
pub fn state_names() -> String {
    DeploymentState::ALL.map(DeploymentState::as_str).join(", ")
}

/// A validated `POST /deployments` body (the body itself is kept as
/// received beside it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDeployment {
    pub team_project: String,
    pub environment: String,
    pub repository: RepositoryUrl,
    pub commit_sha: CommitSha,
    pub git_ref: Option<String>,
    pub stack_name: Option<String>,
    pub version: Option<String>,
    /// The release that gates it (`deploy_requires_approval`); none: its
    /// commit sha.
    pub release_id: Option<String>,
}

impl NewDeployment {
    /// Parses a JSON object: `repository_url` and `commit_sha` required;
    /// `environment` defaults to `production`, `team_project` to the
    /// repository's path; unknown fields are ignored (the seed's clients
    /// send what they send).
    pub fn parse_json(body: &[u8]) -> Result<Self, ParseError> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| ParseError::Malformed(format!("the body is not valid JSON: {e}")))?;
        let Value::Object(object) = value else {
            return Err(ParseError::Malformed(
                "the body must be a JSON object".to_owned(),
            ));
        };
        let mut errors = Vec::new();
        let repository = required(&object, "repository_url", &mut errors).and_then(|s| {
            RepositoryUrl::parse(&s)
                .map_err(|e| errors.push(FieldError::new("repository_url", e)))
                .ok()
        });
        let commit_sha = required(&object, "commit_sha", &mut errors).and_then(|s| {
            CommitSha::parse(&s)
                .map_err(|e| errors.push(FieldError::new("commit_sha", e)))
                .ok()
        });
        let environment = match optional(&object, "environment", &mut errors) {
            Some(env) => key_part("environment", &env, MAX_ENVIRONMENT, &mut errors),
            None => Some(DEFAULT_ENVIRONMENT.to_owned()),
        };
        let team_project = match optional(&object, "team_project", &mut errors) {
            Some(tp) => key_part("team_project", &tp, MAX_TEAM_PROJECT, &mut errors),
            None => repository.as_ref().and_then(|r| {
                key_part("team_project", r.path(), MAX_TEAM_PROJECT, &mut Vec::new()).or_else(
                    || {
                        errors.push(FieldError::new(
                            "team_project",
                            format!("is required when the repository's path is not a project name (at most {MAX_TEAM_PROJECT} characters)"),
                        ));
                        None
                    },
                )
            }),
        };
        let mut text = |name: &'static str, max: usize| {
            optional(&object, name, &mut errors)
                .and_then(|s| check_text(name, &s, max, &mut errors))
        };
        let git_ref = text("ref", MAX_REF);
        let stack_name = text("stack_name", MAX_STACK_NAME);
        let version = text("version", MAX_VERSION);
        let release_id = optional(&object, "release_id", &mut errors).and_then(|id| {
            key_part(
                "release_id",
                &id,
                super::release::MAX_RELEASE_ID,
                &mut errors,
            )
        });
        match (repository, commit_sha, environment, team_project) {
            (Some(repository), Some(commit_sha), Some(environment), Some(team_project))
                if errors.is_empty() =>
            {
                Ok(Self {
                    team_project,
                    environment,
                    repository,
                    commit_sha,
                    git_ref,
                    stack_name,
                    version,
                    release_id,
                })
            }
            _ => Err(ParseError::Invalid(errors)),
        }
    }

    pub fn team_project_key(&self) -> String {
        fold(&self.team_project)
    }

    pub fn environment_key(&self) -> String {
        fold(&self.environment)
    }
}

/// A status a pipeline or runner posts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusUpdate {
    pub state: DeploymentState,
    pub description: Option<String>,
    pub log_url: Option<String>,
    pub environment_url: Option<String>,
}

impl StatusUpdate {
    /// Parses `{"state", "description", "log_url", "environment_url"}`.
    pub fn parse_json(body: &[u8]) -> Result<Self, ParseError> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| ParseError::Malformed(format!("the body is not valid JSON: {e}")))?;
        let Value::Object(object) = value else {
            return Err(ParseError::Malformed(
                "the body must be a JSON object".to_owned(),
            ));
        };
        let mut errors = Vec::new();
        let state = required(&object, "state", &mut errors).and_then(|s| {
            s.parse::<DeploymentState>()
                .map_err(|()| {
                    errors.push(FieldError::new(
                        "state",
                        format!("must be one of {}", state_names()),
                    ))
                })
                .ok()
        });
        // A description may be blank (it is then none), as GitHub's.
        let description = optional(&object, "description", &mut errors)
            .filter(|s| !s.trim().is_empty())
            .and_then(|s| check_text("description", &s, MAX_DESCRIPTION, &mut errors));
        let mut url = |name: &'static str| {
            optional(&object, name, &mut errors).and_then(|s| {
                let ok = check_text(name, &s, MAX_URL, &mut errors)?;
                if ok.starts_with("https://") || ok.starts_with("http://") {
                    Some(ok)
                } else {
                    errors.push(FieldError::new(name, "must be an http(s) URL"));
                    None
                }
            })
        };
        let log_url = url("log_url");
        let environment_url = url("environment_url");
        match state {
            Some(state) if errors.is_empty() => Ok(Self {
                state,
                description,
                log_url,
                environment_url,
            }),
            _ => Err(ParseError::Invalid(errors)),
        }
    }
}

fn required(
    object: &Map<String, Value>,
    name: &'static str,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    if matches!(object.get(name), None | Some(Value::Null)) {
        errors.push(FieldError::new(name, "is required"));
        return None;
    }
    optional(object, name, errors)
}

/// A string field; `null` is absent.
fn optional(
    object: &Map<String, Value>,
    name: &'static str,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    match object.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errors.push(FieldError::new(name, "must be a string"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeploymentState::*;

    #[test]
    fn repository_urls_are_normalised_to_host_and_path() {
        for raw in [
            "github.com/octo/app",
            " https://GitHub.com/octo/app.git ",
            "http://github.com/octo/app/",
            "ssh://github.com/octo/app.git",
            "git://github.com/octo/app",
        ] {
            let url = RepositoryUrl::parse(raw).unwrap();
            assert_eq!(url.as_str(), "github.com/octo/app", "{raw}");
            assert_eq!(url.path(), "octo/app");
        }
        let mixed = RepositoryUrl::parse("dev.azure.com:8443/Org/Proj/_git/Repo").unwrap();
        assert_eq!(
            mixed.as_str(),
            "dev.azure.com:8443/Org/Proj/_git/Repo",
            "path case kept"
        );
        assert_eq!(mixed.key(), "dev.azure.com:8443/org/proj/_git/repo");
    }

    #[test]
    fn repository_urls_with_credentials_or_junk_are_refused() {
        for raw in [
            "",
            "https://user:pass@github.com/octo/app",
            "https://token@github.com/octo/app",
            "git@github.com/octo/app",
            "github.com/octo\n/app",
            "github.com/octo/a\u{7}pp",
            "github.com/octo app",
            "github.com/octo/app?token=x",
            "github.com/octo/app#x",
            "github.com",
            "github.com/",
            "github.com//app",
            "github.com/octo/../app",
            "ftp://github.com/octo/app",
            "file:///etc/passwd",
            "/octo/app",
            "github.com:x/octo/app",
        ] {
            assert!(RepositoryUrl::parse(raw).is_err(), "{raw:?}");
        }
        let long = format!("github.com/{}", "a".repeat(MAX_REPOSITORY_URL));
        assert!(RepositoryUrl::parse(&long).is_err());
    }

    #[test]
    fn commit_shas_are_4_to_64_hex_digits_stored_lowercase() {
        assert_eq!(CommitSha::parse("0123ABC").unwrap().as_str(), "0123abc");
        assert!(CommitSha::parse(&"a".repeat(64)).is_ok());
        for bad in ["abc", "", "0123xyz", "0123 abc", "éééé"] {
            assert!(CommitSha::parse(bad).is_err(), "{bad}");
        }
        assert!(CommitSha::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn states_move_forward_only() {
        for (from, to) in [
            (Queued, InProgress),
            (Queued, Success),
            (Queued, Canceled),
            (InProgress, InProgress),
            (InProgress, Success),
            (InProgress, Failure),
            (InProgress, Error),
            (Waiting, Canceled),
        ] {
            assert!(from.may_post(to).is_ok(), "{from} -> {to}");
        }
        for (from, to) in [
            (InProgress, Queued),
            (Queued, Queued),
            (Queued, Waiting),
            (Waiting, Queued),
            (Waiting, InProgress),
            (Queued, Inactive),
            (Success, Failure),
            (Success, Inactive),
            (Failure, Success),
            (Canceled, Canceled),
            (Error, InProgress),
            (Inactive, Success),
        ] {
            let refused = from.may_post(to).unwrap_err();
            assert_eq!((refused.from, refused.to), (from, to));
        }
    }

    #[test]
    fn every_final_state_refuses_every_move_and_only_success_is_superseded() {
        for from in DeploymentState::ALL.into_iter().filter(|s| s.is_final()) {
            for to in DeploymentState::ALL {
                assert!(from.may_post(to).is_err(), "{from} -> {to}");
            }
        }
        let superseded: Vec<_> = DeploymentState::ALL
            .into_iter()
            .filter(|s| s.superseded_by_a_success())
            .collect();
        assert_eq!(superseded, [Success]);
        for state in DeploymentState::ALL {
            assert_eq!(state.as_str().parse::<DeploymentState>(), Ok(state));
        }
        assert!("done".parse::<DeploymentState>().is_err());
    }

    fn fields(body: &str) -> Vec<&'static str> {
        match NewDeployment::parse_json(body.as_bytes()) {
            Err(ParseError::Invalid(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected invalid fields, got {other:?}"),
        }
    }

    #[test]
    fn a_deployment_request_defaults_its_project_and_environment() {
        let d = NewDeployment::parse_json(
            br#"{"repository_url": "github.com/octo/app", "commit_sha": "0123ABC", "x": 1}"#,
        )
        .unwrap();
        assert_eq!(d.team_project, "octo/app");
        assert_eq!(d.environment, "production");
        assert_eq!(d.commit_sha.as_str(), "0123abc");
        assert_eq!(fields("{}"), ["repository_url", "commit_sha"]);
        assert_eq!(
            fields(
                r#"{"repository_url": 1, "commit_sha": "xyz1", "environment": "", "ref": "a\u0000b", "description": 1}"#
            ),
            ["repository_url", "commit_sha", "environment", "ref"]
        );
        assert!(matches!(
            NewDeployment::parse_json(b"[]"),
            Err(ParseError::Malformed(_))
        ));
    }

    #[test]
    fn a_status_names_a_known_state_and_a_short_description() {
        let s =
            StatusUpdate::parse_json(br#"{"state": "in_progress", "description": " "}"#).unwrap();
        assert_eq!((s.state, s.description), (InProgress, None));
        let long = "é".repeat(MAX_DESCRIPTION + 1);
        let bad = format!(r#"{{"state": "done", "description": "{long}", "log_url": "ftp://x"}}"#);
        match StatusUpdate::parse_json(bad.as_bytes()) {
            Err(ParseError::Invalid(errors)) => {
                let names: Vec<_> = errors.iter().map(|e| e.field).collect();
                assert_eq!(names, ["state", "description", "log_url"]);
            }
            other => panic!("{other:?}"),
        }
        let at_limit = format!(
            r#"{{"state": "success", "description": "{}"}}"#,
            "é".repeat(MAX_DESCRIPTION)
        );
        assert!(StatusUpdate::parse_json(at_limit.as_bytes()).is_ok());
    }
}
