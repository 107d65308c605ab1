//! GitHub's `deployment_protection_rule` event, as GitHub sends it: the
//! fields Greenlight reads, the release name it shows approvers, and the
//! workflow run its callback URL names.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct ProtectionRule {
    pub action: Option<String>,
    pub environment: String,
    pub deployment_callback_url: String,
    pub deployment: Option<Deployment>,
    pub repository: Repository,
    pub installation: Installation,
}

#[derive(Debug, Deserialize)]
pub struct Deployment {
    /// A new one for each run attempt (a re-run keeps the run id).
    pub id: Option<i64>,
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    pub sha: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Repository {
    pub full_name: String,
}

#[derive(Debug, Deserialize)]
pub struct Installation {
    pub id: i64,
}

/// Release names are at most this many characters.
const MAX_NAME_CHARS: usize = 256;

impl ProtectionRule {
    /// What approvers see: the ref and the commit's short sha. Counted in
    /// characters: a payload is any UTF-8, and slicing bytes could split
    /// one.
    pub fn release_name(&self) -> String {
        let name = match &self.deployment {
            Some(Deployment { git_ref, sha, .. }) => {
                let short: String = sha.as_deref().unwrap_or("").chars().take(7).collect();
                format!("{} {short}", git_ref.as_deref().unwrap_or("deployment"))
            }
            None => "deployment".to_owned(),
        };
        name.trim().chars().take(MAX_NAME_CHARS).collect()
    }

    pub fn deployment_id(&self) -> Option<i64> {
        self.deployment.as_ref().and_then(|d| d.id)
    }

    /// The workflow run the callback URL belongs to:
    /// `.../repos/{owner}/{repo}/actions/runs/{run_id}/deployment_protection_rule`.
    pub fn run_id(&self) -> Option<String> {
        run_id(&self.deployment_callback_url)
    }
}

fn run_id(callback_url: &str) -> Option<String> {
    let url = url::Url::parse(callback_url).ok()?;
    let mut segments = url.path_segments()?;
    segments.find(|s| *s == "runs")?;
    segments
        .next()
        .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(git_ref: Option<&str>, sha: Option<&str>) -> ProtectionRule {
        ProtectionRule {
            action: Some("requested".into()),
            environment: "production".into(),
            deployment_callback_url: String::new(),
            deployment: Some(Deployment {
                id: Some(1),
                git_ref: git_ref.map(Into::into),
                sha: sha.map(Into::into),
            }),
            repository: Repository {
                full_name: "octo/app".into(),
            },
            installation: Installation { id: 1 },
        }
    }

    #[test]
    fn the_run_id_comes_from_the_callback_url() {
        assert_eq!(
            run_id("https://api.github.com/repos/octo/app/actions/runs/4242/deployment_protection_rule").as_deref(),
            Some("4242")
        );
        for url in [
            "https://api.github.com/repos/o/r/actions/runs/",
            "https://api.github.com/repos/o/r",
            "https://api.github.com/runs/x1/y",
            "https://api.github.com/repos/o/r/actions/runs/１２/x",
        ] {
            assert_eq!(run_id(url), None, "{url}");
        }
    }

    #[test]
    fn the_name_is_the_ref_and_the_short_sha_in_characters() {
        assert_eq!(
            rule(Some("refs/heads/main"), Some("0123456789abcdef")).release_name(),
            "refs/heads/main 0123456"
        );
        // Multi-byte characters are kept whole (byte slicing panicked here).
        assert_eq!(
            rule(Some("main"), Some("ééééééééé")).release_name(),
            "main ééééééé"
        );
        assert_eq!(rule(None, Some("🦀")).release_name(), "deployment 🦀");
        assert_eq!(rule(Some("main"), None).release_name(), "main");
        let long = "ř".repeat(400);
        assert_eq!(rule(Some(&long), None).release_name().chars().count(), 256);
    }
}
