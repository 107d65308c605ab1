//! Approvals from Slack: the message posted once the approvers are known,
//! clicks signed as Slack signs them, the approver's Slack email as the
//! credential, the reject modal, and the message updated on every
//! decision (from Slack or from the email link). The Slack stub checks
//! what Slack's Web API checks (the bot token, the JSON content type, each
//! method's required arguments, chat.update's channel id and ts) and
//! answers in Slack's shapes (HTTP 200, `ok` true or false).

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::both_backends;
use crate::helpers::{release_body, spawn_app_with, Backend, TestApp};

both_backends!(
    the_message_is_posted_once_the_approvers_are_known,
    an_approvers_click_is_recorded_and_the_message_updated,
    a_strangers_click_records_nothing_and_is_told_privately,
    stale_or_badly_signed_requests_are_refused,
    a_reject_opens_a_modal_and_its_comment_is_recorded,
    an_email_approval_updates_the_slack_message,
    bad_interactions_are_refused_and_record_nothing,
    a_channel_slack_refuses_is_recorded_and_not_retried,
    slack_sdk_signatures_are_accepted,
);

const BOT_TOKEN: &str = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy";
const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const CHANNEL: &str = "#releases";
/// The id Slack answers for the channel: what chat.update takes.
const CHANNEL_ID: &str = "C0123CHAN";
const TS: &str = "1733241600.000100";
/// Pinned: the SDK whose signature code the test runs.
const SLACK_SDK: &str = "3.47.0";

/// Slack users: id -> email (`users.info`'s `profile.email`).
fn users() -> HashMap<&'static str, &'static str> {
    HashMap::from([
        ("U0ANA", "Ana@Example.com"),
        ("U0BRUNO", "bruno@example.com"),
        ("U0CARLA", "carla@example.com"),
    ])
}

/// Slack's Web API, as far as Greenlight uses it.
struct SlackApi;

fn slack_ok(body: Value) -> ResponseTemplate {
    let mut body = body;
    body["ok"] = json!(true);
    ResponseTemplate::new(200).set_body_json(body)
}

fn slack_error(error: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": error}))
}

fn text_of(v: &Value) -> Option<&str> {
    v.as_str().filter(|s| !s.is_empty())
}

impl Respond for SlackApi {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let header = |name: &str| {
            request
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        if header("authorization") != format!("Bearer {BOT_TOKEN}") {
            return slack_error(if header("authorization").is_empty() {
                "not_authed"
            } else {
                "invalid_auth"
            });
        }
        let method = request.url.path().trim_start_matches("/api/").to_owned();
        if method == "users.info" {
            // A read method: its arguments in the query (or a form).
            let user = request
                .url
                .query_pairs()
                .find(|(k, _)| k == "user")
                .map(|(_, v)| v.into_owned());
            return match user {
                None => slack_error("invalid_arguments"),
                Some(user) => match users().get(user.as_str()) {
                    Some(email) => slack_ok(json!({"user": {"id": user, "is_bot": false,
                        "profile": {"email": email, "real_name": "Someone"}}})),
                    None => slack_error("user_not_found"),
                },
            };
        }
        if request.method.as_str() != "POST"
            || header("content-type") != "application/json; charset=utf-8"
        {
            return slack_error("invalid_arguments");
        }
        let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
            return slack_error("invalid_json");
        };
        match method.as_str() {
            "chat.postMessage" => {
                let Some(channel) = text_of(&body["channel"]) else {
                    return slack_error("channel_not_found");
                };
                if body["blocks"].as_array().is_none_or(Vec::is_empty)
                    && text_of(&body["text"]).is_none()
                {
                    return slack_error("no_text");
                }
                if channel != CHANNEL && channel != CHANNEL_ID {
                    return slack_error("channel_not_found");
                }
                slack_ok(
                    json!({"channel": CHANNEL_ID, "ts": TS, "message": {"text": body["text"]}}),
                )
            }
            "chat.update" => match (text_of(&body["channel"]), text_of(&body["ts"])) {
                (Some(CHANNEL_ID), Some(TS)) if body["blocks"].is_array() => {
                    slack_ok(json!({"channel": CHANNEL_ID, "ts": TS, "text": body["text"]}))
                }
                (Some(CHANNEL_ID), Some(_)) => slack_error("message_not_found"),
                (Some(_), _) => slack_error("channel_not_found"),
                _ => slack_error("invalid_arguments"),
            },
            "chat.postEphemeral" => {
                match (
                    text_of(&body["channel"]),
                    text_of(&body["user"]),
                    text_of(&body["text"]),
                ) {
                    (Some(_), Some(_), Some(_)) => {
                        slack_ok(json!({"message_ts": "1733241601.000200"}))
                    }
                    (None, _, _) => slack_error("channel_not_found"),
                    (_, None, _) => slack_error("user_not_found"),
                    _ => slack_error("no_text"),
                }
            }
            "views.open" => {
                let view = &body["view"];
                if text_of(&body["trigger_id"]).is_none() {
                    return slack_error("invalid_trigger_id");
                }
                if view["type"] != "modal"
                    || text_of(&view["title"]["text"]).is_none()
                    || !view["blocks"].is_array()
                {
                    return slack_error("invalid_arguments");
                }
                slack_ok(json!({"view": {"id": "V0MODAL", "type": "modal"}}))
            }
            _ => slack_error("unknown_method"),
        }
    }
}

