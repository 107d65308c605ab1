//! The one HTTP client every integration calls out with (the approvers
//! source, GitHub, webhooks, Azure DevOps, Slack), and its one error. Here, once:
//! the timeout (`GREENLIGHT_HTTP_TIMEOUT`, for a whole call), the user
//! agent, redirects (none unless the caller asks; credentials never follow
//! one to another origin), the size cap of a body read, the metrics per
//! target, errors that name no URL, and the refusal of private addresses
//! for targets a caller named (`guard`).

mod guard;

use std::time::{Duration, Instant};

use percent_encoding::percent_decode_str;
use reqwest::{Method, StatusCode};

use crate::metrics::{Outcome, Target};

/// The most a read takes of an answer: the approvers list and GitHub's
/// token are a few kilobytes; anything bigger is a misconfigured URL.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

const USER_AGENT: &str = concat!("greenlight/", env!("CARGO_PKG_VERSION"));

/// The outbound client's part of the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundSettings {
    /// The longest one call may take, redirects and body included.
    pub timeout: Duration,
    /// Whether a target a caller named may be on a private address
    /// (`GREENLIGHT_OUTBOUND_ALLOW_PRIVATE`).
    pub allow_private: bool,
}

/// Cheap to clone: the connection pools are shared.
#[derive(Clone)]
pub struct Outbound {
    /// For the targets an operator configured (and, if private addresses
    /// are allowed, a caller's too).
    configured: reqwest::Client,
    /// For the targets a caller named, unless private addresses are
    /// allowed: resolving through the guard, and a pool of its own, so a
    /// connection opened for a configured target (to a private address,
    /// legitimately) is never reused for a caller's.
    guarded: Option<reqwest::Client>,
    timeout: Duration,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Outbound(timeout {:?}, private addresses for callers {})",
            self.timeout,
            if self.guarded.is_some() {
                "refused"
            } else {
                "allowed"
            }
        )
    }
}

/// The one place a `reqwest::Client` is built.
fn client(timeout: Duration, guarded: bool) -> Result<reqwest::Client, reqwest::Error> {
    let builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        // Followed by `Call::follow_redirects`, which decides what a
        // redirect may carry.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(USER_AGENT);
    if guarded {
        // Through a proxy the resolver would judge the proxy's address,
        // not the target's: a caller's target is connected to directly.
        builder.dns_resolver(guard::PublicOnly).no_proxy().build()
    } else {
        builder.build()
    }
}

impl Outbound {
    pub fn new(settings: &OutboundSettings) -> Result<Self, reqwest::Error> {
        Ok(Self {
            configured: client(settings.timeout, false)?,
            guarded: if settings.allow_private {
                None
            } else {
                Some(client(settings.timeout, true)?)
            },
            timeout: settings.timeout,
        })
    }

    pub fn get(&self, target: Target, url: &str) -> Call<'_> {
        self.call(target, Method::GET, url)
    }

    pub fn post(&self, target: Target, url: &str) -> Call<'_> {
        self.call(target, Method::POST, url)
    }

    fn call(&self, target: Target, method: Method, url: &str) -> Call<'_> {
        Call {
            outbound: self,
            target,
            method,
            url: url.to_owned(),
            headers: Vec::new(),
            body: None,
            redirects: 0,
            from_caller: false,
        }
    }
}

/// One call being described; `send` or `read` makes it.
#[must_use]
pub struct Call<'a> {
    outbound: &'a Outbound,
    target: Target,
    method: Method,
    url: String,
    headers: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
    redirects: usize,
    from_caller: bool,
}

