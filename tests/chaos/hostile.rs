//! The hostile-input corpus (`corpus/*.jsonl`, written by
//! `corpus/generate.py`): every case answered as expected, no 5xx, no
//! crash, no stored row changed by a rejected request, user text escaped in
//! pages and emails.

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use greenlight::token::{ApprovalClaims, TokenKeys};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{approvers_stub, b64url, Backend, Mail, Service, SmtpServer, TestDb};
use crate::{chaos_env, report, wait_for_delivery};

const SECRET: &[u8] = b"test-secret-test-secret-test-secret!";

both_backends!(the_hostile_corpus_changes_nothing_it_should_not);

fn corpus() -> Vec<Value> {
    ["release.jsonl", "approval.jsonl", "routes.jsonl"]
        .iter()
        .flat_map(|file| {
            let path = format!("{}/tests/chaos/corpus/{file}", env!("CARGO_MANIFEST_DIR"));
            std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{path}: {e}"))
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).expect("a corpus line"))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Every token recipe the corpus names, built from real tokens.
fn recipes(
    a1: &str,
    a2: &str,
    rejector: &str,
    pending_on_decided: &str,
) -> HashMap<&'static str, String> {
    let keys = TokenKeys::new(SECRET);
    let claims = keys.verify(a2).expect("a valid token");
    let with = |edit: &dyn Fn(&mut ApprovalClaims)| {
        let mut c = claims.clone();
        edit(&mut c);
        c
    };
    let parts: Vec<&str> = a2.split('.').collect();
    let mut sig: Vec<char> = parts[2].chars().collect();
    sig[3] = if sig[3] == 'A' { 'B' } else { 'A' };
    let forged_payload = b64url(&serde_json::to_vec(&with(&|c| c.rid = "other".into())).unwrap());
    HashMap::from([
        ("valid_a1", a1.to_owned()),
        ("valid_a2", a2.to_owned()),
        ("decided_rejector", rejector.to_owned()),
        ("decided_pending_approver", pending_on_decided.to_owned()),
        ("garbage", "garbage".to_owned()),
        (
            "tampered_payload",
            format!("{}.{forged_payload}.{}", parts[0], parts[2]),
        ),
        (
            "tampered_signature",
            format!(
                "{}.{}.{}",
                parts[0],
                parts[1],
                sig.iter().collect::<String>()
            ),
        ),
        ("truncated", a2[..a2.len() - 10].to_owned()),
        (
            "alg_none",
            format!("{}.{}.", b64url(br#"{"alg":"none","typ":"JWT"}"#), parts[1]),
        ),
        (
            "hs512_same_key",
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS512),
                &claims,
                &EncodingKey::from_secret(SECRET),
            )
            .unwrap(),
        ),
        (
            "other_key",
            TokenKeys::new(b"another-secret-another-secret-another").mint(&claims),
        ),
        (
            "other_release",
            keys.mint(&with(&|c| c.rid = "other".into())),
        ),
        (
            "other_approver",
            keys.mint(&with(&|c| c.sub = "mallory@example.com".into())),
        ),
        ("extra_segment", format!("{a2}.x")),
        ("long", "a".repeat(5000)),
        ("non_ascii", "tökén".to_owned()),
        ("whitespace_inside", format!("{} {}", &a2[..20], &a2[20..])),
        (
            "expired",
            keys.mint(&with(&|c| c.exp = Utc::now().timestamp() - 60)),
        ),
        ("unknown_jti", keys.mint(&with(&|c| c.jti = "0".repeat(32)))),
    ])
}

/// Replaces `{token:<recipe>}`: percent-encoded in URLs and forms, escaped
/// in JSON.
fn substitute(text: &str, tokens: &HashMap<&str, String>, json_body: bool) -> String {
    let mut out = text.to_owned();
    while let Some(start) = out.find("{token:") {
        let end = start + out[start..].find('}').unwrap();
        let recipe = &out[start + 7..end];
        let token = tokens
            .get(recipe)
            .unwrap_or_else(|| panic!("unknown recipe {recipe}"));
        let encoded = if json_body {
            serde_json::to_string(token)
                .unwrap()
                .trim_matches('"')
                .to_owned()
        } else {
            utf8_percent_encode(token, NON_ALPHANUMERIC).to_string()
        };
        out.replace_range(start..=end, &encoded);
    }
    out
}