async fn slack_stub() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::path_regex("^/api/"))
        .respond_with(SlackApi)
        .mount(&server)
        .await;
    server
}

async fn app_with_slack(backend: Backend, slack: &MockServer, channel: &str) -> TestApp {
    let api = format!("{}/api", slack.uri());
    spawn_app_with(
        backend,
        |env| {
            env.insert("GREENLIGHT_SLACK_BOT_TOKEN".into(), BOT_TOKEN.into());
            env.insert(
                "GREENLIGHT_SLACK_SIGNING_SECRET".into(),
                SIGNING_SECRET.into(),
            );
            env.insert("GREENLIGHT_SLACK_API_URL".into(), api);
            env.insert("GREENLIGHT_SLACK_CHANNEL".into(), channel.into());
        },
        true,
    )
    .await
}

/// The requests the stub received for one Web API method.
async fn calls(server: &MockServer, method: &str) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == format!("/api/{method}"))
        .map(|r| {
            if r.method.as_str() == "GET" {
                Value::Object(
                    r.url
                        .query_pairs()
                        .map(|(k, v)| (k.into_owned(), json!(v)))
                        .collect(),
                )
            } else {
                serde_json::from_slice(&r.body).unwrap()
            }
        })
        .collect()
}

/// Waits until a call of `method` whose body satisfies `matches` arrived
/// (a deadline, not a timing assertion); returns it.
async fn wait_for_call(
    server: &MockServer,
    method: &str,
    matches: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..300 {
        if let Some(call) = calls(server, method).await.into_iter().find(|c| matches(c)) {
            return call;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no such {method}: {:#?}", calls(server, method).await);
}

/// The buttons of the posted message, by action_id.
fn buttons(message: &Value) -> HashMap<String, Value> {
    message["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().unwrap().clone())
        .map(|e| (e["action_id"].as_str().unwrap().to_owned(), e))
        .collect()
}

/// Posts the release, waits until its message is in Slack; the message.
async fn posted(app: &TestApp, slack: &MockServer, id: &str) -> Value {
    assert_eq!(app.post_release(&release_body(id)).await.status(), 202);
    app.wait_for_event(id, "slack.posted").await;
    wait_for_call(slack, "chat.postMessage", |m| {
        m.to_string().contains(&format!("({id})"))
    })
    .await
}

fn form(payload: &Value) -> String {
    serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap()
}

fn click(user: &str, action_id: &str, value: &Value) -> String {
    form(&json!({
        "type": "block_actions",
        "user": {"id": user, "username": "someone", "team_id": "T0TEAM"},
        "api_app_id": "A0APP",
        "token": "verification-token-unused",
        "container": {"type": "message", "message_ts": TS, "channel_id": CHANNEL_ID, "is_ephemeral": false},
        "trigger_id": "12345.98765.abcd2358fdea",
        "team": {"id": "T0TEAM", "domain": "example"},
        "channel": {"id": CHANNEL_ID, "name": "releases"},
        "message": {"type": "message", "ts": TS, "text": "..."},
        "response_url": "https://hooks.slack.com/actions/T0TEAM/1/abc",
        "actions": [{"action_id": action_id, "block_id": "decision", "type": "button",
                     "value": value, "action_ts": "1733241700.000001",
                     "text": {"type": "plain_text", "text": "Approve"}}]
    }))
}

fn submit(user: &str, private_metadata: &Value, comment: Option<&str>) -> String {
    form(&json!({
        "type": "view_submission",
        "user": {"id": user, "username": "someone", "team_id": "T0TEAM"},
        "team": {"id": "T0TEAM", "domain": "example"},
        "api_app_id": "A0APP",
        "trigger_id": "12346.98765.ef01",
        "view": {"id": "V0MODAL", "type": "modal", "callback_id": "greenlight_reject",
                 "private_metadata": private_metadata,
                 "state": {"values": {"comment": {"comment": {"type": "plain_text_input", "value": comment}}}}}
    }))
}

fn sign(body: &str, timestamp: i64, secret: &str) -> String {
    greenlight::integrations::slack::signature(secret.as_bytes(), timestamp, body.as_bytes())
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Posts `body` to the route as Slack does, with these signature headers.
async fn deliver_signed(
    app: &TestApp,
    body: String,
    timestamp: i64,
    signature: &str,
) -> reqwest::Response {
    app.client
        .post(format!("{}/integrations/slack", app.address))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("X-Slack-Request-Timestamp", timestamp.to_string())
        .header("X-Slack-Signature", signature)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn deliver(app: &TestApp, body: String) -> reqwest::Response {
    let t = now();
    let signature = sign(&body, t, SIGNING_SECRET);
    deliver_signed(app, body, t, &signature).await
}

fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

fn decisions(events: &[Value]) -> usize {
    types(events)
        .iter()
        .filter(|t| t.starts_with("approval."))
        .count()
}

async fn problem(response: reqwest::Response, status: u16, slug: &str) -> Value {
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["type"],
        format!("urn:greenlight:problem:{slug}"),
        "{body}"
    );
    body
}

async fn the_message_is_posted_once_the_approvers_are_known(backend: Backend) {
    let slack = slack_stub().await;
    let app = app_with_slack(backend, &slack, CHANNEL).await;
    let mut body = release_body("s1");
    body["RequestedForEmail"] = json!("carla@example.com");
    assert_eq!(app.post_release(&body).await.status(), 202);
    app.wait_for_event("s1", "slack.posted").await;
    let message = wait_for_call(&slack, "chat.postMessage", |_| true).await;
    assert_eq!(message["channel"], CHANNEL);
    let text = message.to_string();
    for fact in [
        "Desafio-CD (s1)",
        "Devx",
        "production",
        "carla@example.com",
        "2 of 2",
        "ana@example.com: waiting",
        "bruno@example.com: waiting",
    ] {
        assert!(text.contains(fact), "{fact} in {text}");
    }
    let buttons = buttons(&message);
    let (approve, reject) = (
        &buttons["greenlight_approve"],
        &buttons["greenlight_reject"],
    );
    assert_eq!(approve["type"], "button");
    assert_eq!(approve["text"]["text"], "Approve");
    assert_eq!(reject["text"]["text"], "Reject");
    // The value names the release and carries no secret: no token of the
    // approval emails is in the message.
    let value: Value = serde_json::from_str(approve["value"].as_str().unwrap()).unwrap();
    assert_eq!(
        value,
        json!({"team_project": "Devx", "environment": "production", "release_id": "s1"})
    );
    for mail in app.wait_for_mails(2).await {
        assert!(!text.contains(&mail.token()));
    }
    let event = app.wait_for_event("s1", "slack.posted").await;
    assert_eq!(event["detail"], json!({"channel": CHANNEL_ID, "ts": TS}));
    // Once: a second poll, and the queue drained, post nothing more.
    assert_eq!(app.post_release(&body).await.status(), 200);
    app.wait_for_idle_queue().await;
    assert_eq!(calls(&slack, "chat.postMessage").await.len(), 1);
}

async fn an_approvers_click_is_recorded_and_the_message_updated(backend: Backend) {
    let slack = slack_stub().await;
    let app = app_with_slack(backend, &slack, CHANNEL).await;
    let message = posted(&app, &slack, "s2").await;
    let value = buttons(&message)["greenlight_approve"]["value"].clone();
    // Ana's Slack email differs from the approvers list in case only.
    let answer = deliver(&app, click("U0ANA", "greenlight_approve", &value)).await;
    assert_eq!(answer.status(), 200);
    let status = app.status("s2").await;
    assert_eq!(status["status"], "pending");
    assert_eq!(status["approvals"], 1);
    assert_eq!(status["approvers"][0]["email"], "ana@example.com");
    assert_eq!(status["approvers"][0]["decision"], "approved");
    let approved = app.wait_for_event("s2", "approval.approved").await;
    assert_eq!(approved["actor"], "ana@example.com");
    assert_eq!(approved["detail"]["via"], "slack");
    assert_eq!(
        calls(&slack, "users.info").await,
        vec![json!({"user": "U0ANA"})]
    );
    let update = wait_for_call(&slack, "chat.update", |u| {
        u.to_string().contains("ana@example.com: approved")
    })
    .await;
    assert_eq!(
        (update["channel"].as_str(), update["ts"].as_str()),
        (Some(CHANNEL_ID), Some(TS))
    );
    assert!(
        buttons(&update).contains_key("greenlight_approve"),
        "still pending: buttons stay"
    );
    // Bruno's click decides the release: the message says so, buttons gone.
    let answer = deliver(&app, click("U0BRUNO", "greenlight_approve", &value)).await;
    assert_eq!(answer.status(), 200);
    app.wait_for_status("s2", "approved").await;
    let last = wait_for_call(&slack, "chat.update", |u| {
        u.to_string()
            .contains("Approved by ana@example.com, bruno@example.com.")
    })
    .await;
    assert!(buttons(&last).is_empty(), "{last}");
    // Ana clicking again is told privately, and nothing changes.
    let before = app.events("s2").await.len();
    assert_eq!(
        deliver(&app, click("U0ANA", "greenlight_approve", &value))
            .await
            .status(),
        200
    );
    let told = wait_for_call(&slack, "chat.postEphemeral", |_| true).await;
    assert_eq!(told["user"], "U0ANA");
    assert!(
        told["text"]
            .as_str()
            .unwrap()
            .contains("You already approved"),
        "{told}"
    );
    assert_eq!(app.events("s2").await.len(), before);
}

async fn a_strangers_click_records_nothing_and_is_told_privately(backend: Backend) {
    let slack = slack_stub().await;
    let app = app_with_slack(backend, &slack, CHANNEL).await;
    let message = posted(&app, &slack, "s3").await;
    let value = buttons(&message)["greenlight_approve"]["value"].clone();
    let before = app.events("s3").await;
    for action in ["greenlight_approve", "greenlight_reject"] {
        let answer = deliver(&app, click("U0CARLA", action, &value)).await;
        assert_eq!(answer.status(), 200);
    }
    let told = calls(&slack, "chat.postEphemeral").await;
    assert_eq!(told.len(), 2, "{told:#?}");
    for t in &told {
        assert_eq!(
            (t["channel"].as_str(), t["user"].as_str()),
            (Some(CHANNEL_ID), Some("U0CARLA"))
        );
        assert!(
            t["text"].as_str().unwrap().contains("not an approver"),
            "{t}"
        );
    }
    assert!(
        calls(&slack, "views.open").await.is_empty(),
        "no modal for a stranger"
    );
    let status = app.status("s3").await;
    assert_eq!(
        (status["approvals"].as_i64(), status["rejections"].as_i64()),
        (Some(0), Some(0))
    );
    assert_eq!(app.events("s3").await, before);
}

async fn stale_or_badly_signed_requests_are_refused(backend: Backend) {
    let slack = slack_stub().await;
    let app = app_with_slack(backend, &slack, CHANNEL).await;
    let message = posted(&app, &slack, "s4").await;
    let value = buttons(&message)["greenlight_approve"]["value"].clone();
    let body = click("U0ANA", "greenlight_approve", &value);
    // Signed right, but six minutes old, or six minutes ahead.
    for skew in [-360, 360] {
        let t = now() + skew;
        let signature = sign(&body, t, SIGNING_SECRET);
        let refused = problem(
            deliver_signed(&app, body.clone(), t, &signature).await,
            401,
            "invalid-signature",
        )
        .await;
        assert!(
            refused["detail"].as_str().unwrap().contains("5 minutes"),
            "{refused}"
        );
    }
    // Another secret; another body under a good signature; no signature.
    let t = now();
    let wrong = sign(&body, t, "not-the-signing-secret");
    problem(
        deliver_signed(&app, body.clone(), t, &wrong).await,
        401,
        "invalid-signature",
    )
    .await;
    let good = sign(&body, t, SIGNING_SECRET);
    let tampered = click("U0BRUNO", "greenlight_approve", &value);
    problem(
        deliver_signed(&app, tampered, t, &good).await,
        401,
        "invalid-signature",
    )
    .await;
    let unsigned = app
        .client
        .post(format!("{}/integrations/slack", app.address))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    problem(unsigned, 401, "invalid-signature").await;
    // Nothing asked of Slack, nothing recorded.
    assert!(calls(&slack, "users.info").await.is_empty());
    assert_eq!(decisions(&app.events("s4").await), 0);
    assert_eq!(app.status("s4").await["approvals"], 0);
}

async fn a_reject_opens_a_modal_and_its_comment_is_recorded(backend: Backend) {
    let slack = slack_stub().await;
    let app = app_with_slack(backend, &slack, CHANNEL).await;
    let message = posted(&app, &slack, "s5").await;
    let value = buttons(&message)["greenlight_reject"]["value"].clone();
    let answer = deliver(&app, click("U0BRUNO", "greenlight_reject", &value)).await;
    assert_eq!(answer.status(), 200);
    // The click alone records nothing: it opens the modal.
    assert_eq!(decisions(&app.events("s5").await), 0);
    let opened = wait_for_call(&slack, "views.open", |_| true).await;
    assert_eq!(opened["trigger_id"], "12345.98765.abcd2358fdea");
    let view = &opened["view"];
    assert_eq!(view["callback_id"], "greenlight_reject");
    let input = view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "input")
        .expect("a comment input");
    assert_eq!(
        (
            input["block_id"].as_str(),
            input["element"]["action_id"].as_str()
        ),
        (Some("comment"), Some("comment"))
    );
    // A submission by someone else is refused inside the modal.
    let metadata = view["private_metadata"].clone();
    let stranger = deliver(&app, submit("U0CARLA", &metadata, Some("nope"))).await;
    assert_eq!(stranger.status(), 200);
    let kept_open: Value = stranger.json().await.unwrap();
    assert_eq!(kept_open["response_action"], "errors");
    assert!(kept_open["errors"]["comment"]
        .as_str()
        .unwrap()
        .contains("not an approver"));
    assert_eq!(decisions(&app.events("s5").await), 0);
    // Bruno's submission: recorded with its comment, the modal closes.
    let answer = deliver(
        &app,
        submit("U0BRUNO", &metadata, Some("not on a <Friday>")),
    )
    .await;
    assert_eq!(answer.status(), 200);
    assert!(
        answer.bytes().await.unwrap().is_empty(),
        "an empty 200 closes the modal"
    );
    let status = app.wait_for_status("s5", "rejected").await;
    assert_eq!(status["approvers"][1]["email"], "bruno@example.com");
    assert_eq!(status["approvers"][1]["comment"], "not on a <Friday>");
    let rejected = app.wait_for_event("s5", "approval.rejected").await;
    assert_eq!(rejected["actor"], "bruno@example.com");
    assert_eq!(
        rejected["detail"],
        json!({"comment": "not on a <Friday>", "via": "slack"})
    );
    let update = wait_for_call(&slack, "chat.update", |u| {
        u.to_string().contains("Rejected by bruno@example.com.")
    })
    .await;
    assert!(
        update.to_string().contains("not on a &lt;Friday&gt;"),
        "{update}"
    );
    assert!(buttons(&update).is_empty());
}

async fn an_email_approval_updates_the_slack_message(backend: Backend) {
    let slack = slack_stub().await;
    let app = app_with_slack(backend, &slack, CHANNEL).await;
    posted(&app, &slack, "s6").await;
    let mails = app.wait_for_mails(2).await;
    let ana = mails
        .iter()
        .find(|m| m.to.contains("ana@example.com"))
        .expect("Ana's email");
    assert_eq!(app.approve(&ana.token()).await.status(), 200);
    let update = wait_for_call(&slack, "chat.update", |u| {
        u.to_string().contains("ana@example.com: approved")
    })
    .await;
    assert!(
        update.to_string().contains("2 of 2 (1 approved)"),
        "{update}"
    );
    let approved = app.wait_for_event("s6", "approval.approved").await;
    assert_eq!(approved["detail"]["via"], "email");
    assert!(
        calls(&slack, "users.info").await.is_empty(),
        "Slack was not asked who anybody is"
    );
}

async fn bad_interactions_are_refused_and_record_nothing(backend: Backend) {
    let slack = slack_stub().await;
    let app = app_with_slack(backend, &slack, CHANNEL).await;
    let message = posted(&app, &slack, "s7").await;
    let value = buttons(&message)["greenlight_approve"]["value"].clone();
    let before = app.events("s7").await;
    problem(deliver(&app, String::new()).await, 400, "malformed-body").await;
    problem(
        deliver(&app, "text=hello".into()).await,
        400,
        "malformed-body",
    )
    .await;
    problem(
        deliver(&app, "payload=%7B%22type%22%3A".into()).await,
        400,
        "malformed-body",
    )
    .await;
    problem(
        deliver(&app, form(&json!({"type": "block_actions"}))).await,
        400,
        "malformed-body",
    )
    .await;
    problem(
        deliver(&app, click("U0ANA", "deploy_now", &value)).await,
        400,
        "bad-request",
    )
    .await;
    problem(
        deliver(
            &app,
            form(&json!({"type": "shortcut", "user": {"id": "U0ANA"}})),
        )
        .await,
        400,
        "bad-request",
    )
    .await;
    problem(
        deliver(
            &app,
            click("U0ANA", "greenlight_approve", &json!("not a release")),
        )
        .await,
        400,
        "malformed-body",
    )
    .await;
    let unknown = json!(
        json!({"team_project": "Devx", "environment": "production", "release_id": "nope"})
            .to_string()
    );
    problem(
        deliver(&app, click("U0ANA", "greenlight_approve", &unknown)).await,
        404,
        "release-not-found",
    )
    .await;
    let invalid = json!(
        json!({"team_project": "", "environment": "production", "release_id": "s7"}).to_string()
    );
    problem(
        deliver(&app, click("U0ANA", "greenlight_approve", &invalid)).await,
        422,
        "validation-error",
    )
    .await;
    let other_modal = form(&json!({"type": "view_submission", "user": {"id": "U0ANA"},
        "view": {"callback_id": "someone_elses", "private_metadata": ""}}));
    problem(deliver(&app, other_modal).await, 400, "bad-request").await;
    assert_eq!(app.events("s7").await, before);
    assert!(calls(&slack, "users.info").await.is_empty());
}

async fn a_channel_slack_refuses_is_recorded_and_not_retried(backend: Backend) {
    let slack = slack_stub().await;
    let app = app_with_slack(backend, &slack, "#nowhere").await;
    assert_eq!(app.post_release(&release_body("s8")).await.status(), 202);
    let failed = app.wait_for_event("s8", "slack.failed").await;
    let reason = failed["detail"]["reason"].as_str().unwrap();
    assert!(reason.contains("channel_not_found"), "{reason}");
    assert!(!reason.contains(BOT_TOKEN));
    app.wait_for_idle_queue().await;
    assert_eq!(
        calls(&slack, "chat.postMessage").await.len(),
        1,
        "a permanent error is not retried"
    );
    // The release goes on by email, and a decision asks nothing of Slack.
    let mails = app.wait_for_mails(2).await;
    assert_eq!(app.approve(&mails[0].token()).await.status(), 200);
    app.wait_for_idle_queue().await;
    assert!(calls(&slack, "chat.update").await.is_empty());
    assert_eq!(app.status("s8").await["status"], "pending");
}

/// The request signed by python-slack-sdk's own signature code: the route
/// accepts it; signed with another secret, it refuses it.
async fn slack_sdk_signatures_are_accepted(backend: Backend) {
    let sdk = crate::helpers::pypi("slack_sdk", SLACK_SDK, "slack_sdk");
    let slack = slack_stub().await;
    let app = app_with_slack(backend, &slack, CHANNEL).await;
    let message = posted(&app, &slack, "s9").await;
    let value = buttons(&message)["greenlight_approve"]["value"].clone();
    let body = click("U0ANA", "greenlight_approve", &value);
    let sdk_sign = |secret: &str, timestamp: i64| {
        let out = std::process::Command::new("python3")
            .env("PYTHONPATH", &sdk)
            .args([
                "-c",
                "import sys\nfrom slack_sdk.signature import SignatureVerifier\n\
                 print(SignatureVerifier(sys.argv[1]).generate_signature(timestamp=sys.argv[2], body=sys.stdin.read()))",
                secret,
                &timestamp.to_string(),
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(body.as_bytes())?;
                child.wait_with_output()
            })
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let t = now();
    let wrong = sdk_sign("another-apps-secret", t);
    problem(
        deliver_signed(&app, body.clone(), t, &wrong).await,
        401,
        "invalid-signature",
    )
    .await;
    assert_eq!(decisions(&app.events("s9").await), 0);
    let signature = sdk_sign(SIGNING_SECRET, t);
    assert_eq!(
        signature,
        sign(&body, t, SIGNING_SECRET),
        "the same v0 signature"
    );
    assert_eq!(
        deliver_signed(&app, body, t, &signature).await.status(),
        200
    );
    let approved = app.wait_for_event("s9", "approval.approved").await;
    assert_eq!(approved["actor"], "ana@example.com");
}

#[tokio::test]
async fn without_slack_configured_the_route_says_so() {
    let app = crate::helpers::spawn_app(Backend::Sqlite).await;
    let answer = app
        .client
        .post(format!("{}/integrations/slack", app.address))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("payload=%7B%7D")
        .send()
        .await
        .unwrap();
    let body = problem(answer, 404, "not-configured").await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("GREENLIGHT_SLACK_BOT_TOKEN"),
        "{body}"
    );
}