impl Call<'_> {
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("Authorization", format!("Bearer {token}"))
    }

    /// A JSON body, as bytes (signatures are computed over these).
    pub fn json(mut self, body: Vec<u8>) -> Self {
        self.body = Some(body);
        self.header("Content-Type", "application/json")
    }

    /// A JSON body labelled with its charset, as Slack's Web API asks
    /// (without one it answers a `missing_charset` warning).
    pub fn json_utf8(mut self, body: Vec<u8>) -> Self {
        self.body = Some(body);
        self.header("Content-Type", "application/json; charset=utf-8")
    }

    /// Follows up to `max` redirects (none by default), for reads: the
    /// request is sent again as it is. Credentials (the URL's, an
    /// `Authorization` header) go only to the target's own origin, never
    /// to where a redirect leads elsewhere.
    pub fn follow_redirects(mut self, max: usize) -> Self {
        self.redirects = max;
        self
    }

    /// The target came from a caller (a request's header, an event's
    /// payload), not from the operator: unless
    /// `GREENLIGHT_OUTBOUND_ALLOW_PRIVATE` is set, it may not be a private
    /// address.
    pub fn from_caller(mut self) -> Self {
        self.from_caller = true;
        self
    }

    /// Makes the call: `Ok` on a 2xx, whose body is not read.
    pub async fn send(self) -> Result<(), OutboundError> {
        self.answer().await.map(drop)
    }

    /// Makes the call and reads a 2xx's body, at most `MAX_RESPONSE_BYTES`.
    pub async fn read(self) -> Result<Vec<u8>, OutboundError> {
        self.read_with_header("content-type")
            .await
            .map(|(body, _)| body)
    }

    /// `read`, with the value of one of the answer's headers (a `Link`
    /// that names the next page), if it is text.
    pub async fn read_with_header(
        self,
        name: &'static str,
    ) -> Result<(Vec<u8>, Option<String>), OutboundError> {
        let peer = peer(self.target);
        let mut response = self.answer().await?;
        let value = response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let too_large = || {
            OutboundError::invalid(format!(
                "{peer} answered more than {MAX_RESPONSE_BYTES} bytes"
            ))
        };
        if response
            .content_length()
            .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| OutboundError::unreachable(&format!("{peer}: "), e))?
        {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok((body, value))
    }

    /// The answer if it is a 2xx, counted in the metrics.
    async fn answer(&self) -> Result<reqwest::Response, OutboundError> {
        let started = Instant::now();
        let answer = self.exchange().await;
        crate::metrics::outbound(
            self.target,
            started,
            match &answer {
                Ok(r) => Outcome::Answered(r.status().as_u16()),
                Err(e) if e.timed_out => Outcome::TimedOut,
                Err(_) => Outcome::NoAnswer,
            },
        );
        let response = answer?;
        let status = response.status();
        if status.is_success() {
            Ok(response)
        } else {
            Err(OutboundError {
                failure: Failure::Status(status.as_u16()),
                message: format!("{} answered HTTP {}", peer(self.target), status.as_u16()),
                timed_out: false,
            })
        }
    }

    /// The request, and the redirects it may follow, within one deadline.
    async fn exchange(&self) -> Result<reqwest::Response, OutboundError> {
        let peer = peer(self.target);
        let deadline = Instant::now() + self.outbound.timeout;
        let mut url = url::Url::parse(&self.url)
            .map_err(|_| OutboundError::invalid(format!("{peer}: the target is not a URL")))?;
        let origin = url.origin();
        let credentials = take_credentials(&mut url);
        let (client, guarded) = match &self.outbound.guarded {
            Some(guarded) if self.from_caller => (guarded, true),
            _ => (&self.outbound.configured, false),
        };
        let mut redirects = 0;
        loop {
            if guarded {
                guard::check_literal(&url).map_err(|r| OutboundError::refused(peer, r))?;
            }
            let home = url.origin() == origin;
            let mut request = client
                .request(self.method.clone(), url.clone())
                .timeout(deadline.saturating_duration_since(Instant::now()));
            for (name, value) in &self.headers {
                if home || !is_credential(name) {
                    request = request.header(*name, value);
                }
            }
            if let (true, Some((user, password))) = (home, &credentials) {
                request = request.basic_auth(user, password.as_ref());
            }
            if let Some(body) = &self.body {
                request = request.body(body.clone());
            }
            let response = request.send().await.map_err(|e| match refusal(&e) {
                Some(r) => OutboundError::refused(peer, r),
                None => OutboundError::unreachable(&format!("{peer} unreachable: "), e),
            })?;
            let location = match response.headers().get(reqwest::header::LOCATION) {
                Some(l) if self.redirects > 0 && is_redirect(response.status()) => {
                    l.to_str().map_err(|_| not_http(peer))?.to_owned()
                }
                _ => return Ok(response),
            };
            if redirects == self.redirects {
                // A loop, or a chain too long: configuration, not weather.
                return Err(OutboundError::invalid(format!(
                    "{peer} redirected more than {} times",
                    self.redirects
                )));
            }
            redirects += 1;
            url = url
                .join(&location)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .ok_or_else(|| not_http(peer))?;
            // Credentials a redirect names are not ours to send anywhere.
            take_credentials(&mut url);
        }
    }
}

