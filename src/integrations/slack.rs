//! Slack, as its Web API and its interactivity requests define it: the
//! Block Kit message a release is asked in (`chat.postMessage`, then
//! `chat.update` on every decision), the approver's email (`users.info`),
//! the reject modal (`views.open`), a private answer
//! (`chat.postEphemeral`); the `v0` signature of the requests Slack sends,
//! and the interaction payloads they carry (`block_actions`,
//! `view_submission`).
//!
//! Sources: docs.slack.dev's pages of each method, Block Kit's reference,
//! "Verifying requests from Slack", and python-slack-sdk's
//! `slack_sdk/signature` and `web/base_client.py`.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;

use super::outbound::{Outbound, OutboundError};
use crate::domain::{Decision, ReleaseStatus};
use crate::metrics::Target;

/// `action_id` of the message's buttons, and `callback_id` of the modal.
pub const APPROVE: &str = "greenlight_approve";
pub const REJECT: &str = "greenlight_reject";
/// The reject modal's comment input: its `block_id` and `action_id`.
pub const COMMENT: &str = "comment";

/// Slack refuses requests whose timestamp is further than this from now
/// (a replayed request), and so do we.
pub const MAX_SKEW_SECS: i64 = 5 * 60;

/// The Slack app's part of the configuration.
#[derive(Debug, Clone)]
pub struct SlackSettings {
    /// `xoxb-…`: the bot's token, sent as `Authorization: Bearer`.
    pub bot_token: SecretString,
    /// Signs the requests Slack sends (`X-Slack-Signature`).
    pub signing_secret: SecretString,
    /// `https://slack.com/api` (tests point it at a stub).
    pub api_url: String,
}

/// Which release a button or a modal is about: its key, no secret (the
/// clicking user's Slack email is the credential, asked of Slack).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRef {
    pub team_project: String,
    pub environment: String,
    pub release_id: String,
}

/// One approver as the message shows them.
#[derive(Debug, Clone)]
pub struct ApproverLine {
    pub email: String,
    pub decision: Option<Decision>,
    pub comment: Option<String>,
}

/// What the message says of a release.
#[derive(Debug, Clone)]
pub struct ReleaseFacts {
    pub release: ReleaseRef,
    pub release_name: String,
    pub requested_for: Option<String>,
    pub status: ReleaseStatus,
    pub required_approvals: Option<i32>,
    pub reason: Option<String>,
    pub approvers: Vec<ApproverLine>,
}

/// Slack's mrkdwn takes `&`, `<` and `>` as markup: escaped, a release
/// name cannot make a link or mention anyone.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// At most `max` characters (Block Kit's limits are in characters).
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

fn status_word(status: ReleaseStatus) -> &'static str {
    match status {
        ReleaseStatus::Pending => "pending",
        ReleaseStatus::Approved => "approved",
        ReleaseStatus::Rejected => "rejected",
        ReleaseStatus::Expired => "expired",
        ReleaseStatus::Failed => "failed",
    }
}

