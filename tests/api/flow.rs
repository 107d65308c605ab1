//! The core flow, end to end.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};
use wiremock::matchers::method;
use wiremock::{Mock, ResponseTemplate};

use crate::both_backends;
use crate::helpers::{
    mount_approvers, release_body, spawn_app, spawn_app_with, Backend, PUBLIC_URL,
};

both_backends!(
    whole_flow_ends_approved,
    encoded_words_in_a_name_are_shown_as_posted,
    emails_carry_the_release_link_and_token,
    browsers_get_a_page,
    the_approvers_page_says_who_what_and_by_when,
    a_rejection_rejects_and_closes_the_release,
    head_on_a_link_records_nothing,
    a_known_release_answers_its_status,
    a_slow_approvers_api_does_not_slow_post_release,
    concurrent_identical_posts_make_one_release_and_one_round_of_emails,
    confirm_mode_shows_buttons_and_records_on_post,
    a_release_past_its_deadline_expires,
    a_release_expires_on_schedule_without_being_read,
    concurrent_approvals_are_all_counted,
    replicas_share_one_queue_and_run_each_job_once,
);

async fn whole_flow_ends_approved(backend: Backend) {
    let app = spawn_app(backend).await;

    let response = app.post_release(&release_body("386")).await;
    assert_eq!(response.status(), 202);
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["status"], "pending");
    assert_eq!(doc["release_name"], "Desafio-CD");
    assert_eq!(doc["release_id"], "386");
    assert_eq!(doc["team_project"], "Devx");
    assert_eq!(doc["approvers"], json!([]));
    assert_eq!(doc["required_approvals"], Value::Null);

    let mails = app.wait_for_mails(2).await;
    let to: BTreeSet<_> = mails.iter().map(|m| m.to.as_str()).collect();
    assert_eq!(to, BTreeSet::from(["ana@example.com", "bruno@example.com"]));

    // The approvers API was asked about this release.
    let requests = app.approvers.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].url.path(), "/approvers/Devx/386");

    let first: Value = app.approve(&mails[0].token()).await.json().await.unwrap();
    assert_eq!(first["recorded"], true);
    assert_eq!(first["status"], "pending");
    assert_eq!(first["approvals"], 1);
    assert_eq!(first["required_approvals"], 2);

    let poll = app.post_release(&release_body("386")).await;
    assert_eq!(poll.status(), 200);
    let poll: Value = poll.json().await.unwrap();
    assert_eq!(poll["status"], "pending");
    assert_eq!(poll["approvals"], 1);

    let second = app.approve(&mails[1].token()).await;
    assert_eq!(second.status(), 200);
    let second: Value = second.json().await.unwrap();
    assert_eq!(second["status"], "approved");

    let done: Value = app
        .post_release(&release_body("386"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(done["status"], "approved");
    assert_eq!(done["approvals"], 2);
    assert!(done["decided_at"].as_str().unwrap().ends_with('Z'));
    for approver in done["approvers"].as_array().unwrap() {
        assert_eq!(approver["decision"], "approved");
        assert!(approver["decided_at"].is_string());
    }

    // Opening a link again changes nothing.
    let again = app.approve(&mails[0].token()).await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["recorded"], false);
    assert_eq!(again["approvals"], 2);
    assert_eq!(app.status("386").await["decided_at"], done["decided_at"]);
    // Decided: the scheduled expiry left the queue with the rest (once the
    // email jobs, which may still be recording their sends, are done).
    app.wait_for_idle_queue().await;
    assert_eq!(
        app.db.count("SELECT COUNT(*) FROM jobs"),
        0,
        "{}",
        app.db.dump_jobs()
    );
}

async fn emails_carry_the_release_link_and_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut body = release_body("77");
    body["ReleaseName"] = json!("Shop <script>alert(1)</script> & Co");
    assert_eq!(app.post_release(&body).await.status(), 202);
    let mails = app.wait_for_mails(2).await;
    for mail in &mails {
        let token = mail.token();
        assert!(mail
            .approval_link()
            .starts_with(&format!("{PUBLIC_URL}/approval?token=")));
        assert!(
            mail.subject.contains("Shop <script>alert(1)</script> & Co"),
            "{}",
            mail.subject
        );
        for text in [&mail.text, &mail.html] {
            assert!(text.contains(&token), "the token is in both bodies");
            assert!(text.contains("77") && text.contains("Devx"));
        }
        assert!(mail.text.contains("Shop <script>alert(1)</script> & Co"));
        // The HTML body escapes what the pipeline sent.
        assert!(!mail.html.contains("<script>"), "{}", mail.html);
        assert!(
            mail.html.contains("Shop &#60;script&#62;")
                || mail.html.contains("Shop &lt;script&gt;"),
            "{}",
            mail.html
        );
        assert!(mail.message_id.contains("greenlight"));
        // The Message-ID does not carry the token's id.
        let claims = token_claims(&token);
        let jti = claims["jti"].as_str().unwrap();
        assert!(!mail.message_id.contains(jti), "{}", mail.message_id);
        // The raw message carries no unencoded line break from user text.
        assert!(!mail.raw.contains("\r\nalert"));
    }
    assert_ne!(mails[0].token(), mails[1].token(), "one token per approver");
}

