//! The audit trail: every change to a release, in order, with its actor,
//! written with the change (a refused change leaves none), and never
//! changed afterwards.

use diesel::RunQueryDsl;
use serde_json::Value;
use wiremock::matchers::method;
use wiremock::{Mock, ResponseTemplate};

use crate::both_backends;
use crate::helpers::{release_body, spawn_app, spawn_app_with, Backend};

both_backends!(
    a_release_s_life_is_recorded_in_order,
    a_rejection_records_its_comment,
    a_failed_release_records_its_reason,
    a_refused_decision_leaves_no_event,
    events_are_never_changed,
    the_events_route_refuses_what_it_does_not_know,
);

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

async fn a_release_s_life_is_recorded_in_order(backend: Backend) {
    let app = spawn_app(backend).await;
    app.post_release(&release_body("386")).await;
    let mails = app.wait_for_mails(2).await;
    app.wait_for_idle_queue().await;
    for mail in &mails {
        app.approve(&mail.token()).await;
    }
    let trail = app.events("386").await;
    assert_eq!(
        types(&trail),
        [
            "release.created",
            "approvers.fetched",
            "email.sent",
            "email.sent",
            "approval.approved",
            "approval.approved",
            "release.approved"
        ],
        "{trail:#?}"
    );
    assert_eq!(trail[0]["detail"]["release_name"], "Desafio-CD");
    assert_eq!(
        trail[1]["detail"]["approvers"],
        serde_json::json!(["ana@example.com", "bruno@example.com"])
    );
    let sent: Vec<&str> = trail[2..4]
        .iter()
        .map(|e| e["detail"]["to"].as_str().unwrap())
        .collect();
    assert!(sent.contains(&"ana@example.com") && sent.contains(&"bruno@example.com"));
    // Who decided, in the order they clicked.
    assert_eq!(trail[4]["actor"], mails[0].to.as_str());
    assert_eq!(trail[5]["actor"], mails[1].to.as_str());
    assert!(
        trail[6]["actor"].is_null(),
        "the release is settled by the policy"
    );
    let ids: Vec<i64> = trail.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "oldest first: {ids:?}");
    assert!(trail
        .iter()
        .all(|e| e["at"].as_str().unwrap().ends_with('Z')));
}

async fn a_rejection_records_its_comment(backend: Backend) {
    let app = spawn_app(backend).await;
    app.post_release(&release_body("r1")).await;
    let mails = app.wait_for_mails(2).await;
    let token = mails[0].token();
    let r = app
        .post_decision(&[
            ("token", token.as_str()),
            ("decision", "reject"),
            ("comment", "not on a <Friday>"),
        ])
        .await;
    assert_eq!(r.status(), 200);
    let trail = app.events("r1").await;
    let rejected = trail
        .iter()
        .find(|e| e["type"] == "approval.rejected")
        .expect("the rejection");
    assert_eq!(rejected["actor"], mails[0].to.as_str());
    assert_eq!(rejected["detail"]["comment"], "not on a <Friday>");
    assert_eq!(types(&trail).last(), Some(&"release.rejected"));
}

async fn a_failed_release_records_its_reason(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}, false).await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&app.approvers)
        .await;
    app.post_release(&release_body("f1")).await;
    let doc = app.wait_for_status("f1", "failed").await;
    let trail = app.events("f1").await;
    assert_eq!(types(&trail), ["release.created", "release.failed"]);
    assert_eq!(trail[1]["detail"]["reason"], doc["reason"]);
}

async fn a_refused_decision_leaves_no_event(backend: Backend) {
    let app = spawn_app(backend).await;
    app.post_release(&release_body("x1")).await;
    let mails = app.wait_for_mails(2).await;
    app.post_decision(&[("token", mails[0].token().as_str()), ("decision", "reject")])
        .await;
    let before = app.events("x1").await.len();
    // The release is rejected: the other approver's click is refused...
    assert_eq!(app.approve(&mails[1].token()).await.status(), 409);
    // ...and a changed mind too.
    let changed = app
        .post_decision(&[
            ("token", mails[0].token().as_str()),
            ("decision", "approve"),
        ])
        .await;
    assert_eq!(changed.status(), 409);
    assert_eq!(app.events("x1").await.len(), before);
}

async fn events_are_never_changed(backend: Backend) {
    let app = spawn_app(backend).await;
    app.post_release(&release_body("e1")).await;
    app.wait_for_mails(2).await;
    let mut conn = app.db.connect();
    for sql in [
        "UPDATE events SET actor = 'mallory@example.com'",
        "DELETE FROM events",
    ] {
        let refused = match &mut conn {
            greenlight::db::DbConnection::Postgresql(c) => diesel::sql_query(sql).execute(c),
            greenlight::db::DbConnection::Sqlite(c) => diesel::sql_query(sql).execute(c),
        };
        let error = refused.expect_err(sql).to_string();
        assert!(error.contains("never changed"), "{sql}: {error}");
    }
    assert!(app.events("e1").await.len() >= 3);
}

async fn the_events_route_refuses_what_it_does_not_know(backend: Backend) {
    let app = spawn_app(backend).await;
    app.post_release(&release_body("k1")).await;
    let get = |path: &str| app.client.get(format!("{}{path}", app.address)).send();
    let unknown = get("/releases/Devx/nope/events").await.unwrap();
    assert_eq!(unknown.status(), 404);
    let other_env = get("/releases/Devx/k1/events?environment=staging")
        .await
        .unwrap();
    assert_eq!(other_env.status(), 404);
    let bad = get("/releases/Devx/k1/events?environment=").await.unwrap();
    assert_eq!(bad.status(), 422);
    let post = app
        .client
        .post(format!("{}/releases/Devx/k1/events", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);
    assert_eq!(
        app.get_json("/releases/Devx/k1/events?environment=PRODUCTION")
            .await["events"][0]["type"],
        "release.created"
    );
}