/// The message's `text` (notifications, screen readers) and `blocks`, as
/// `chat.postMessage` and `chat.update` take them. The buttons are there
/// while the release is pending; each approver's decision is listed as it
/// comes, and a decided release says who decided.
pub fn message(facts: &ReleaseFacts) -> Value {
    let name = escape(&facts.release_name);
    let status = status_word(facts.status);
    let approved = facts
        .approvers
        .iter()
        .filter(|a| a.decision == Some(Decision::Approved))
        .count();
    let quorum = match facts.required_approvals {
        Some(n) => format!("{n} of {}", facts.approvers.len()),
        None => "approvers not known yet".to_owned(),
    };
    let field =
        |label: &str, value: &str| json!({"type": "mrkdwn", "text": format!("*{label}*\n{value}")});
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": cut(&format!("Release approval: {}", facts.release_name), 150)}}),
        json!({"type": "section", "fields": [
            field("Release", &cut(&format!("{name} ({})", escape(&facts.release.release_id)), 1900)),
            field("Project", &cut(&escape(&facts.release.team_project), 1900)),
            field("Environment", &cut(&escape(&facts.release.environment), 1900)),
            field("Requested by", &facts.requested_for.as_deref().map_or("-".to_owned(), escape)),
            field("Quorum", &format!("{quorum} ({approved} approved)")),
            field("Status", status),
        ]}),
    ];
    if !facts.approvers.is_empty() {
        let lines: Vec<String> = facts
            .approvers
            .iter()
            .map(|a| {
                let decided = match a.decision {
                    Some(Decision::Approved) => "approved".to_owned(),
                    Some(Decision::Rejected) => match &a.comment {
                        Some(c) => format!("rejected: {}", escape(c)),
                        None => "rejected".to_owned(),
                    },
                    None => "waiting".to_owned(),
                };
                format!("• {}: {decided}", escape(&a.email))
            })
            .collect();
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&lines.join("\n"), 3000)}}));
    }
    let decided_by = |decision: Decision| {
        facts
            .approvers
            .iter()
            .filter(|a| a.decision == Some(decision))
            .map(|a| escape(&a.email))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let outcome = match facts.status {
        ReleaseStatus::Pending => None,
        ReleaseStatus::Approved => Some(format!("Approved by {}.", decided_by(Decision::Approved))),
        ReleaseStatus::Rejected => Some(format!("Rejected by {}.", decided_by(Decision::Rejected))),
        ReleaseStatus::Expired => Some("Expired: nobody decided in time.".to_owned()),
        ReleaseStatus::Failed => Some(format!(
            "Failed: {}",
            escape(facts.reason.as_deref().unwrap_or("no reason given"))
        )),
    };
    let value = serde_json::to_string(&facts.release).expect("a release key serializes");
    match &outcome {
        None => blocks.push(
            json!({"type": "actions", "block_id": "decision", "elements": [
                {"type": "button", "action_id": APPROVE, "style": "primary", "value": value,
                 "text": {"type": "plain_text", "text": "Approve"}},
                {"type": "button", "action_id": REJECT, "style": "danger", "value": value,
                 "text": {"type": "plain_text", "text": "Reject"}},
            ]}),
        ),
        Some(outcome) => blocks.push(json!({"type": "context", "elements": [
            {"type": "mrkdwn", "text": cut(outcome, 3000)}
        ]})),
    }
    let text = format!(
        "Release {} ({}) of {}, {}: {}",
        facts.release_name,
        facts.release.release_id,
        facts.release.team_project,
        facts.release.environment,
        outcome.as_deref().unwrap_or("waiting for approval")
    );
    json!({"text": cut(&escape(&text), 3000), "blocks": blocks})
}

/// The modal a Reject opens: the release, and a comment box. What the
/// submission needs comes back in `private_metadata`.
pub fn reject_modal(release: &ReleaseRef, release_name: &str, channel: Option<&str>) -> Value {
    let metadata = json!({"release": release, "channel": channel}).to_string();
    json!({
        "type": "modal",
        "callback_id": REJECT,
        "private_metadata": metadata,
        "title": {"type": "plain_text", "text": "Reject release"},
        "submit": {"type": "plain_text", "text": "Reject"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": cut(&format!(
                "Reject *{}* ({}) of {}, {}?",
                escape(release_name),
                escape(&release.release_id),
                escape(&release.team_project),
                escape(&release.environment)
            ), 3000)}},
            {"type": "input", "block_id": COMMENT, "optional": true,
             "label": {"type": "plain_text", "text": "Comment"},
             "element": {"type": "plain_text_input", "action_id": COMMENT, "multiline": true,
                         "max_length": 2000}},
        ]
    })
}

// ------------------------------------------------------------ signatures

/// Why a request is not taken as Slack's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("X-Slack-Signature or X-Slack-Request-Timestamp is missing")]
    Missing,
    #[error("X-Slack-Request-Timestamp is more than 5 minutes from now (a replay?)")]
    Stale,
    #[error("X-Slack-Signature does not match GREENLIGHT_SLACK_SIGNING_SECRET")]
    Mismatch,
}