async fn browsers_get_a_page(backend: Backend) {
    let app = spawn_app(backend).await;
    app.post_release(&release_body("5")).await;
    let mails = app.wait_for_mails(2).await;
    let response = app
        .open_link(&mails[0].approval_link(), "text/html,application/xhtml+xml")
        .await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(response.headers()["referrer-policy"], "same-origin");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let page = response.text().await.unwrap();
    assert!(
        page.contains("Desafio-CD") && page.contains("approval was recorded"),
        "{page}"
    );
    assert_eq!(app.status("5").await["approvals"], 1);
}

async fn the_approvers_page_says_who_what_and_by_when(backend: Backend) {
    let app = spawn_app_with(
        backend,
        |env| {
            env.insert("GREENLIGHT_REQUIRED_APPROVALS".into(), "1".into());
        },
        false,
    )
    .await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"approvers": [
                {"name": "Ana <b>Lima</b>", "email": "ana@example.com"},
                {"name": "Bruno", "email": "bruno@example.com"}
            ]})),
        )
        .mount(&app.approvers)
        .await;
    let mut body = release_body("p7");
    body["Environment"] = json!("staging");
    body["RequestedForEmail"] = json!("carla@example.com");
    app.post_release(&body).await;
    let mails = app.wait_for_mails(2).await;
    let ana = mails.iter().find(|m| m.to == "ana@example.com").unwrap();
    let page = app
        .open_link(
            &format!("{}&decision=reject", ana.approval_link()),
            "text/html",
        )
        .await
        .text()
        .await
        .unwrap();
    for expected in [
        "staging",
        "carla@example.com",
        "0 of 1 approval needed",
        "Bruno",
        "Ana &#60;b&#62;Lima&#60;/b&#62;",
        " UTC",
        "Decide by",
    ] {
        assert!(page.contains(expected), "{expected:?} missing from {page}");
    }
    assert!(!page.contains("<b>Lima"), "names are escaped");
    assert!(
        !page.contains("<table"),
        "no table to overflow a phone's width"
    );
    assert!(
        !page.contains("T10:") && !page.contains(":00Z"),
        "no raw timestamps"
    );
}

async fn a_rejection_rejects_and_closes_the_release(backend: Backend) {
    let app = spawn_app(backend).await;
    app.post_release(&release_body("9")).await;
    let mails = app.wait_for_mails(2).await;

    // The reject link shows a form and records nothing.
    let reject_link = format!("{}&decision=reject", mails[0].approval_link());
    let form = app.open_link(&reject_link, "text/html").await;
    assert_eq!(form.status(), 200);
    let form = form.text().await.unwrap();
    assert!(
        form.contains("name=\"comment\"") && form.contains("value=\"reject\""),
        "{form}"
    );
    assert_eq!(app.status("9").await["rejections"], 0);

    let token = mails[0].token();
    let rejected = app
        .post_decision(&[
            ("token", &token),
            ("decision", "reject"),
            ("comment", "<b>not</b> today"),
        ])
        .await;
    assert_eq!(rejected.status(), 200);
    let rejected: Value = rejected.json().await.unwrap();
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(rejected["approver_decision"], "rejected");

    // The other approver comes too late: nothing is recorded.
    let late = app.approve(&mails[1].token()).await;
    assert_eq!(late.status(), 409);
    let problem: Value = late.json().await.unwrap();
    assert_eq!(problem["type"], "urn:greenlight:problem:release-decided");
    let status = app.status("9").await;
    assert_eq!(status["status"], "rejected");
    assert_eq!(status["approvals"], 0);
    assert_eq!(status["rejections"], 1);
    let comments: Vec<_> = status["approvers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["comment"].clone())
        .collect();
    assert!(comments.contains(&json!("<b>not</b> today")));

    // A changed mind is refused, and the page escapes the comment.
    let flip = app
        .post_decision(&[("token", &token), ("decision", "approve")])
        .await;
    assert_eq!(flip.status(), 409);
    let page = app
        .open_link(&reject_link, "text/html")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("&#60;b&#62;not&#60;/b&#62; today")
            || page.contains("&lt;b&gt;not&lt;/b&gt; today"),
        "{page}"
    );
    assert!(!page.contains("<b>not</b>"));
}