/// The name of a target in an error (which names no URL).
fn peer(target: Target) -> &'static str {
    match target {
        Target::Approvers => "approvers source",
        Target::Webhook => "the webhook",
        Target::AzureDevops => "Azure DevOps",
        Target::Github => "GitHub",
        Target::Slack => "Slack",
    }
}

fn not_http(peer: &str) -> OutboundError {
    OutboundError::invalid(format!("{peer} redirected to something not http(s)"))
}

/// The statuses reqwest (and browsers) follow.
fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

fn is_credential(header: &str) -> bool {
    ["authorization", "cookie", "proxy-authorization"]
        .iter()
        .any(|h| h.eq_ignore_ascii_case(header))
}

/// Removes the URL's user and password, returning them decoded.
fn take_credentials(url: &mut url::Url) -> Option<(String, Option<String>)> {
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
    let credentials = (decode(url.username()), url.password().map(decode));
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Some(credentials)
}

/// The guard's refusal, if that is why a request failed.
fn refusal(e: &reqwest::Error) -> Option<guard::Refusal> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<guard::Refusal>() {
            return Some(*r);
        }
        source = s.source();
    }
    None
}

/// What went wrong with a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No answer, or a broken one: the connection failed, timed out or
    /// broke off.
    Unreachable,
    /// An answer other than 2xx.
    Status(u16),
    /// Nothing retrying can mend: an answer too large or unreadable,
    /// redirects in circles, no usable target.
    Invalid,
    /// A target Greenlight will not call (a private address a caller
    /// named, a host other than the configured one).
    Refused,
}

/// The one error of an outbound call. Its text names the peer, never a
/// URL: a URL may carry a key or credentials, and this text becomes a
/// release's public `reason`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct OutboundError {
    failure: Failure,
    message: String,
    timed_out: bool,
}