impl SignatureError {
    /// The problem's detail.
    pub fn message(self) -> &'static str {
        match self {
            Self::Missing => "X-Slack-Signature or X-Slack-Request-Timestamp is missing",
            Self::Stale => "X-Slack-Request-Timestamp is more than 5 minutes from now (a replay?)",
            Self::Mismatch => "X-Slack-Signature does not match GREENLIGHT_SLACK_SIGNING_SECRET",
        }
    }
}

/// `v0=<hex HMAC-SHA256 of "v0:<timestamp>:<body>">`, keyed with the
/// signing secret; the timestamp within five minutes of `now` (Unix
/// seconds) either way. Compared in constant time.
pub fn verify_signature(
    secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(SignatureError::Missing);
    };
    let at: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::Mismatch)?;
    if (now - at).abs() > MAX_SKEW_SECS {
        return Err(SignatureError::Stale);
    }
    let Some(Ok(expected)) = signature.trim().strip_prefix("v0=").map(hex::decode) else {
        return Err(SignatureError::Mismatch);
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(b"v0:");
    mac.update(timestamp.trim().as_bytes());
    mac.update(b":");
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// The signature Slack would send (tests and the benchmark sign with it).
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

// ---------------------------------------------------------- interactions

/// What a user did, parsed from Slack's interaction request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interaction {
    /// A click on the message's Approve or Reject.
    Clicked {
        user_id: String,
        decision: Decision,
        release: ReleaseRef,
        /// Opens a modal, within 3 seconds of the click.
        trigger_id: String,
        /// Where a private answer goes.
        channel_id: Option<String>,
    },
    /// The reject modal, submitted.
    RejectSubmitted {
        user_id: String,
        release: ReleaseRef,
        comment: Option<String>,
        channel_id: Option<String>,
    },
}

/// Why an interaction request cannot be acted on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InteractionError {
    #[error("the body has no payload field (Slack posts payload=<json> as a form)")]
    NoPayload,
    #[error("the payload is not a Slack interaction: {0}")]
    Malformed(String),
    #[error("{0}")]
    Unsupported(String),
}

#[derive(Deserialize)]
struct Form {
    payload: Option<String>,
}

#[derive(Deserialize)]
struct Payload {
    r#type: String,
    user: User,
    trigger_id: Option<String>,
    #[serde(default)]
    actions: Vec<ActionPayload>,
    channel: Option<Id>,
    container: Option<Container>,
    view: Option<ViewPayload>,
}

#[derive(Deserialize)]
struct User {
    id: String,
}

#[derive(Deserialize)]
struct Id {
    id: String,
}

#[derive(Deserialize)]
struct Container {
    channel_id: Option<String>,
}

#[derive(Deserialize)]
struct ActionPayload {
    action_id: String,
    value: Option<String>,
}

#[derive(Deserialize)]
struct ViewPayload {
    callback_id: Option<String>,
    private_metadata: Option<String>,
    state: Option<ViewState>,
}

#[derive(Deserialize)]
struct ViewState {
    #[serde(default)]
    values: std::collections::HashMap<String, std::collections::HashMap<String, InputValue>>,
}

#[derive(Deserialize)]
struct InputValue {
    value: Option<String>,
}

#[derive(Deserialize)]
struct Metadata {
    release: ReleaseRef,
    channel: Option<String>,
}