async fn head_on_a_link_records_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    app.post_release(&release_body("11")).await;
    let mails = app.wait_for_mails(2).await;
    let path = mails[0].approval_link().replace(PUBLIC_URL, &app.address);
    for _ in 0..3 {
        let response = app.client.head(&path).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    let bad = app
        .client
        .head(format!("{}/approval?token=nope", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 403);
    assert_eq!(app.status("11").await["approvals"], 0);
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM approvals WHERE decision IS NOT NULL"),
        0
    );
}

async fn a_known_release_answers_its_status(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.post_release(&release_body("386")).await;
    assert_eq!(created.status(), 202);
    let created: Value = created.json().await.unwrap();
    // snake_case and a numeric id: the same release, unchanged.
    let again = app
        .post_release(
            &json!({"release_name": "Desafio-CD", "release_id": 386, "team_project": "Devx"}),
        )
        .await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["release_name"], "Desafio-CD");
    assert_eq!(again["created_at"], created["created_at"]);
    // Another project with the same id is another release.
    let other = app
        .post_release(&json!({"ReleaseName": "x", "ReleaseId": "386", "TeamProject": "Ops"}))
        .await;
    assert_eq!(other.status(), 202);
    assert_eq!(app.db.count("SELECT COUNT(*) FROM releases"), 2);
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM releases WHERE release_name = 'Desafio-CD'"),
        1
    );
}

async fn a_slow_approvers_api_does_not_slow_post_release(backend: Backend) {
    let app = spawn_app_with(
        backend,
        |env| {
            // Longer than the stub's delay: the worker waits, it does not retry.
            env.insert("GREENLIGHT_HTTP_TIMEOUT".into(), "60000ms".into());
        },
        false,
    )
    .await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"approvers": ["ana@example.com"]}))
                .set_delay(Duration::from_secs(30)),
        )
        .mount(&app.approvers)
        .await;
    // A pipeline's call times out; ours must answer well within it whatever
    // the approvers API does.
    let pipeline = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    for (i, expected) in [(0, 202), (1, 200), (2, 200)] {
        let response = pipeline
            .post(format!("{}/release", app.address))
            .json(&release_body("slow"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("call {i} did not answer in time: {e}"));
        assert_eq!(response.status(), expected);
    }
    // The worker is stuck on the approvers API meanwhile: one request, not
    // answered, not retried.
    for _ in 0..100 {
        if !app.approvers.received_requests().await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.approvers.received_requests().await.unwrap().len(), 1);
    assert_eq!(app.status("slow").await["status"], "pending");
}

async fn concurrent_identical_posts_make_one_release_and_one_round_of_emails(backend: Backend) {
    // A burst of 200 waits for connections: the production default wait, not
    // the tests' short one (which only keeps teardowns quick).
    let app = spawn_app_with(
        backend,
        |env| {
            env.insert("GREENLIGHT_DB_TIMEOUT".into(), "5000ms".into());
        },
        true,
    )
    .await;
    let body = release_body("race");
    let calls = (0..200).map(|_| app.post_release(&body));
    let statuses: Vec<u16> = futures_util::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 202).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        199,
        "{statuses:?}"
    );
    assert_eq!(app.db.count("SELECT COUNT(*) FROM releases"), 1);

    app.wait_for_mails(2).await;
    app.wait_for_idle_queue().await;
    assert_eq!(app.smtp.mails().len(), 2, "one email per approver");
    assert_eq!(app.approvers.received_requests().await.unwrap().len(), 1);
    assert_eq!(app.db.count("SELECT COUNT(*) FROM approvals"), 2);
}

async fn confirm_mode_shows_buttons_and_records_on_post(backend: Backend) {
    let app = spawn_app_with(
        backend,
        |env| {
            env.insert("GREENLIGHT_APPROVAL_MODE".into(), "confirm".into());
        },
        true,
    )
    .await;
    app.post_release(&release_body("c1")).await;
    let mails = app.wait_for_mails(2).await;
    // A link scanner opening the link records nothing.
    let page = app.open_link(&mails[0].approval_link(), "text/html").await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(
        page.contains("value=\"approve\"") && page.contains("value=\"reject\""),
        "{page}"
    );
    let json: Value = app.approve(&mails[0].token()).await.json().await.unwrap();
    assert_eq!(json["recorded"], false);
    assert_eq!(app.status("c1").await["approvals"], 0);

    for mail in &mails {
        let response = app
            .post_decision(&[("token", &mail.token()), ("decision", "approve")])
            .await;
        assert_eq!(response.status(), 200);
    }
    assert_eq!(app.status("c1").await["status"], "approved");
}

