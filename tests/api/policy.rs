//! The policy: a quorum of N approvers, the requester rule, the release's
//! time to live; resolved when the release is created and stored with it.

use std::time::Duration;

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{mount_approvers, release_body, spawn_app_with, Backend, TestApp};

both_backends!(
    a_quorum_of_two_out_of_three_approves,
    a_quorum_larger_than_the_list_fails_with_a_reason,
    the_requester_is_not_asked_to_approve,
    the_policy_may_let_the_requester_approve,
    a_requester_who_is_the_only_approver_fails_the_release,
    the_release_ttl_sets_the_deadline,
    a_bad_requester_is_refused,
    projects_and_environments_have_policies_of_their_own,
    undecided_approvers_get_one_reminder,
    the_first_caller_cannot_fix_a_release_name_or_requester,
);

const THREE: [&str; 3] = ["ana@example.com", "bruno@example.com", "carla@example.com"];

async fn app_with(backend: Backend, vars: &[(&str, &str)], approvers: &[&str]) -> TestApp {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let app = spawn_app_with(
        backend,
        move |env| {
            env.extend(vars);
        },
        false,
    )
    .await;
    mount_approvers(&app.approvers, approvers, Duration::ZERO).await;
    app
}

fn requested_by(id: &str, email: &str) -> Value {
    let mut body = release_body(id);
    body["RequestedForEmail"] = json!(email);
    body
}

async fn a_quorum_of_two_out_of_three_approves(backend: Backend) {
    let app = app_with(backend, &[("GREENLIGHT_REQUIRED_APPROVALS", "2")], &THREE).await;
    app.post_release(&release_body("q1")).await;
    let mails = app.wait_for_mails(3).await;
    assert_eq!(app.status("q1").await["required_approvals"], 2);
    let first: Value = app.approve(&mails[0].token()).await.json().await.unwrap();
    assert_eq!(first["status"], "pending");
    let second: Value = app.approve(&mails[1].token()).await.json().await.unwrap();
    assert_eq!(second["status"], "approved");
    assert_eq!(second["approvals"], 2);
    // The third approver is too late: the release is decided.
    assert_eq!(app.approve(&mails[2].token()).await.status(), 409);
}

async fn a_quorum_larger_than_the_list_fails_with_a_reason(backend: Backend) {
    let app = app_with(
        backend,
        &[("GREENLIGHT_REQUIRED_APPROVALS", "3")],
        &THREE[..2],
    )
    .await;
    app.post_release(&release_body("q2")).await;
    let doc = app.wait_for_status("q2", "failed").await;
    let reason = doc["reason"].as_str().unwrap();
    assert!(
        reason.contains("needs 3 approvals") && reason.contains("only 2 approvers"),
        "{reason}"
    );
    app.wait_for_idle_queue().await;
    assert!(
        app.smtp.mails().is_empty(),
        "nobody is asked for a release that cannot pass"
    );
    let types: Vec<String> = app
        .events("q2")
        .await
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        types,
        ["release.created", "approvers.fetched", "release.failed"]
    );
}