/// Parses Slack's `application/x-www-form-urlencoded` body, `payload=<json>`.
pub fn parse_interaction(body: &[u8]) -> Result<Interaction, InteractionError> {
    let form: Form = serde_urlencoded::from_bytes(body)
        .map_err(|e| InteractionError::Malformed(format!("not a form: {e}")))?;
    let payload = form.payload.ok_or(InteractionError::NoPayload)?;
    let payload: Payload =
        serde_json::from_str(&payload).map_err(|e| InteractionError::Malformed(e.to_string()))?;
    let malformed = |what: &str| InteractionError::Malformed(what.to_owned());
    match payload.r#type.as_str() {
        "block_actions" => {
            let [action] = payload.actions.as_slice() else {
                return Err(malformed("a block_actions payload has one action"));
            };
            let decision = match action.action_id.as_str() {
                APPROVE => Decision::Approved,
                REJECT => Decision::Rejected,
                other => {
                    return Err(InteractionError::Unsupported(format!(
                    "unknown action_id {other:?}: Greenlight's buttons are {APPROVE} and {REJECT}"
                )))
                }
            };
            let release = action
                .value
                .as_deref()
                .and_then(|v| serde_json::from_str(v).ok())
                .ok_or_else(|| malformed("the button's value names no release"))?;
            Ok(Interaction::Clicked {
                user_id: payload.user.id,
                decision,
                release,
                trigger_id: payload
                    .trigger_id
                    .ok_or_else(|| malformed("a block_actions payload has a trigger_id"))?,
                channel_id: payload
                    .channel
                    .map(|c| c.id)
                    .or_else(|| payload.container.and_then(|c| c.channel_id)),
            })
        }
        "view_submission" => {
            let view = payload
                .view
                .ok_or_else(|| malformed("a view_submission payload has a view"))?;
            if view.callback_id.as_deref() != Some(REJECT) {
                return Err(InteractionError::Unsupported(format!(
                    "unknown view callback_id {:?}",
                    view.callback_id.unwrap_or_default()
                )));
            }
            let metadata: Metadata = view
                .private_metadata
                .as_deref()
                .and_then(|m| serde_json::from_str(m).ok())
                .ok_or_else(|| malformed("the view's private_metadata names no release"))?;
            let comment = view
                .state
                .and_then(|s| s.values.get(COMMENT)?.get(COMMENT)?.value.clone());
            Ok(Interaction::RejectSubmitted {
                user_id: payload.user.id,
                release: metadata.release,
                comment,
                channel_id: metadata.channel,
            })
        }
        other => Err(InteractionError::Unsupported(format!(
            "interactions of type {other:?} are not Greenlight's"
        ))),
    }
}

/// The answer to a `view_submission` that keeps the modal open with an
/// error under the comment (Slack's `response_action: errors`).
pub fn modal_error(text: &str) -> Value {
    json!({"response_action": "errors", "errors": {COMMENT: cut(text, 150)}})
}

// ------------------------------------------------------------ the Web API

/// A Web API call that failed: transient (retry) or not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SlackError {
    message: String,
    transient: bool,
}

impl SlackError {
    pub fn is_transient(&self) -> bool {
        self.transient
    }

    /// An `{"ok": false, "error": code}` answer. Slack's own outages and
    /// its rate limit are worth a retry; the rest (a revoked token, a
    /// channel the bot is not in, a deleted message) are configuration.
    fn api(method: &str, code: &str) -> Self {
        let transient = matches!(
            code,
            "ratelimited"
                | "rate_limited"
                | "internal_error"
                | "fatal_error"
                | "service_unavailable"
                | "request_timeout"
                | "team_added_to_org"
        );
        Self {
            message: format!("Slack's {method} answered {code}"),
            transient,
        }
    }

    fn outbound(method: &str, e: OutboundError) -> Self {
        Self {
            transient: e.is_transient(),
            message: e.context(&format!("calling {method}")).to_string(),
        }
    }
}

/// Where a message was posted: the channel's id (what `chat.update`
/// takes) and the message's `ts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub channel: String,
    pub ts: String,
}

/// Slack's Web API, called with the bot token.
#[derive(Clone)]
pub struct Slack {
    outbound: Outbound,
    bot_token: SecretString,
    signing_secret: SecretString,
    api_url: String,
}

impl std::fmt::Debug for Slack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Slack({})", self.api_url)
    }
}

impl Slack {
    pub fn new(settings: &SlackSettings, outbound: Outbound) -> Self {
        Self {
            outbound,
            bot_token: settings.bot_token.clone(),
            signing_secret: settings.signing_secret.clone(),
            api_url: settings.api_url.trim_end_matches('/').to_owned(),
        }
    }

