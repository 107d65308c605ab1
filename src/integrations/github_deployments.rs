//! GitHub as a deployment provider, as GitHub's wire formats have it: the
//! `deployment` webhook event (action `created`; octokit's
//! `webhook-deployment-created` schema, the fields Greenlight reads), the
//! deployment request it maps to, and the body of "Create a deployment
//! status" (`POST /repos/{owner}/{repo}/deployments/{id}/statuses`).

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::domain::DeploymentState;

#[derive(Debug, Deserialize)]
pub struct DeploymentEvent {
    pub action: Option<String>,
    pub deployment: Deployment,
    pub repository: Repository,
    /// Present on every delivery to a GitHub App.
    pub installation: Option<Installation>,
}

#[derive(Debug, Deserialize)]
pub struct Deployment {
    /// GitHub's id: one record here per GitHub deployment.
    pub id: i64,
    pub sha: String,
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    pub environment: String,
    /// Whatever its creator passed (`createDeployment`'s `payload`): an
    /// object whose string `stack_name` and `version` are mapped.
    #[serde(default)]
    pub payload: Value,
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Repository {
    /// `owner/repo`.
    pub full_name: String,
    pub html_url: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Installation {
    pub id: i64,
}

impl DeploymentEvent {
    /// The `POST /deployments` request this event stands for: repository
    /// `github.com/{owner}/{repo}`, the deployment's sha, ref and
    /// environment, the project `team_project` (the repository's full name
    /// unless the operator mapped it), and `stack_name`/`version` when the
    /// deployment's payload names them as text.
    pub fn mapped_request(&self, team_project: &str) -> Value {
        let d = &self.deployment;
        let mut request = Map::new();
        request.insert(
            "repository_url".to_owned(),
            json!(format!("github.com/{}", self.repository.full_name)),
        );
        request.insert("commit_sha".to_owned(), json!(d.sha));
        request.insert("environment".to_owned(), json!(d.environment));
        request.insert("team_project".to_owned(), json!(team_project));
        if let Some(git_ref) = &d.git_ref {
            request.insert("ref".to_owned(), json!(git_ref));
        }
        if let Value::Object(payload) = &d.payload {
            for name in ["stack_name", "version"] {
                if let Some(Value::String(text)) = payload.get(name) {
                    request.insert(name.to_owned(), json!(text));
                }
            }
        }
        Value::Object(request)
    }

    /// `owner` and `repo` of `repository.full_name`, if it has that form.
    pub fn owner_and_repo(&self) -> Option<(&str, &str)> {
        self.repository
            .full_name
            .split_once('/')
            .filter(|(owner, repo)| valid_owner(owner) && valid_repo(repo))
    }
}

/// A GitHub account name: letters, digits and `-`, 1 to 39.
pub fn valid_owner(owner: &str) -> bool {
    (1..=39).contains(&owner.len())
        && owner
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A GitHub repository name: letters, digits, `.`, `-` and `_`, 1 to
/// 100, and neither `.` nor `..`.
pub fn valid_repo(repo: &str) -> bool {
    (1..=100).contains(&repo.len())
        && repo
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        && repo != "."
        && repo != ".."
}

/// GitHub's word for a state. GitHub's states are `error`, `failure`,
/// `inactive`, `in_progress`, `queued`, `pending` and `success`: waiting
/// for an approval is `pending`, and a canceled deployment, which never
/// ran to an end, is an `error` (its description says canceled).
pub fn github_state(state: DeploymentState) -> &'static str {
    match state {
        DeploymentState::Waiting => "pending",
        DeploymentState::Queued => "queued",
        DeploymentState::InProgress => "in_progress",
        DeploymentState::Success => "success",
        DeploymentState::Failure => "failure",
        DeploymentState::Error | DeploymentState::Canceled => "error",
        DeploymentState::Inactive => "inactive",
    }
}

/// GitHub caps a status's description at 140 characters.
const MAX_DESCRIPTION_CHARS: usize = 140;

/// The body of "Create a deployment status". `log_url` is our log of the
/// deployment. `auto_inactive` is false: Greenlight turns a superseded
/// success `inactive` itself (its own rule, production included) and
/// reports that status like any other.
pub fn status_body(
    state: DeploymentState,
    description: Option<&str>,
    log_url: &str,
    environment_url: Option<&str>,
) -> Value {
    let description = match (state, description) {
        (_, Some(text)) if !text.trim().is_empty() => text.to_owned(),
        (DeploymentState::Canceled, _) => "canceled".to_owned(),
        _ => String::new(),
    };
    let description = if state == DeploymentState::Canceled && !description.starts_with("canceled")
    {
        format!("canceled: {description}")
    } else {
        description
    };
    let mut body = json!({
        "state": github_state(state),
        "log_url": log_url,
        "description": description.chars().take(MAX_DESCRIPTION_CHARS).collect::<String>(),
        "auto_inactive": false,
    });
    if let Some(url) = environment_url {
        body["environment_url"] = json!(url);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_maps_to_one_github_allows() {
        let allowed = [
            "error",
            "failure",
            "inactive",
            "in_progress",
            "queued",
            "pending",
            "success",
        ];
        for state in DeploymentState::ALL {
            assert!(allowed.contains(&github_state(state)), "{state:?}");
        }
    }

    #[test]
    fn a_description_is_cut_at_140_characters_and_a_cancel_says_so() {
        let long = "é".repeat(300);
        let body = status_body(DeploymentState::Failure, Some(&long), "https://x/l", None);
        assert_eq!(body["description"].as_str().unwrap().chars().count(), 140);
        let body = status_body(DeploymentState::Canceled, None, "https://x/l", None);
        assert_eq!(body["state"], "error");
        assert_eq!(body["description"], "canceled");
        let body = status_body(
            DeploymentState::Canceled,
            Some("release rejected"),
            "https://x/l",
            None,
        );
        assert_eq!(body["description"], "canceled: release rejected");
        assert!(body.get("environment_url").is_none());
    }

    #[test]
    fn owners_and_repositories_are_named_as_github_names_them() {
        assert!(valid_owner("octo-org") && valid_repo("my.app_2"));
        assert!(!valid_owner("") && !valid_owner("a/b") && !valid_owner(&"a".repeat(40)));
        assert!(!valid_repo("..") && !valid_repo("a b") && !valid_repo("a%2Fb"));
    }
}
