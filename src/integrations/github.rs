//! Greenlight as a GitHub App: checking the signature of GitHub's
//! webhooks, and answering a deployment protection rule with the app's
//! installation token (minted from an RS256 app JWT, cached until shortly
//! before it expires).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use super::outbound::{Failure, Outbound, OutboundError};
use crate::domain::ReleaseStatus;
use crate::metrics::Target;

/// The app's settings, checked at start.
#[derive(Clone)]
pub struct GithubSettings {
    pub app_id: String,
    /// PEM, as GitHub hands it out (PKCS#1 or PKCS#8).
    pub private_key: SecretString,
    pub webhook_secret: SecretString,
    /// `https://api.github.com`, or a GitHub Enterprise (or test) server.
    pub api_url: String,
}

impl std::fmt::Debug for GithubSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GithubSettings(app {}, {})", self.app_id, self.api_url)
    }
}

/// An installation token is renewed this long before GitHub says it expires.
const TOKEN_MARGIN: chrono::Duration = chrono::Duration::minutes(5);

pub struct GithubApp {
    app_id: String,
    key: EncodingKey,
    webhook_secret: Vec<u8>,
    api: url::Url,
    http: Outbound,
    /// Installation tokens by installation. Held across a fetch, so that
    /// jobs finishing together ask GitHub once, not once each.
    tokens: tokio::sync::Mutex<HashMap<i64, (String, DateTime<Utc>)>>,
}

impl std::fmt::Debug for GithubApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GithubApp({})", self.app_id)
    }
}

impl GithubSettings {
    /// The key and the API's URL, parsed: a wrong value fails naming its
    /// variable (at start, and in `greenlight config`).
    pub fn check(&self) -> Result<(), String> {
        self.parsed().map(|_| ())
    }

    fn parsed(&self) -> Result<(EncodingKey, url::Url), String> {
        let key = EncodingKey::from_rsa_pem(self.private_key.expose_secret().as_bytes()).map_err(
            |e| format!("GREENLIGHT_GITHUB_PRIVATE_KEY is not an RSA private key in PEM: {e}"),
        )?;
        let api = url::Url::parse(self.api_url.trim_end_matches('/'))
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            .ok_or("GREENLIGHT_GITHUB_API_URL must be an http(s) URL")?;
        Ok((key, api))
    }
}

impl GithubApp {
    pub fn new(settings: &GithubSettings, http: Outbound) -> Result<Self, String> {
        let (key, api) = settings.parsed()?;
        Ok(Self {
            app_id: settings.app_id.clone(),
            key,
            webhook_secret: settings.webhook_secret.expose_secret().as_bytes().to_vec(),
            api,
            http,
            tokens: tokio::sync::Mutex::new(HashMap::new()),
        })
    }

    /// `X-Hub-Signature-256: sha256=<hex>` over the raw body, compared in
    /// constant time (`Mac::verify_slice`).
    pub fn signature_valid(&self, body: &[u8], header: Option<&str>) -> bool {
        let Some(Ok(expected)) = header
            .and_then(|h| h.trim().strip_prefix("sha256="))
            .map(hex::decode)
        else {
            return false;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.webhook_secret)
            .expect("HMAC takes keys of any length");
        mac.update(body);
        mac.verify_slice(&expected).is_ok()
    }

    /// Whether GitHub may make us post to `url`: only the configured API
    /// host (a forged event must not turn Greenlight into a proxy).
    pub fn callback_allowed(&self, url: &str) -> bool {
        url::Url::parse(url).is_ok_and(|u| {
            u.scheme() == self.api.scheme()
                && u.host_str() == self.api.host_str()
                && u.port_or_known_default() == self.api.port_or_known_default()
                && u.path().starts_with(self.api.path().trim_end_matches('/'))
        })
    }

    /// The app's own JWT: RS256, `iss` the app id, ten minutes at most
    /// (issued a minute early for clock drift, as GitHub advises).
    pub fn app_jwt(&self) -> String {
        let now = Utc::now().timestamp();
        let claims = serde_json::json!({"iat": now - 60, "exp": now + 540, "iss": self.app_id});
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .expect("RS256 signing of JSON claims with a checked key")
    }