    /// Checks a request Slack sent, at Unix time `now`.
    pub fn verify(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<(), SignatureError> {
        verify_signature(
            self.signing_secret.expose_secret().as_bytes(),
            timestamp,
            signature,
            body,
            now,
        )
    }

    /// POSTs a JSON body to a method; its answer if `ok`.
    async fn call(&self, method: &str, body: &Value) -> Result<Value, SlackError> {
        let bytes = serde_json::to_vec(body).expect("JSON serializes");
        let answer = self
            .outbound
            .post(Target::Slack, &format!("{}/{method}", self.api_url))
            .bearer(self.bot_token.expose_secret())
            .json_utf8(bytes)
            .read()
            .await
            .map_err(|e| SlackError::outbound(method, e))?;
        ok(method, &answer)
    }

    pub async fn post_message(&self, channel: &str, message: &Value) -> Result<Posted, SlackError> {
        let mut body = message.clone();
        body["channel"] = json!(channel);
        let answer = self.call("chat.postMessage", &body).await?;
        match (answer["channel"].as_str(), answer["ts"].as_str()) {
            (Some(channel), Some(ts)) => Ok(Posted {
                channel: channel.to_owned(),
                ts: ts.to_owned(),
            }),
            _ => Err(SlackError {
                message: "Slack's chat.postMessage answered no channel and ts".to_owned(),
                transient: false,
            }),
        }
    }

    pub async fn update_message(
        &self,
        channel: &str,
        ts: &str,
        message: &Value,
    ) -> Result<(), SlackError> {
        let mut body = message.clone();
        body["channel"] = json!(channel);
        body["ts"] = json!(ts);
        self.call("chat.update", &body).await.map(drop)
    }

    /// A message only `user` sees, in `channel`.
    pub async fn tell_privately(
        &self,
        channel: &str,
        user: &str,
        text: &str,
    ) -> Result<(), SlackError> {
        self.call(
            "chat.postEphemeral",
            &json!({"channel": channel, "user": user, "text": text}),
        )
        .await
        .map(drop)
    }

    pub async fn open_modal(&self, trigger_id: &str, view: &Value) -> Result<(), SlackError> {
        self.call(
            "views.open",
            &json!({"trigger_id": trigger_id, "view": view}),
        )
        .await
        .map(drop)
    }

    /// The user's email (`profile.email`, scope `users:read.email`); `None`
    /// if Slack shows none (a bot, or the scope missing).
    pub async fn user_email(&self, user: &str) -> Result<Option<String>, SlackError> {
        // users.info takes its arguments as a query or a form, not JSON.
        let query = serde_urlencoded::to_string([("user", user)]).expect("a form encodes");
        let answer = self
            .outbound
            .get(
                Target::Slack,
                &format!("{}/users.info?{query}", self.api_url),
            )
            .bearer(self.bot_token.expose_secret())
            .read()
            .await
            .map_err(|e| SlackError::outbound("users.info", e))?;
        let answer = ok("users.info", &answer)?;
        Ok(answer["user"]["profile"]["email"]
            .as_str()
            .map(str::to_owned))
    }
}

/// Slack answers 200 with `{"ok": false, "error": "..."}` when a call fails.
fn ok(method: &str, body: &[u8]) -> Result<Value, SlackError> {
    let answer: Value = serde_json::from_slice(body).map_err(|_| SlackError {
        message: format!("Slack's {method} answered something not JSON"),
        transient: true,
    })?;
    if answer["ok"] == json!(true) {
        Ok(answer)
    } else {
        Err(SlackError::api(
            method,
            answer["error"]
                .as_str()
                .unwrap_or("an error it did not name"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";

    #[test]
    fn signatures_are_slacks_v0() {
        // Slack's documented example (docs.slack.dev, "Verifying requests
        // from Slack"): this secret, timestamp and body give this signature.
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        assert_eq!(signature(SECRET, 1531420618, body), expected);
        assert_eq!(
            verify_signature(
                SECRET,
                Some("1531420618"),
                Some(expected),
                body,
                1531420618 + 299
            ),
            Ok(())
        );
        assert_eq!(
            verify_signature(
                SECRET,
                Some("1531420618"),
                Some(expected),
                body,
                1531420618 + 301
            ),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify_signature(SECRET, Some("1531420618"), Some(expected), b"x", 1531420618),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(SECRET, None, Some(expected), body, 1531420618),
            Err(SignatureError::Missing)
        );
    }

    fn facts(status: ReleaseStatus) -> ReleaseFacts {
        ReleaseFacts {
            release: ReleaseRef {
                team_project: "Devx".into(),
                environment: "production".into(),
                release_id: "386".into(),
            },
            release_name: "<!channel> & co".into(),
            requested_for: Some("carla@example.com".into()),
            status,
            required_approvals: Some(1),
            reason: None,
            approvers: vec![
                ApproverLine {
                    email: "ana@example.com".into(),
                    decision: Some(Decision::Approved),
                    comment: None,
                },
                ApproverLine {
                    email: "bruno@example.com".into(),
                    decision: None,
                    comment: None,
                },
            ],
        }
    }

    #[test]
    fn a_pending_release_has_both_buttons_and_a_decided_one_says_who() {
        let message_ = message(&facts(ReleaseStatus::Pending));
        let pending = message_.to_string();
        assert!(pending.contains(APPROVE) && pending.contains(REJECT));
        assert!(pending.contains("1 of 2"));
        // Markup in a name mentions nobody: escaped wherever mrkdwn is
        // read (plain_text is not).
        assert!(pending.contains("&lt;!channel&gt; &amp; co"), "{pending}");
        let mut mrkdwn = vec![message_["text"].as_str().unwrap().to_owned()];
        for block in message_["blocks"].as_array().unwrap() {
            for text in block["fields"]
                .as_array()
                .into_iter()
                .flatten()
                .chain([&block["text"]])
            {
                if text["type"] == "mrkdwn" {
                    mrkdwn.push(text["text"].as_str().unwrap().to_owned());
                }
            }
        }
        assert!(
            mrkdwn.iter().all(|t| !t.contains("<!channel>")),
            "{mrkdwn:?}"
        );
        let approved = message(&facts(ReleaseStatus::Approved)).to_string();
        assert!(!approved.contains(APPROVE));
        assert!(approved.contains("Approved by ana@example.com."));
    }

    fn form(payload: &Value) -> Vec<u8> {
        serde_urlencoded::to_string([("payload", payload.to_string())])
            .unwrap()
            .into_bytes()
    }

    #[test]
    fn interactions_parse_or_say_why_not() {
        let value = r#"{"team_project":"Devx","environment":"production","release_id":"386"}"#;
        let click = json!({"type": "block_actions", "user": {"id": "U1"}, "trigger_id": "t.1",
            "channel": {"id": "C1"}, "actions": [{"action_id": APPROVE, "value": value}]});
        assert!(matches!(
            parse_interaction(&form(&click)),
            Ok(Interaction::Clicked {
                decision: Decision::Approved,
                ..
            })
        ));
        let other = json!({"type": "block_actions", "user": {"id": "U1"}, "trigger_id": "t",
            "actions": [{"action_id": "x", "value": value}]});
        assert!(matches!(
            parse_interaction(&form(&other)),
            Err(InteractionError::Unsupported(_))
        ));
        assert_eq!(parse_interaction(b"a=b"), Err(InteractionError::NoPayload));
        assert!(matches!(
            parse_interaction(b"payload=%7Bnot"),
            Err(InteractionError::Malformed(_))
        ));
        let modal = reject_modal(
            &serde_json::from_str(value).unwrap(),
            "Desafio-CD",
            Some("C1"),
        );
        let submitted = json!({"type": "view_submission", "user": {"id": "U1"},
            "view": {"callback_id": REJECT, "private_metadata": modal["private_metadata"],
                     "state": {"values": {COMMENT: {COMMENT: {"type": "plain_text_input", "value": "no"}}}}}});
        match parse_interaction(&form(&submitted)) {
            Ok(Interaction::RejectSubmitted {
                comment,
                channel_id,
                ..
            }) => {
                assert_eq!(comment.as_deref(), Some("no"));
                assert_eq!(channel_id.as_deref(), Some("C1"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn slack_errors_are_retried_only_when_slack_is_at_fault() {
        assert!(SlackError::api("chat.update", "ratelimited").is_transient());
        assert!(SlackError::api("chat.update", "internal_error").is_transient());
        assert!(!SlackError::api("chat.update", "channel_not_found").is_transient());
        assert!(!SlackError::api("chat.update", "invalid_auth").is_transient());
        assert!(!SlackError::api("chat.update", "not_in_channel").is_transient());
    }
}