async fn the_requester_is_not_asked_to_approve(backend: Backend) {
    let app = app_with(backend, &[], &THREE[..2]).await;
    let created: Value = app
        .post_release(&requested_by("r1", "ANA@Example.com"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(created["requested_for"], "ANA@Example.com");
    let mails = app.wait_for_mails(1).await;
    app.wait_for_idle_queue().await;
    assert_eq!(app.smtp.mails().len(), 1);
    assert_eq!(mails[0].to, "bruno@example.com");
    let doc = app.status("r1").await;
    assert_eq!(doc["required_approvals"], 1);
    assert_eq!(doc["approvers"].as_array().unwrap().len(), 1);
    let excluded: Vec<Value> = app
        .events("r1")
        .await
        .into_iter()
        .filter(|e| e["type"] == "approver.excluded")
        .collect();
    assert_eq!(excluded.len(), 1);
    assert_eq!(excluded[0]["detail"]["email"], "ana@example.com");
    // Bruno alone decides.
    let done: Value = app.approve(&mails[0].token()).await.json().await.unwrap();
    assert_eq!(done["status"], "approved");
}

async fn the_policy_may_let_the_requester_approve(backend: Backend) {
    let app = app_with(
        backend,
        &[("GREENLIGHT_REQUESTER_CAN_APPROVE", "true")],
        &THREE[..2],
    )
    .await;
    app.post_release(&requested_by("r2", "ana@example.com"))
        .await;
    app.wait_for_mails(2).await;
    assert_eq!(app.status("r2").await["required_approvals"], 2);
    assert!(app
        .events("r2")
        .await
        .iter()
        .all(|e| e["type"] != "approver.excluded"));
}

async fn a_requester_who_is_the_only_approver_fails_the_release(backend: Backend) {
    let app = app_with(backend, &[], &THREE[..1]).await;
    app.post_release(&requested_by("r3", "ana@example.com"))
        .await;
    let doc = app.wait_for_status("r3", "failed").await;
    let reason = doc["reason"].as_str().unwrap();
    assert!(reason.contains("no approver is left"), "{reason}");
    assert!(reason.contains("requester"), "{reason}");
}

async fn the_release_ttl_sets_the_deadline(backend: Backend) {
    let app = app_with(backend, &[("GREENLIGHT_RELEASE_TTL", "30m")], &THREE[..1]).await;
    let doc: Value = app
        .post_release(&release_body("t1"))
        .await
        .json()
        .await
        .unwrap();
    let created =
        chrono::DateTime::parse_from_rfc3339(doc["created_at"].as_str().unwrap()).unwrap();
    let expires =
        chrono::DateTime::parse_from_rfc3339(doc["expires_at"].as_str().unwrap()).unwrap();
    let ttl = expires - created;
    assert!(
        (ttl - chrono::Duration::minutes(30)).num_seconds().abs() <= 1,
        "{ttl}"
    );
}

async fn a_bad_requester_is_refused(backend: Backend) {
    let app = app_with(backend, &[], &THREE[..1]).await;
    for bad in [
        json!("not-an-email"),
        json!(7),
        json!("a@b.c\r\nBcc: x@y.z"),
    ] {
        let mut body = release_body("b1");
        body["RequestedForEmail"] = bad.clone();
        let r = app.post_release(&body).await;
        assert_eq!(r.status(), 422, "{bad}");
        let problem: Value = r.json().await.unwrap();
        assert_eq!(problem["errors"][0]["field"], "RequestedForEmail", "{bad}");
    }
    // Empty is what Azure DevOps sends for a release nobody requested.
    let created: Value = app
        .post_release(&requested_by("b2", "  "))
        .await
        .json()
        .await
        .unwrap();
    assert!(created["requested_for"].is_null());
}

async fn projects_and_environments_have_policies_of_their_own(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("greenlight.toml");
    std::fs::write(
        &path,
        r#"
        [projects.devx]
        required_approvals = 2
        approvers = "Ana <ana@example.com>, bruno@example.com, carla@example.com"

        [projects.devx.environments.Staging]
        required_approvals = 1
        release_ttl = "4h"
        approval_mode = "confirm"
        "#,
    )
    .unwrap();
    let config = path.display().to_string();
    // The global source (the approvers API) names two other people.
    let app = app_with(
        backend,
        &[("GREENLIGHT_CONFIG", config.as_str())],
        &["dora@example.com", "ed@example.com"],
    )
    .await;
    let production: Value = app
        .post_release(&release_body("p1"))
        .await
        .json()
        .await
        .unwrap();
    let mut staging_body = release_body("p1");
    staging_body["Environment"] = json!("staging");
    let staging: Value = app.post_release(&staging_body).await.json().await.unwrap();
    let mut other = release_body("p2");
    other["TeamProject"] = json!("Other");
    app.post_release(&other).await;
    app.wait_for_mails(3 + 3 + 2).await;
    assert_eq!(app.status("p1").await["required_approvals"], 2);
    let staging_doc = app.status_in("p1", "staging").await;
    assert_eq!(staging_doc["required_approvals"], 1);
    assert_eq!(
        staging_doc["approvers"][0]["name"], "Ana",
        "the project's own list"
    );
    let ttl = |doc: &Value| {
        let at = |k: &str| chrono::DateTime::parse_from_rfc3339(doc[k].as_str().unwrap()).unwrap();
        (at("expires_at") - at("created_at")).num_minutes()
    };
    assert_eq!(ttl(&staging), 240, "the environment's own time to live");
    assert_eq!(ttl(&production), 72 * 60, "the global default");
    let other_doc = app.get_json("/releases/Other/p2").await;
    assert_eq!(
        other_doc["required_approvals"], 2,
        "every approver, globally"
    );
    assert_eq!(other_doc["approvers"][0]["email"], "dora@example.com");
    // The project's approvers API was not asked about Devx.
    let asked: Vec<String> = app
        .approvers
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.url.path().to_owned())
        .collect();
    assert_eq!(asked, ["/approvers/Other/p2"]);

    // Staging's links show buttons first; production's approve on opening.
    let mails = app.smtp.mails();
    let link_of = |subject_part: &str| {
        mails
            .iter()
            .find(|m| m.subject.contains(subject_part) && m.to.contains("ana@example.com"))
            .unwrap_or_else(|| panic!("no mail to ana for {subject_part}"))
            .token()
    };
    let opened: Value = app
        .approve(&link_of("[staging]"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(opened["recorded"], false, "{opened}");
    let opened: Value = app
        .approve(&link_of("[production]"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(opened["recorded"], true, "{opened}");
}

async fn undecided_approvers_get_one_reminder(backend: Backend) {
    let app = app_with(
        backend,
        &[("GREENLIGHT_REMINDER_AFTER", "24h")],
        &THREE[..2],
    )
    .await;
    app.post_release(&release_body("m1")).await;
    let mails = app.wait_for_mails(2).await;
    let ana = mails.iter().find(|m| m.to == "ana@example.com").unwrap();
    assert_eq!(app.approve(&ana.token()).await.status(), 200);
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM jobs WHERE kind = 'remind_approvers'"),
        1,
        "scheduled at creation"
    );
    // A day passes (the scheduled job is moved, not waited for).
    app.db
        .execute("UPDATE jobs SET run_at = '2000-01-01 00:00:00' WHERE kind = 'remind_approvers'");
    let mails = app.wait_for_mails(3).await;
    app.wait_for_idle_queue().await;
    let reminders: Vec<_> = mails
        .iter()
        .filter(|m| m.subject.starts_with("Reminder: "))
        .collect();
    assert_eq!(
        reminders.len(),
        1,
        "one reminder, to the one who has not decided"
    );
    assert_eq!(reminders[0].to, "bruno@example.com");
    assert!(reminders[0].text.contains("A reminder"));
    assert!(reminders[0].html.contains("A reminder"));
    // Its link works like the first one's.
    assert_eq!(
        reminders[0].token(),
        mails
            .iter()
            .find(|m| m.to == "bruno@example.com" && !m.subject.starts_with("Reminder"))
            .unwrap()
            .token()
    );
    let reminded: Vec<Value> = app
        .events("m1")
        .await
        .into_iter()
        .filter(|e| e["type"] == "reminder.sent")
        .collect();
    assert_eq!(reminded.len(), 1);
    assert_eq!(reminded[0]["detail"]["to"], "bruno@example.com");
    // Once: another reminder round finds nobody left to remind.
    app.db.execute(
        "INSERT INTO jobs (kind, subject, payload, max_attempts, run_at, created_at) \
         SELECT 'remind_approvers', CAST(id AS TEXT), '{\"release_pk\":' || id || '}', 3, \
                '2000-01-01 00:00:00', '2000-01-01 00:00:00' FROM releases",
    );
    let mut rounds_left = 200;
    while app
        .db
        .count("SELECT COUNT(*) FROM jobs WHERE kind = 'remind_approvers'")
        > 0
    {
        rounds_left -= 1;
        assert!(
            rounds_left > 0,
            "the second round never ran: {}",
            app.db.dump_jobs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.wait_for_idle_queue().await;
    assert_eq!(app.smtp.mails().len(), 3, "no second reminder");
    // Decided: nothing scheduled is left.
    app.approve(&reminders[0].token()).await;
    assert_eq!(
        app.db.count("SELECT COUNT(*) FROM jobs"),
        0,
        "{}",
        app.db.dump_jobs()
    );
}

/// Whoever posts first cannot pick the name approvers see, nor drop the
/// requester so that they may approve their own release: a request that
/// differs is refused and changes nothing.
async fn the_first_caller_cannot_fix_a_release_name_or_requester(backend: Backend) {
    let app = app_with(backend, &[], &THREE[..2]).await;
    let early = json!({"ReleaseName": "Docs typo fix", "ReleaseId": "500", "TeamProject": "Devx"});
    assert_eq!(app.post_release(&early).await.status(), 202);

    let real = json!({
        "ReleaseName": "Real 500: schema migration", "ReleaseId": "500",
        "TeamProject": "Devx", "RequestedForEmail": "ana@example.com",
    });
    let same_name_with_requester = json!({
        "ReleaseName": "Docs typo fix", "ReleaseId": "500",
        "TeamProject": "Devx", "RequestedForEmail": "ana@example.com",
    });
    for (body, field) in [
        (&real, "ReleaseName"),
        (&same_name_with_requester, "RequestedForEmail"),
    ] {
        let answer = app.post_release(body).await;
        assert_eq!(answer.status(), 409, "{body}");
        assert_eq!(answer.headers()["content-type"], "application/problem+json");
        let problem: Value = answer.json().await.unwrap();
        assert_eq!(problem["type"], "urn:greenlight:problem:release-differs");
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains(field), "{detail}");
    }
    // Nothing changed, and the original request still polls.
    let doc = app.status("500").await;
    assert_eq!(doc["release_name"], "Docs typo fix");
    assert!(doc["requested_for"].is_null(), "{doc}");
    assert_eq!(app.post_release(&early).await.status(), 200);

    // Created with a requester: the same one (as an address: case aside)
    // polls; none, or another, is refused.
    let with_ana = requested_by("501", "Ana@Example.com");
    assert_eq!(app.post_release(&with_ana).await.status(), 202);
    assert_eq!(
        app.post_release(&requested_by("501", "ana@example.com"))
            .await
            .status(),
        200
    );
    assert_eq!(app.post_release(&release_body("501")).await.status(), 409);
    assert_eq!(
        app.post_release(&requested_by("501", "bruno@example.com"))
            .await
            .status(),
        409
    );
    assert_eq!(app.status("501").await["requested_for"], "Ana@Example.com");
}