    /// An installation's token, from the cache while it has some life left.
    pub async fn installation_token(&self, installation_id: i64) -> Result<String, OutboundError> {
        let mut tokens = self.tokens.lock().await;
        if let Some((token, expires)) = tokens.get(&installation_id) {
            if *expires - TOKEN_MARGIN > Utc::now() {
                return Ok(token.clone());
            }
        }
        let url = format!(
            "{}/app/installations/{installation_id}/access_tokens",
            self.api.as_str().trim_end_matches('/')
        );
        // The configured API: its host may be private (GitHub Enterprise).
        let body = self
            .http
            .post(Target::Github, &url)
            .bearer(&self.app_jwt())
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .read()
            .await
            .map_err(|e| e.context("asking for an installation token"))?;
        #[derive(serde::Deserialize)]
        struct Token {
            token: String,
            expires_at: DateTime<Utc>,
        }
        let token: Token = serde_json::from_slice(&body).map_err(|e| {
            OutboundError::invalid(format!("GitHub's installation token is not readable: {e}"))
        })?;
        tokens.insert(installation_id, (token.token.clone(), token.expires_at));
        Ok(token.token)
    }

    /// Posts a deployment protection rule's answer to its callback URL.
    pub async fn review(
        &self,
        callback_url: &str,
        token: &str,
        body: &serde_json::Value,
    ) -> Result<(), OutboundError> {
        if !self.callback_allowed(callback_url) {
            return Err(OutboundError::refused_target(
                "the callback URL is not on the configured GitHub API host",
            ));
        }
        let sent = self
            .http
            .post(Target::Github, callback_url)
            // It came in an event's payload: on the API's host, but named
            // by whoever could sign the event.
            .from_caller()
            .bearer(token)
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .json(body.to_string().into_bytes())
            .send()
            .await;
        if sent
            .as_ref()
            .is_err_and(|e| e.failure() == Failure::Status(401))
        {
            // A revoked or rotated token: ask for a new one next time.
            self.tokens.lock().await.clear();
        }
        sent
    }
}

/// One delivery of the App's webhook, as `GET /app/hook/deliveries` lists
/// it (GitHub's REST API, "List deliveries for an app webhook"; the
/// `hook-delivery-item` schema of octokit/openapi). A redelivery keeps the
/// guid of the delivery it repeats and says `redelivery: true`.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct HookDelivery {
    pub id: i64,
    pub guid: String,
    pub delivered_at: DateTime<Utc>,
    #[serde(default)]
    pub redelivery: bool,
    /// GitHub's words: `OK`, `Invalid HTTP Response: 503`, ...
    #[serde(default)]
    pub status: String,
    /// Our answer's status; 0 when there was none (timeout, refused).
    #[serde(default)]
    pub status_code: i64,
    pub event: String,
}

impl HookDelivery {
    fn succeeded(&self) -> bool {
        (200..300).contains(&self.status_code)
    }
}

/// GitHub keeps deliveries, and redelivers them, for three days.
pub const REDELIVERY_WINDOW: chrono::Duration = chrono::Duration::days(3);
/// A delivery we keep refusing (a bad signature) is not asked for again
/// every few minutes for three days: after this many redeliveries, stop.
const MAX_REDELIVERIES: usize = 5;
/// Pages of 100 deliveries read at most per run.
const MAX_DELIVERY_PAGES: usize = 50;
const EVENT: &str = "deployment_protection_rule";

