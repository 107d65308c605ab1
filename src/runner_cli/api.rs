//! The runner's calls to Greenlight: claim, log chunks, heartbeats and
//! statuses, each carrying the key (never logged) and, for a claimed
//! deployment, its claim token.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

/// A request other than the claim's long poll gets this long.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A deployment this runner claimed, as the claim answered it.
#[derive(Debug, Deserialize)]
pub struct Assignment {
    pub id: String,
    pub team_project: String,
    pub environment: String,
    pub repository_url: String,
    pub commit_sha: String,
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    pub stack_name: Option<String>,
    pub version: Option<String>,
    pub claim: ClaimHeld,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
}

#[derive(Deserialize)]
pub struct ClaimHeld {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for ClaimHeld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimHeld")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Renewed {
    claim: RenewedClaim,
}

#[derive(Deserialize)]
struct RenewedClaim {
    expires_at: DateTime<Utc>,
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// Greenlight refused it for good (a wrong key, a bad filter): retrying
    /// changes nothing.
    #[error("{0}")]
    Refused(String),
    /// The claim is over (409): another runner, or none, holds it now.
    #[error("the claim is over: {0}")]
    ClaimOver(String),
    /// Worth another try (no answer, 5xx, 429).
    #[error("{0}")]
    Transient(String),
}

#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    pub fn new(url: &str, key: Option<&SecretString>) -> anyhow::Result<Self> {
        let mut headers = HeaderMap::new();
        if let Some(key) = key {
            let mut value = HeaderValue::from_str(&format!("Bearer {}", key.expose_secret()))
                .map_err(|_| anyhow::anyhow!("the key is not a valid header value"))?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("greenlight-runner/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        Ok(Self {
            client,
            base: url.trim_end_matches('/').to_owned(),
        })
    }

    /// `POST /runners/claim`: a deployment, or none within `wait` seconds.
    pub async fn claim(
        &self,
        environments: &[String],
        team_projects: &[String],
        wait: u64,
    ) -> Result<Option<Assignment>, CallError> {
        let mut body = json!({"environments": environments, "wait": wait});
        if !team_projects.is_empty() {
            body["team_projects"] = json!(team_projects);
        }
        let answer = self
            .client
            .post(format!("{}/runners/claim", self.base))
            .timeout(Duration::from_secs(wait) + TIMEOUT)
            .json(&body)
            .send()
            .await
            .map_err(transient)?;
        match answer.status() {
            StatusCode::NO_CONTENT => Ok(None),
            StatusCode::OK => answer
                .json::<Assignment>()
                .await
                .map(Some)
                .map_err(|e| CallError::Transient(format!("reading the claim's answer: {e}"))),
            _ => Err(refusal(answer).await),
        }
    }

    /// Appends a chunk to the deployment's log (renewing the claim).
    pub async fn append_log(&self, id: &str, token: &str, chunk: Vec<u8>) -> Result<(), CallError> {
        let answer = self
            .client
            .post(format!("{}/deployments/{id}/logs", self.base))
            .timeout(TIMEOUT)
            .header("content-type", "text/plain; charset=utf-8")
            .header("greenlight-claim", token)
            .body(chunk)
            .send()
            .await
            .map_err(transient)?;
        if answer.status().is_success() {
            Ok(())
        } else {
            Err(refusal(answer).await)
        }
    }

    /// Renews the claim: its new expiry.
    pub async fn heartbeat(&self, id: &str, token: &str) -> Result<DateTime<Utc>, CallError> {
        let answer = self
            .client
            .post(format!("{}/deployments/{id}/heartbeat", self.base))
            .timeout(TIMEOUT)
            .header("greenlight-claim", token)
            .send()
            .await
            .map_err(transient)?;
        if !answer.status().is_success() {
            return Err(refusal(answer).await);
        }
        answer
            .json::<Renewed>()
            .await
            .map(|r| r.claim.expires_at)
            .map_err(|e| CallError::Transient(format!("reading the heartbeat's answer: {e}")))
    }

    /// Posts the deployment's state.
    pub async fn post_status(
        &self,
        id: &str,
        token: &str,
        state: &str,
        description: &str,
    ) -> Result<(), CallError> {
        let answer = self
            .client
            .post(format!("{}/deployments/{id}/statuses", self.base))
            .timeout(TIMEOUT)
            .header("greenlight-claim", token)
            .json(&json!({"state": state, "description": description}))
            .send()
            .await
            .map_err(transient)?;
        if answer.status().is_success() {
            Ok(())
        } else {
            Err(refusal(answer).await)
        }
    }
}

fn transient(e: reqwest::Error) -> CallError {
    // Without the URL: it is ours, but keep lines short and uniform.
    CallError::Transient(format!("no answer from Greenlight: {}", e.without_url()))
}

/// What a non-success answer means, with the problem's `detail`.
async fn refusal(answer: reqwest::Response) -> CallError {
    let status = answer.status();
    let detail = answer
        .json::<serde_json::Value>()
        .await
        .ok()
        .and_then(|p| p.get("detail").and_then(|d| d.as_str()).map(str::to_owned))
        .unwrap_or_default();
    let text = format!("HTTP {}: {detail}", status.as_u16());
    match status {
        StatusCode::CONFLICT => CallError::ClaimOver(text),
        s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => {
            CallError::Transient(text)
        }
        _ => CallError::Refused(text),
    }
}
