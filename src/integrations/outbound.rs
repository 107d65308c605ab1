//! Outbound posts that tell other systems of a decision (webhooks, Azure
//! DevOps callbacks). Redirects are not followed: a receiver that moved
//! is a configuration to fix, and a redirect must not carry a credential
//! elsewhere.

use std::time::Duration;

use crate::metrics::Target;
use crate::redact::Secret;

#[derive(Clone)]
pub struct Notifier {
    http: reqwest::Client,
    webhook_secret: Option<Secret>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Notifier")
    }
}

impl Notifier {
    pub fn new(timeout: Duration, webhook_secret: Option<Secret>) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("greenlight/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            webhook_secret,
        })
    }

    pub fn webhook_secret(&self) -> Option<&[u8]> {
        self.webhook_secret.as_ref().map(|s| s.expose().as_bytes())
    }

    /// POSTs a JSON body; `Err` (worth retrying) unless the answer is 2xx.
    /// The error names no URL: it may carry credentials.
    pub async fn post(
        &self,
        target: Target,
        url: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<(), String> {
        let mut request = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let started = std::time::Instant::now();
        let answer = request.send().await;
        crate::metrics::outbound(target, started, &answer);
        let response = answer.map_err(|e| format!("unreachable: {}", describe(e)))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("answered HTTP {}", status.as_u16()))
        }
    }
}

/// reqwest's Display omits the cause; the cause is what an operator needs.
/// The URL is left out: it may carry a key in its query string or its
/// credentials, and this text becomes a release's public `reason`.
pub fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = if e.is_timeout() {
        "timed out".to_owned()
    } else {
        e.to_string()
    };
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