/// The deliveries to ask GitHub to redeliver: per `deployment_protection_rule`
/// guid that no delivery answered with a 2xx, its newest failed attempt,
/// if that was since `since` and the guid was redelivered fewer than
/// `MAX_REDELIVERIES` times. One id per guid.
pub fn to_redeliver(deliveries: &[HookDelivery], since: DateTime<Utc>) -> Vec<i64> {
    let mut by_guid: HashMap<&str, Vec<&HookDelivery>> = HashMap::new();
    for d in deliveries.iter().filter(|d| d.event == EVENT) {
        by_guid.entry(d.guid.as_str()).or_default().push(d);
    }
    let mut ids: Vec<i64> = by_guid
        .into_values()
        .filter(|attempts| !attempts.iter().any(|d| d.succeeded()))
        .filter(|attempts| attempts.iter().filter(|d| d.redelivery).count() < MAX_REDELIVERIES)
        .filter_map(|attempts| {
            attempts
                .into_iter()
                .max_by_key(|d| (d.delivered_at, d.id))
                .filter(|newest| newest.delivered_at >= since)
                .map(|newest| newest.id)
        })
        .collect();
    ids.sort_unstable();
    ids
}

/// The `cursor` of a `Link` header's `rel="next"` page, if there is one
/// (GitHub's deliveries are paged by cursor, not page number).
fn next_cursor(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        if !params.split(';').any(|p| p.trim() == r#"rel="next""#) {
            return None;
        }
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        url::Url::parse(target)
            .ok()?
            .query_pairs()
            .find(|(k, _)| k == "cursor")
            .map(|(_, v)| v.into_owned())
    })
}

impl GithubApp {
    /// The App's webhook deliveries, newest first, back to `since` (the
    /// pages GitHub's `Link` header names, read while they are that new).
    pub async fn hook_deliveries(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<HookDelivery>, OutboundError> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_DELIVERY_PAGES {
            let mut url = self.api.clone();
            url.path_segments_mut()
                .map_err(|()| OutboundError::invalid("GREENLIGHT_GITHUB_API_URL has no path"))?
                .pop_if_empty()
                .extend(["app", "hook", "deliveries"]);
            url.query_pairs_mut().append_pair("per_page", "100");
            if let Some(cursor) = &cursor {
                url.query_pairs_mut().append_pair("cursor", cursor);
            }
            let (body, link) = self
                .http
                .get(Target::Github, url.as_str())
                .bearer(&self.app_jwt())
                .header("Accept", "application/vnd.github+json")
                .header("X-GitHub-Api-Version", "2022-11-28")
                .read_with_header("link")
                .await
                .map_err(|e| e.context("listing the app's webhook deliveries"))?;
            let page: Vec<HookDelivery> = serde_json::from_slice(&body).map_err(|e| {
                OutboundError::invalid(format!("GitHub's webhook deliveries are not readable: {e}"))
            })?;
            let older = page.iter().any(|d| d.delivered_at < since);
            all.extend(page);
            cursor = link.as_deref().and_then(next_cursor);
            if older || cursor.is_none() {
                break;
            }
        }
        Ok(all)
    }

    /// Asks GitHub to deliver one delivery again ("Redeliver a delivery
    /// for an app webhook": `202 Accepted`).
    pub async fn redeliver(&self, delivery_id: i64) -> Result<(), OutboundError> {
        let url = format!(
            "{}/app/hook/deliveries/{delivery_id}/attempts",
            self.api.as_str().trim_end_matches('/')
        );
        self.http
            .post(Target::Github, &url)
            .bearer(&self.app_jwt())
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .send()
            .await
            .map_err(|e| e.context("asking for a redelivery"))
    }
}

/// GitHub's review of a deployment: approved only if the release was;
/// rejected, expired and failed all reject, the comment saying why.
pub fn github_review(
    environment: &str,
    status: ReleaseStatus,
    why: Option<&str>,
) -> serde_json::Value {
    let (state, comment) = match status {
        ReleaseStatus::Approved => ("approved", "Approved in Greenlight.".to_owned()),
        ReleaseStatus::Rejected => (
            "rejected",
            format!(
                "Rejected in Greenlight{}",
                why.map_or(".".to_owned(), |c| format!(": {c}"))
            ),
        ),
        ReleaseStatus::Expired => (
            "rejected",
            "Expired in Greenlight: nobody decided in time.".to_owned(),
        ),
        ReleaseStatus::Failed | ReleaseStatus::Pending => (
            "rejected",
            format!(
                "Failed in Greenlight{}",
                why.map_or(".".to_owned(), |r| format!(": {r}"))
            ),
        ),
    };
    serde_json::json!({"environment_name": environment, "state": state, "comment": cut(&comment)})
}

