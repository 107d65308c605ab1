//! `/approval` refuses every bad token and bad decision with a clear 4xx,
//! and none of them records anything.

use chrono::{Duration, Utc};
use greenlight::token::{ApprovalClaims, TokenKeys};
use serde_json::Value;

use crate::both_backends;
use crate::helpers::{b64url, release_body, spawn_app, Backend, TestApp};

const TEST_SECRET: &[u8] = b"test-secret-test-secret-test-secret!";

both_backends!(
    bad_tokens_are_refused_and_record_nothing,
    bad_decisions_are_refused
);

async fn expect_problem(response: reqwest::Response, status: u16, kind: &str) {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["type"],
        format!("urn:greenlight:problem:{kind}"),
        "{body}"
    );
}

/// Decodes the claims of a real token (to forge variants of it).
fn claims_of(token: &str) -> ApprovalClaims {
    TokenKeys::new(TEST_SECRET)
        .verify(token)
        .expect("a valid token")
}

async fn ready(app: &TestApp) -> Vec<String> {
    assert_eq!(app.post_release(&release_body("t")).await.status(), 202);
    app.wait_for_mails(2)
        .await
        .iter()
        .map(|m| m.token())
        .collect()
}

async fn bad_tokens_are_refused_and_record_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let tokens = ready(&app).await;
    let real = claims_of(&tokens[0]);
    let keys = TokenKeys::new(TEST_SECRET);
    let now = Utc::now().naive_utc();

    // Missing or empty token.
    for url in ["/approval", "/approval?token=", "/approval?foo=bar"] {
        let response = app
            .client
            .get(format!("{}{url}", app.address))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        expect_problem(response, 422, "validation-error").await;
    }
    let bad_query = app
        .client
        .get(format!("{}/approval?token=%zz", app.address))
        .send()
        .await
        .unwrap();
    assert!(bad_query.status().is_client_error());

    // Garbage and tampering.
    let mut parts: Vec<String> = tokens[0].split('.').map(str::to_owned).collect();
    let mut forged = real.clone();
    forged.rid = "other".to_owned();
    parts[1] = b64url(&serde_json::to_vec(&forged).unwrap());
    let tampered = parts.join(".");
    let alg_none = format!(
        "{}.{}.",
        b64url(br#"{"alg":"none","typ":"JWT"}"#),
        b64url(&serde_json::to_vec(&real).unwrap())
    );
    let other_key = TokenKeys::new(b"another-secret-another-secret-another").mint(&real);
    // Our secret under another HMAC, a header that asks for RSA, and key
    // ids that name a file, nothing, or a key we do not hold.
    let with_header = |header: jsonwebtoken::Header| {
        jsonwebtoken::encode(
            &header,
            &real,
            &jsonwebtoken::EncodingKey::from_secret(TEST_SECRET),
        )
        .unwrap()
    };
    let hs384 = with_header(jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS384));
    let hs512 = with_header(jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512));
    let rs256_header = format!(
        "{}.{}.{}",
        b64url(br#"{"alg":"RS256","typ":"JWT"}"#),
        b64url(&serde_json::to_vec(&real).unwrap()),
        tokens[0].rsplit('.').next().unwrap()
    );
    let kid = |kid: &str| {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some(kid.to_owned());
        with_header(header)
    };
    let other_kid = TokenKeys::new(b"another-secret-another-secret-another")
        .mint(&real)
        .split('.')
        .next()
        .map(|h| {
            let signed_with_ours = keys.mint(&real);
            let mut parts: Vec<&str> = signed_with_ours.split('.').collect();
            parts[0] = h;
            parts.join(".")
        })
        .unwrap();
    let (kid_file, kid_empty) = (kid("/etc/passwd"), kid(""));
    for token in [
        "garbage",
        "a.b.c",
        tampered.as_str(),
        alg_none.as_str(),
        other_key.as_str(),
        hs384.as_str(),
        hs512.as_str(),
        rs256_header.as_str(),
        kid_file.as_str(),
        kid_empty.as_str(),
        other_kid.as_str(),
    ] {
        expect_problem(app.approve(token).await, 403, "invalid-token").await;
    }

    // Signed with our key, but expired.
    let mut expired = real.clone();
    expired.exp = (now - Duration::minutes(1)).and_utc().timestamp();
    expect_problem(
        app.approve(&keys.mint(&expired)).await,
        410,
        "token-expired",
    )
    .await;

    // Signed with our key, for an approval request that does not exist.
    let mut unknown = real.clone();
    unknown.jti = "0".repeat(32);
    expect_problem(
        app.approve(&keys.mint(&unknown)).await,
        404,
        "unknown-approval",
    )
    .await;

    // Signed with our key, naming another approver or release than the
    // request it points at.
    let mut other_approver = real.clone();
    other_approver.sub = "mallory@example.com".to_owned();
    expect_problem(
        app.approve(&keys.mint(&other_approver)).await,
        403,
        "invalid-token",
    )
    .await;
    let mut other_release = real.clone();
    other_release.rid = "387".to_owned();
    expect_problem(
        app.approve(&keys.mint(&other_release)).await,
        403,
        "invalid-token",
    )
    .await;

    // A browser gets the same refusal as a page.
    let page = app
        .client
        .get(format!("{}/approval?token=garbage", app.address))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 403);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(page.text().await.unwrap().contains("Invalid approval link"));

    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM approvals WHERE decision IS NOT NULL"),
        0
    );
    assert_eq!(app.status("t").await["status"], "pending");
    // The real token still works after all that.
    let ok: Value = app.approve(&tokens[0]).await.json().await.unwrap();
    assert_eq!(ok["recorded"], true);
}

async fn bad_decisions_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let tokens = ready(&app).await;
    let token = tokens[0].as_str();
    let url = format!("{}/approval", app.address);

    let cases: Vec<(Vec<(&str, String)>, &str)> = vec![
        (vec![("token", token.to_owned())], "validation-error"),
        (
            vec![
                ("token", token.to_owned()),
                ("decision", "maybe".to_owned()),
            ],
            "validation-error",
        ),
        (vec![("decision", "approve".to_owned())], "validation-error"),
        (
            vec![
                ("token", token.to_owned()),
                ("decision", "reject".to_owned()),
                ("comment", "x".repeat(2001)),
            ],
            "validation-error",
        ),
        (
            vec![
                ("token", token.to_owned()),
                ("decision", "reject".to_owned()),
                ("comment", "a\u{7}b".to_owned()),
            ],
            "validation-error",
        ),
    ];
    for (form, kind) in cases {
        let response = app
            .client
            .post(&url)
            .header("accept", "application/json")
            .form(&form)
            .send()
            .await
            .unwrap();
        expect_problem(response, 422, kind).await;
    }
    let malformed = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body("{\"token\": ")
        .send()
        .await
        .unwrap();
    expect_problem(malformed, 400, "malformed-body").await;
    let wrong_types = app
        .client
        .post(&url)
        .json(&serde_json::json!({"token": 5, "decision": ["approve"]}))
        .send()
        .await
        .unwrap();
    expect_problem(wrong_types, 400, "malformed-body").await;
    let link_decision = app
        .client
        .get(format!("{url}?token={token}&decision=maybe"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    expect_problem(link_decision, 400, "bad-request").await;
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM approvals WHERE decision IS NOT NULL"),
        0
    );

    // JSON decisions work too.
    let json = app
        .client
        .post(&url)
        .json(&serde_json::json!({"token": token, "decision": "reject", "comment": "no"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 200);
    assert_eq!(app.status("t").await["status"], "rejected");
}