fn body_of(case: &Value, tokens: &HashMap<&str, String>) -> Vec<u8> {
    let json_body = case["content_type"]
        .as_str()
        .is_some_and(|c| c.contains("json"));
    if let Some(text) = case["body"].as_str() {
        substitute(text, tokens, json_body).into_bytes()
    } else if let Some(b64) = case["body_b64"].as_str() {
        decode_b64(b64)
    } else if let Some(parts) = case["body_repeat"].as_array() {
        let unit = parts[1]
            .as_str()
            .unwrap()
            .repeat(parts[2].as_u64().unwrap() as usize);
        format!(
            "{}{unit}{}",
            parts[0].as_str().unwrap(),
            parts[3].as_str().unwrap()
        )
        .into_bytes()
    } else {
        Vec::new()
    }
}

fn decode_b64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let clean: Vec<u8> = text.bytes().filter(|c| *c != b'=').collect();
    let mut out = Vec::new();
    for chunk in clean.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, c)| {
            acc | (u32::from(value(*c)) << (18 - 6 * i))
        });
        out.extend(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

/// What a rejected request must not change: releases and recorded decisions
/// (the worker's own progress, approvals appearing and emails sent, is left out).
fn fingerprint(db: &TestDb) -> String {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        row: String,
    }
    use diesel::RunQueryDsl;
    let sql = [
        "SELECT CAST(id AS TEXT) || '|' || team_project || '|' || release_id || '|' || release_name || '|' || status || '|' \
         || COALESCE(CAST(decided_at AS TEXT), '') AS row FROM releases ORDER BY id",
        "SELECT CAST(id AS TEXT) || '|' || decision || '|' || COALESCE(comment, '') || '|' || CAST(decided_at AS TEXT) AS row \
         FROM approvals WHERE decision IS NOT NULL ORDER BY id",
    ];
    let mut out = String::new();
    for q in sql {
        let rows: Vec<Row> = match &mut db.connect() {
            greenlight::db::DbConnection::Postgresql(c) => diesel::sql_query(q).load(c),
            greenlight::db::DbConnection::Sqlite(c) => diesel::sql_query(q).load(c),
        }
        .unwrap();
        for r in rows {
            out.push_str(&r.row);
            out.push('\n');
        }
    }
    out
}