/// GitHub refuses a review comment over 1,024 characters (a rejection's
/// comment may hold 2,000): cut, in characters, with an ellipsis.
const MAX_COMMENT_CHARS: usize = 1024;

fn cut(comment: &str) -> String {
    if comment.chars().count() <= MAX_COMMENT_CHARS {
        return comment.to_owned();
    }
    let mut cut: String = comment.chars().take(MAX_COMMENT_CHARS - 1).collect();
    cut.push('…');
    cut
}

impl GithubApp {
    /// "Create a deployment status": `POST /repos/{owner}/{repo}/deployments/{id}/statuses`
    /// with an installation token (`body` from `github_deployments::status_body`).
    /// `repository` is `owner/repo`; each part goes into the path escaped.
    pub async fn post_deployment_status(
        &self,
        repository: &str,
        github_id: i64,
        token: &str,
        body: &serde_json::Value,
    ) -> Result<(), OutboundError> {
        let (owner, repo) = repository
            .split_once('/')
            .ok_or_else(|| OutboundError::invalid("the repository is not owner/repo"))?;
        let id = github_id.to_string();
        let mut url = self.api.clone();
        url.path_segments_mut()
            .map_err(|()| OutboundError::invalid("GREENLIGHT_GITHUB_API_URL has no path"))?
            .pop_if_empty()
            .extend(["repos", owner, repo, "deployments", id.as_str(), "statuses"]);
        let sent = self
            .http
            .post(Target::Github, url.as_str())
            .bearer(token)
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .json(body.to_string().into_bytes())
            .send()
            .await;
        if sent
            .as_ref()
            .is_err_and(|e| e.failure() == Failure::Status(401))
        {
            // A revoked or rotated token: ask for a new one next time.
            self.tokens.lock().await.clear();
        }
        sent.map_err(|e| e.context("reporting a deployment status"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::outbound::OutboundSettings;

    #[test]
    fn review_comments_fit_in_githubs_1024_characters() {
        let long = "é".repeat(2000);
        let review = github_review("production", ReleaseStatus::Rejected, Some(&long));
        let comment = review["comment"].as_str().unwrap();
        assert_eq!(comment.chars().count(), 1024);
        assert!(comment.starts_with("Rejected in Greenlight: éé") && comment.ends_with('…'));
        let short = github_review("production", ReleaseStatus::Rejected, Some("no"));
        assert_eq!(short["comment"], "Rejected in Greenlight: no");
    }

    fn app(api_url: &str) -> GithubApp {
        GithubApp::new(
            &GithubSettings {
                app_id: "12345".into(),
                private_key: include_str!("../../tests/fixtures/github-app-test.pem").into(),
                webhook_secret: "gh-secret".into(),
                api_url: api_url.into(),
            },
            Outbound::new(&OutboundSettings {
                timeout: std::time::Duration::from_secs(5),
                allow_private: false,
            })
            .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn signatures_are_checked_over_the_raw_body() {
        let app = app("https://api.github.com");
        let body = br#"{"action":"requested"}"#;
        let mut mac = Hmac::<Sha256>::new_from_slice(b"gh-secret").unwrap();
        mac.update(body);
        let hex = hex::encode(mac.finalize().into_bytes());
        assert!(app.signature_valid(body, Some(&format!("sha256={hex}"))));
        assert!(!app.signature_valid(
            b"{\"action\":\"requested\" }",
            Some(&format!("sha256={hex}"))
        ));
        for bad in [
            None,
            Some(hex.as_str()),
            Some("sha256="),
            Some("sha256=zz"),
            Some("sha1=abcd"),
        ] {
            assert!(!app.signature_valid(body, bad), "{bad:?}");
        }
    }

    #[test]
    fn callbacks_go_to_the_api_host_only() {
        let public = app("https://api.github.com");
        assert!(public.callback_allowed(
            "https://api.github.com/repos/o/r/actions/runs/1/deployment_protection_rule"
        ));
        for url in [
            "http://api.github.com/repos/o/r",
            "https://api.github.com.evil.example/repos",
            "https://evil.example/https://api.github.com/",
            "https://api.github.com:8443/repos",
            "not a url",
        ] {
            assert!(!public.callback_allowed(url), "{url}");
        }
        let enterprise = app("https://ghe.example.com/api/v3");
        assert!(enterprise.callback_allowed(
            "https://ghe.example.com/api/v3/repos/o/r/actions/runs/1/deployment_protection_rule"
        ));
        assert!(!enterprise.callback_allowed("https://ghe.example.com/elsewhere"));
    }

    fn delivery(id: i64, guid: &str, hours_ago: i64, code: i64, redelivery: bool) -> HookDelivery {
        HookDelivery {
            id,
            guid: guid.into(),
            delivered_at: Utc::now() - chrono::Duration::hours(hours_ago),
            redelivery,
            status: if code == 200 {
                "OK".into()
            } else {
                "Invalid HTTP Response: 503".into()
            },
            status_code: code,
            event: EVENT.into(),
        }
    }

    #[test]
    fn only_failed_rule_deliveries_in_the_window_are_redelivered_once_per_guid() {
        let since = Utc::now() - REDELIVERY_WINDOW;
        let mut push = delivery(9, "g-push", 1, 500, false);
        push.event = "push".into();
        let deliveries = vec![
            delivery(1, "g-failed", 5, 503, false),
            delivery(2, "g-failed", 4, 0, true),
            delivery(3, "g-fixed", 5, 500, false),
            delivery(4, "g-fixed", 4, 200, true),
            delivery(5, "g-ok", 3, 202, false),
            delivery(6, "g-old", 24 * 3 + 1, 500, false),
            push,
        ];
        // The newest failed attempt of the one guid still failing.
        assert_eq!(to_redeliver(&deliveries, since), vec![2]);
        let mut tried: Vec<HookDelivery> = (0..5)
            .map(|i| delivery(20 + i, "g-tired", 10 - i, 500, i > 0))
            .collect();
        assert_eq!(
            to_redeliver(&tried, since),
            vec![24],
            "four redeliveries so far"
        );
        tried.push(delivery(30, "g-tired", 1, 500, true));
        assert!(to_redeliver(&tried, since).is_empty(), "five: it stops");
    }

    #[test]
    fn the_next_page_is_the_link_headers_cursor() {
        let link = r#"<https://api.github.com/app/hook/deliveries?per_page=100&cursor=v1_12077215967>; rel="next", <https://api.github.com/app/hook/deliveries?per_page=100>; rel="first""#;
        assert_eq!(next_cursor(link).as_deref(), Some("v1_12077215967"));
        let last = r#"<https://api.github.com/app/hook/deliveries?per_page=100>; rel="first""#;
        assert_eq!(next_cursor(last), None);
        assert_eq!(next_cursor("garbage"), None);
    }

    #[test]
    fn the_app_jwt_is_rs256_and_verifies_with_the_public_key() {
        let token = app("https://api.github.com").app_jwt();
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(include_bytes!(
            "../../tests/fixtures/github-app-test.pub.pem"
        ))
        .unwrap();
        let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
        validation.set_required_spec_claims(&["exp", "iss", "iat"]);
        validation.set_issuer(&["12345"]);
        let claims = jsonwebtoken::decode::<serde_json::Value>(&token, &key, &validation)
            .unwrap()
            .claims;
        let (iat, exp) = (
            claims["iat"].as_i64().unwrap(),
            claims["exp"].as_i64().unwrap(),
        );
        assert!(exp - iat <= 600, "at most ten minutes");
    }
}