impl OutboundError {
    /// A call that cannot succeed as it stands.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            failure: Failure::Invalid,
            message: message.into(),
            timed_out: false,
        }
    }

    /// A target refused before anything was sent.
    pub fn refused_target(message: impl Into<String>) -> Self {
        Self {
            failure: Failure::Refused,
            message: message.into(),
            timed_out: false,
        }
    }

    fn refused(peer: &str, refusal: guard::Refusal) -> Self {
        Self::refused_target(format!(
            "{peer}: refused to connect: {refusal} (a target a caller names may not be private \
             unless GREENLIGHT_OUTBOUND_ALLOW_PRIVATE=true)"
        ))
    }

    fn unreachable(prefix: &str, e: reqwest::Error) -> Self {
        Self {
            failure: Failure::Unreachable,
            timed_out: e.is_timeout(),
            message: format!("{prefix}{}", describe(e)),
        }
    }

    pub fn failure(&self) -> Failure {
        self.failure
    }

    /// Worth trying again later: no answer (timeouts, refused or broken
    /// connections), 5xx, 429 and 408. Other answers, bodies that are no
    /// use and refused targets stay as they are.
    pub fn is_transient(&self) -> bool {
        match self.failure {
            Failure::Unreachable => true,
            Failure::Status(status) => status >= 500 || status == 429 || status == 408,
            Failure::Invalid | Failure::Refused => false,
        }
    }

    /// The same error, saying what it was doing: "GitHub answered HTTP
    /// 500, asking for an installation token".
    pub fn context(mut self, doing: &str) -> Self {
        self.message = format!("{}, {doing}", self.message);
        self
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

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, Request, ResponseTemplate};

    fn outbound(allow_private: bool) -> Outbound {
        Outbound::new(&OutboundSettings {
            timeout: Duration::from_secs(5),
            allow_private,
        })
        .unwrap()
    }

    async fn answering(status: u16) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status))
            .mount(&server)
            .await;
        server
    }

    async fn received(server: &MockServer) -> Vec<Request> {
        server.received_requests().await.unwrap()
    }

    #[tokio::test]
    async fn answers_are_transient_or_permanent_by_status() {
        let http = outbound(true);
        for (status, transient) in [
            (500, true),
            (502, true),
            (503, true),
            (429, true),
            (408, true),
            (400, false),
            (401, false),
            (404, false),
            (410, false),
            (302, false), // not followed unless asked
        ] {
            let server = answering(status).await;
            let e = http
                .post(Target::AzureDevops, &server.uri())
                .send()
                .await
                .unwrap_err();
            assert_eq!(e.failure(), Failure::Status(status));
            assert_eq!(e.is_transient(), transient, "{status}");
            assert_eq!(
                e.to_string(),
                format!("Azure DevOps answered HTTP {status}")
            );
        }
        let ok = answering(204).await;
        assert_eq!(http.post(Target::Webhook, &ok.uri()).send().await, Ok(()));
    }

    #[tokio::test]
    async fn no_answer_is_transient_and_names_no_url() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = outbound(true)
            .post(
                Target::Webhook,
                &format!("http://user:pa55word@127.0.0.1:{port}/hook?key=s3cret"),
            )
            .send()
            .await
            .unwrap_err();
        assert_eq!(e.failure(), Failure::Unreachable);
        assert!(e.is_transient());
        let text = e.to_string();
        assert!(text.starts_with("the webhook unreachable: "), "{text}");
        for secret in ["pa55word", "s3cret", "127.0.0.1"] {
            assert!(!text.contains(secret), "{text}");
        }

        let slow = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
            .mount(&slow)
            .await;
        let quick = Outbound::new(&OutboundSettings {
            timeout: Duration::from_millis(300),
            allow_private: true,
        })
        .unwrap();
        let e = quick
            .get(Target::Approvers, &slow.uri())
            .read()
            .await
            .unwrap_err();
        assert!(e.is_transient());
        assert!(
            e.to_string()
                .starts_with("approvers source unreachable: timed out"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_read_stops_at_the_size_cap() {
        let server = MockServer::start().await;
        Mock::given(path("/big"))
            .respond_with(
                ResponseTemplate::new(200).set_body_bytes(vec![b'x'; MAX_RESPONSE_BYTES + 1]),
            )
            .mount(&server)
            .await;
        Mock::given(path("/fits"))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![b'x'; MAX_RESPONSE_BYTES]))
            .mount(&server)
            .await;
        let http = outbound(true);
        let e = http
            .get(Target::Approvers, &format!("{}/big", server.uri()))
            .read()
            .await
            .unwrap_err();
        assert_eq!(e.failure(), Failure::Invalid);
        assert!(!e.is_transient());
        assert_eq!(
            e.to_string(),
            format!("approvers source answered more than {MAX_RESPONSE_BYTES} bytes")
        );
        let body = http
            .get(Target::Approvers, &format!("{}/fits", server.uri()))
            .read()
            .await
            .unwrap();
        assert_eq!(body.len(), MAX_RESPONSE_BYTES);
    }

    #[tokio::test]
    async fn redirects_are_followed_only_when_asked_and_credentials_stay_home() {
        // `home` is the configured target; `elsewhere` another origin (its
        // own port) that a redirect leads to.
        let elsewhere = MockServer::start().await;
        Mock::given(path("/moved"))
            .respond_with(ResponseTemplate::new(200).set_body_string("there"))
            .mount(&elsewhere)
            .await;
        let home = MockServer::start().await;
        Mock::given(path("/start"))
            .respond_with(ResponseTemplate::new(302).insert_header("location", "/next"))
            .mount(&home)
            .await;
        Mock::given(path("/next"))
            .respond_with(
                ResponseTemplate::new(307).insert_header(
                    "location",
                    format!(
                        "{}/moved",
                        elsewhere.uri().replace("http://", "http://them:theirs@")
                    )
                    .as_str(),
                ),
            )
            .mount(&home)
            .await;
        let start = format!(
            "{}/start",
            home.uri().replace("http://", "http://me:my%20pass@")
        );
        let http = outbound(true);

        let not_followed = http
            .get(Target::Approvers, &start)
            .read()
            .await
            .unwrap_err();
        assert_eq!(not_followed.failure(), Failure::Status(302));

        let body = http
            .get(Target::Approvers, &start)
            .header("Accept", "application/json")
            .header("Cookie", "session=mine")
            .follow_redirects(5)
            .read()
            .await
            .unwrap();
        assert_eq!(body, b"there");
        let basic = format!(
            "Basic {}",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "me:my pass")
        );
        // Three times: the one not followed, then the start and its
        // same-origin redirect.
        let at_home = received(&home).await;
        assert_eq!(at_home.len(), 3);
        for request in &at_home {
            assert_eq!(request.headers["authorization"], basic.as_str());
        }
        assert_eq!(at_home[2].headers["cookie"], "session=mine");
        let away = received(&elsewhere).await;
        assert_eq!(away.len(), 1);
        assert_eq!(away[0].headers["accept"], "application/json");
        assert!(
            away[0].headers.get("authorization").is_none()
                && away[0].headers.get("cookie").is_none(),
            "no credential, ours or the redirect's, went elsewhere: {:?}",
            away[0].headers
        );
        assert_eq!(away[0].headers["user-agent"], USER_AGENT);
    }

    #[tokio::test]
    async fn a_redirect_loop_is_permanent_after_the_limit() {
        let server = MockServer::start().await;
        let location = format!("{}/loop", server.uri());
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(302).insert_header("location", location.as_str()))
            .mount(&server)
            .await;
        let e = outbound(true)
            .get(Target::Approvers, &location)
            .follow_redirects(5)
            .read()
            .await
            .unwrap_err();
        assert_eq!(e.failure(), Failure::Invalid);
        assert_eq!(
            e.to_string(),
            "approvers source redirected more than 5 times"
        );
        assert_eq!(
            received(&server).await.len(),
            6,
            "the first and five redirects"
        );
    }

    #[tokio::test]
    async fn a_callers_private_target_is_refused_before_any_request() {
        let server = answering(204).await;
        let port = server.address().port();
        let guarded = outbound(false);
        for (url, why) in [
            (
                format!("http://127.0.0.1:{port}/x"),
                "the host is a loopback address",
            ),
            (
                format!("http://[::ffff:127.0.0.1]:{port}/x"),
                "the host is a loopback address",
            ),
            // A name: refused by the resolver, when connecting.
            (
                format!("http://localhost:{port}/x"),
                "the host resolves to a loopback address",
            ),
        ] {
            let e = guarded
                .post(Target::AzureDevops, &url)
                .from_caller()
                .send()
                .await
                .unwrap_err();
            assert_eq!(e.failure(), Failure::Refused, "{url}: {e}");
            assert!(!e.is_transient());
            assert_eq!(
                e.to_string(),
                format!(
                    "Azure DevOps: refused to connect: {why} (a target a caller names may not be \
                     private unless GREENLIGHT_OUTBOUND_ALLOW_PRIVATE=true)"
                )
            );
        }
        assert!(
            received(&server).await.is_empty(),
            "nothing reached the server"
        );

        // The operator's targets are not a caller's: called, guard or not.
        let configured = format!("http://localhost:{port}/x");
        assert_eq!(
            guarded.post(Target::Webhook, &configured).send().await,
            Ok(())
        );
        // And with private addresses allowed, a caller's target is called.
        assert_eq!(
            outbound(true)
                .post(Target::AzureDevops, &configured)
                .from_caller()
                .send()
                .await,
            Ok(())
        );
        assert_eq!(received(&server).await.len(), 2);
    }

    #[tokio::test]
    async fn a_refused_connection_is_not_pooled_for_the_caller() {
        // A configured call to the same host first opens a connection; a
        // caller's call to that host must still be judged, not reuse it.
        let server = answering(204).await;
        let url = format!("http://localhost:{}/x", server.address().port());
        let http = outbound(false);
        assert_eq!(http.post(Target::Webhook, &url).send().await, Ok(()));
        let e = http
            .post(Target::AzureDevops, &url)
            .from_caller()
            .send()
            .await
            .unwrap_err();
        assert_eq!(e.failure(), Failure::Refused);
        assert_eq!(received(&server).await.len(), 1);
    }

    #[tokio::test]
    async fn headers_and_json_bodies_are_sent_as_given() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(header("content-type", "application/json"))
            .and(header("authorization", "Bearer t0ken"))
            .and(header("x-github-api-version", "2022-11-28"))
            .respond_with(ResponseTemplate::new(201).set_body_string("{}"))
            .mount(&server)
            .await;
        let body = outbound(true)
            .post(Target::Github, &server.uri())
            .bearer("t0ken")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .json(br#"{"a":1}"#.to_vec())
            .read()
            .await
            .unwrap();
        assert_eq!(body, b"{}");
        assert_eq!(received(&server).await[0].body, br#"{"a":1}"#);
    }
}