async fn a_release_past_its_deadline_expires(backend: Backend) {
    let app = spawn_app(backend).await;
    app.post_release(&release_body("old")).await;
    let mails = app.wait_for_mails(2).await;
    app.approve(&mails[0].token()).await;
    // Move the deadline into the past rather than wait a week.
    app.db
        .execute("UPDATE releases SET expires_at = '2000-01-01 00:00:00'");
    let doc: Value = app
        .post_release(&release_body("old"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(doc["status"], "expired");
    assert_eq!(doc["decided_at"], "2000-01-01T00:00:00Z");
    let late = app.approve(&mails[1].token()).await;
    assert_eq!(late.status(), 409);
    assert_eq!(app.status("old").await["status"], "expired");
}

async fn a_release_expires_on_schedule_without_being_read(backend: Backend) {
    let app = spawn_app(backend).await;
    app.post_release(&release_body("sched")).await;
    let mails = app.wait_for_mails(2).await;
    // The deadline and its scheduled job moved into the past rather than
    // waiting a week; then nobody reads the release through the API.
    app.db
        .execute("UPDATE releases SET expires_at = '2000-01-01 00:00:00'");
    app.db
        .execute("UPDATE jobs SET run_at = '2000-01-01 00:00:00' WHERE kind = 'expire_release'");
    for _ in 0..100 {
        if app
            .db
            .count("SELECT COUNT(*) FROM releases WHERE status = 'expired'")
            == 1
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        app.db.count(
            "SELECT COUNT(*) FROM releases WHERE status = 'expired' AND decided_at = expires_at"
        ),
        1,
        "stored as expired, as of its deadline: {}",
        app.db.dump_jobs()
    );
    // The expiry job is gone (and the email jobs are done: a send may still
    // be recording itself, or retrying that, when the deadline moves).
    app.wait_for_idle_queue().await;
    assert_eq!(
        app.db.count("SELECT COUNT(*) FROM jobs"),
        0,
        "{}",
        app.db.dump_jobs()
    );
    // Its links stop working with it.
    assert_eq!(app.approve(&mails[0].token()).await.status(), 409);
}

async fn concurrent_approvals_are_all_counted(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}, false).await;
    let emails: Vec<String> = (0..8).map(|i| format!("a{i}@example.com")).collect();
    let refs: Vec<&str> = emails.iter().map(String::as_str).collect();
    mount_approvers(&app.approvers, &refs, Duration::ZERO).await;
    app.post_release(&release_body("many")).await;
    let mails = app.wait_for_mails(8).await;
    // All eight approvers click at the same instant.
    let clicks = mails.iter().map(|m| app.approve_owned(m.token()));
    let answers = futures_util::future::join_all(clicks).await;
    assert!(answers.iter().all(|s| *s == 200), "{answers:?}");
    let doc = app.status("many").await;
    assert_eq!(doc["approvals"], 8, "{doc}");
    assert_eq!(doc["status"], "approved");
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM approvals WHERE decision = 'approved'"),
        8
    );
}

async fn replicas_share_one_queue_and_run_each_job_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let replicas = [
        app.address.clone(),
        app.start_replica().await,
        app.start_replica().await,
    ];
    // 30 releases round-robin, and one release posted to all three at once.
    let bodies: Vec<Value> = (0..30).map(|i| release_body(&format!("r{i}"))).collect();
    let shared = release_body("shared");
    let mut posts = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        posts.push(app.post_release_to(&replicas[i % 3], body));
    }
    for replica in &replicas {
        posts.push(app.post_release_to(replica, &shared));
    }
    let created = futures_util::future::join_all(posts)
        .await
        .iter()
        .filter(|r| r.status() == 202)
        .count();
    assert_eq!(created, 31);

    app.wait_for_mails(62).await;
    app.wait_for_idle_queue().await;
    let mails = app.smtp.mails();
    assert_eq!(
        mails.len(),
        62,
        "every approver of every release emailed exactly once"
    );
    let distinct: BTreeSet<_> = mails.iter().map(|m| m.message_id.clone()).collect();
    assert_eq!(distinct.len(), 62);
    assert_eq!(
        app.approvers.received_requests().await.unwrap().len(),
        31,
        "each job ran once"
    );
}

/// A token's claims, read without checking its signature.
fn token_claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// A name that looks like an RFC 2047 encoded word is shown as posted: mail
/// clients would otherwise decode it into text nobody typed.
async fn encoded_words_in_a_name_are_shown_as_posted(backend: Backend) {
    let app = spawn_app(backend).await;
    let posted = "=?utf-8?b?QXBwcm92ZWQ6IGNsaWNrIGh0dHBzOi8vZXZpbC5leGFtcGxl?=";
    let mut body = release_body("ew");
    body["ReleaseName"] = json!(posted);
    assert_eq!(app.post_release(&body).await.status(), 202);
    for mail in app.wait_for_mails(2).await {
        assert!(mail.subject.contains(posted), "{}", mail.subject);
        assert!(!mail.subject.contains("evil.example"), "{}", mail.subject);
        assert!(!mail.raw.contains(posted), "encoded in the raw message");
    }
}