async fn post_json(client: &reqwest::Client, url: String, body: Value) -> reqwest::Response {
    client
        .post(url)
        .header("accept", "application/json")
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn mails_of(smtp: &SmtpServer, release_id: &str) -> Vec<Mail> {
    smtp.mails()
        .into_iter()
        .filter(|m| m.subject.contains(&format!("#{release_id})")))
        .collect()
}

async fn the_hostile_corpus_changes_nothing_it_should_not(backend: Backend) {
    let db = TestDb::new(backend);
    let smtp = SmtpServer::start();
    let approvers = approvers_stub(&["a1@example.com", "a2@example.com"], Duration::ZERO).await;
    let env = chaos_env(&db, smtp.port, &approvers);
    let service = Service::start(&env).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = &service.address;

    // A pending release (tokens a1, a2) and a rejected one.
    for id in ["base", "decided"] {
        let r = post_json(
            &client,
            format!("{base}/release"),
            json!({"ReleaseName": id, "ReleaseId": id, "TeamProject": "Hostile"}),
        )
        .await;
        assert_eq!(r.status(), 202);
    }
    wait_for_delivery(&db, &smtp, 4, Duration::from_secs(30)).await;
    let token_of = |id: &str, to: &str| {
        mails_of(&smtp, id)
            .into_iter()
            .find(|m| m.to == to)
            .unwrap()
            .token()
    };
    let (a1, a2) = (
        token_of("base", "a1@example.com"),
        token_of("base", "a2@example.com"),
    );
    let (rejector, pending) = (
        token_of("decided", "a1@example.com"),
        token_of("decided", "a2@example.com"),
    );
    let r = post_json(
        &client,
        format!("{base}/approval"),
        json!({"token": rejector, "decision": "reject", "comment": "no"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let tokens = recipes(&a1, &a2, &rejector, &pending);

    let cases = corpus();
    let (mut ok, mut client_errors, mut server_errors, mut rows_changed) = (0, 0, 0, 0);
    let mut mismatches = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let method =
            reqwest::Method::from_bytes(case["method"].as_str().unwrap().as_bytes()).unwrap();
        let path = substitute(case["path"].as_str().unwrap(), &tokens, false);
        let mut request = client
            .request(method, format!("{base}{path}"))
            .body(body_of(case, &tokens));
        if let Some(ct) = case["content_type"].as_str().filter(|c| !c.is_empty()) {
            request = request.header("content-type", ct);
        }
        if let Some(accept) = case["accept"].as_str() {
            request = request.header("accept", accept);
        }
        let before = fingerprint(&db);
        let status = match request.send().await {
            Ok(r) => r.status().as_u16(),
            Err(e) => panic!("{name}: no answer: {e}"),
        };
        match status {
            200..=299 => ok += 1,
            400..=499 => {
                client_errors += 1;
                if fingerprint(&db) != before {
                    rows_changed += 1;
                    mismatches.push(format!("{name}: a {status} changed stored rows"));
                }
            }
            _ => server_errors += 1,
        }
        let expected = &case["expect"];
        let as_expected = match expected.as_u64() {
            Some(code) => u64::from(status) == code,
            None => (200..300).contains(&status),
        };
        if !as_expected {
            mismatches.push(format!("{name}: expected {expected}, got {status}"));
        }
        if let (Some(stored), true) = (case["check_name"].as_str(), (200..300).contains(&status)) {
            let body: Value = serde_json::from_slice(&body_of(case, &tokens)).unwrap();
            let url = format!(
                "{base}/releases/Hostile/{}",
                utf8_percent_encode(body["ReleaseId"].as_str().unwrap(), NON_ALPHANUMERIC)
            );
            let doc: Value = client.get(url).send().await.unwrap().json().await.unwrap();
            if doc["release_name"] != stored.trim() {
                mismatches.push(format!("{name}: stored as {}", doc["release_name"]));
            }
        }
    }

    // User text in emails and pages: escaped, no header injection.
    let releases = db.count("SELECT COUNT(*) FROM releases") as usize;
    wait_for_delivery(&db, &smtp, releases * 2, Duration::from_secs(60)).await;
    let mails = smtp.mails();
    // Escaped markup is harmless text; only a raw tag is a defect.
    let markup = ["<script", "<img", "<svg"];
    let unescaped_mail = mails
        .iter()
        .filter(|m| {
            markup.iter().any(|t| m.html.contains(t))
                || m.raw.lines().any(|l| l.starts_with("Bcc:"))
        })
        .count();
    let mut unescaped_pages = 0;
    for mail in mails.iter().filter(|m| {
        m.text.contains("<script") || m.text.contains("<img") || m.text.contains("<svg")
    }) {
        let page = client
            .get(format!(
                "{base}/approval?token={}&decision=reject",
                mail.token()
            ))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        unescaped_pages += usize::from(markup.iter().any(|t| page.contains(t)));
    }
    let alive = reqwest::get(format!("{base}/healthz"))
        .await
        .is_ok_and(|r| r.status() == 200);
    let panics = crate::panicked(&service.output());
    report(
        "hostile_corpus",
        &[
            ("backend", format!("{backend:?}")),
            ("cases", cases.len().to_string()),
            ("answered_2xx", ok.to_string()),
            ("answered_4xx", client_errors.to_string()),
            ("answered_5xx", server_errors.to_string()),
            ("not_as_expected", mismatches.len().to_string()),
            ("rows_changed_by_rejected", rows_changed.to_string()),
            ("emails_checked", mails.len().to_string()),
            ("unescaped_in_mail", unescaped_mail.to_string()),
            ("unescaped_in_pages", unescaped_pages.to_string()),
            ("crashes", (usize::from(!alive) + panics).to_string()),
        ],
    );
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    assert_eq!(server_errors, 0);
    assert_eq!(rows_changed, 0);
    assert_eq!(unescaped_mail + unescaped_pages, 0);
    assert!(alive && panics == 0);
}
