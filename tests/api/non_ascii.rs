//! Every request parser fed text from beyond ASCII (multi-byte characters
//! at every length limit, right-to-left marks, combining marks, fullwidth
//! look-alikes, byte-order marks, raw non-UTF-8 bytes) in every place a
//! request carries text: path segments, query parameters, the headers
//! Greenlight reads, JSON and form bodies. The answer is always an answer,
//! never a 5xx, never a dropped connection (byte slicing in a parser
//! panics the handler, and actix drops the connection).

use serde_json::json;

use crate::both_backends;
use crate::helpers::{release_body, spawn_app, Backend, TestApp};

both_backends!(no_parser_breaks_on_text_beyond_ascii);

/// Texts chosen to split a multi-byte character wherever a parser might cut
/// by bytes: after 1, 7, 127, 128, 255, 256 and 2047 bytes, and plain.
fn texts() -> Vec<String> {
    let mut texts: Vec<String> = [
        "é",
        "🦀",
        "ééééééééé",
        "\u{202e}gnp.exe",
        "e\u{301}\u{301}\u{301}",
        "ｆｕｌｌｗｉｄｔｈ",
        "\u{feff}bom",
        "日本語のリリース",
        "%C3%A9%ZZ",
        ".\u{2024}.",
        "=?utf-8?b?w6k=?=",
        "a:b@c/d?e#f[g]",
    ]
    .map(str::to_owned)
    .to_vec();
    for bytes in [1usize, 7, 64, 127, 128, 255, 256, 2047] {
        texts.push(format!("{}é", "a".repeat(bytes)));
        texts.push(format!("{}🦀", "a".repeat(bytes)));
    }
    texts
}

fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The headers some parser of ours reads, with the value to put in them.
fn headers(text: &str) -> Vec<(&'static str, Vec<u8>)> {
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{text}:{text}"));
    let raw = text.as_bytes().to_vec();
    vec![
        ("x-api-key", raw.clone()),
        ("authorization", format!("Bearer {text}").into_bytes()),
        ("authorization", format!("Basic {basic}").into_bytes()),
        ("authorization", format!("Basic {text}").into_bytes()),
        ("origin", raw.clone()),
        ("referer", raw.clone()),
        ("x-request-id", raw.clone()),
        ("accept", raw.clone()),
        ("content-type", raw.clone()),
        ("x-hub-signature-256", format!("sha256={text}").into_bytes()),
        ("x-github-event", raw.clone()),
        (
            "planurl",
            format!("https://dev.azure.com/{text}/").into_bytes(),
        ),
        ("authtoken", raw.clone()),
        ("taskinstanceid", raw.clone()),
        // Latin-1 bytes that are not UTF-8.
        ("x-api-key", vec![0xe9, 0xff, 0x41]),
        ("origin", vec![b'h', 0xe9]),
    ]
}

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    url: String,
    headers: &[(&'static str, Vec<u8>)],
    body: Option<(&str, Vec<u8>)>,
) -> (u16, String) {
    let mut request = app.client.request(method.clone(), &url);
    for (name, value) in headers {
        let value = reqwest::header::HeaderValue::from_bytes(value).expect("a header value");
        request = request.header(*name, value);
    }
    if let Some((content_type, bytes)) = body {
        request = request.header("content-type", content_type).body(bytes);
    }
    let answer = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {url} {headers:?}: no answer: {e}"));
    let status = answer.status().as_u16();
    (status, format!("{method} {url} {headers:?}"))
}

async fn no_parser_breaks_on_text_beyond_ascii(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(app.post_release(&release_body("1")).await.status(), 202);
    let base = &app.address;
    let mut answered = 0;
    for text in texts() {
        let t = encode(&text);
        let mut gets = vec![
            format!("{base}/releases/{t}/1"),
            format!("{base}/releases/Devx/{t}"),
            format!("{base}/releases/Devx/{t}/events?environment={t}"),
            format!(
                "{base}/releases?team_project={t}&environment={t}&status={t}&limit={t}&cursor={t}"
            ),
            format!("{base}/ui?project={t}&environment={t}&status={t}&limit={t}&cursor={t}"),
            format!("{base}/ui/releases/{t}/{t}/{t}"),
            format!("{base}/approval?token={t}&decision={t}"),
            format!("{base}/{t}"),
        ];
        gets.push(format!("{base}/releases/Devx/1?environment={t}"));
        for url in gets {
            let (status, what) = send(&app, reqwest::Method::GET, url, &[], None).await;
            assert!(status < 500, "{status}: {what}");
            answered += 1;
        }
        let bodies = [
            ("/release", "application/json", {
                let mut body = release_body(&text);
                body["ReleaseName"] = json!(text);
                body["TeamProject"] = json!(text);
                body["Environment"] = json!(text);
                body["RequestedForEmail"] = json!(format!("{text}@{text}"));
                body.to_string().into_bytes()
            }),
            (
                "/approval",
                "application/json",
                json!({"token": text, "decision": text, "comment": text})
                    .to_string()
                    .into_bytes(),
            ),
            (
                "/approval",
                "application/x-www-form-urlencoded",
                format!("token={t}&decision=reject&comment={t}").into_bytes(),
            ),
            (
                "/integrations/github",
                "application/json",
                json!({"action": text, "deployment": {"sha": text}})
                    .to_string()
                    .into_bytes(),
            ),
        ];
        for (path, content_type, body) in bodies {
            let url = format!("{base}{path}");
            let (status, what) = send(
                &app,
                reqwest::Method::POST,
                url.clone(),
                &[],
                Some((content_type, body.clone())),
            )
            .await;
            assert!(status < 500, "{status}: {what}");
            // The same request with each header a parser reads.
            for header in headers(&text) {
                let (status, what) = send(
                    &app,
                    reqwest::Method::POST,
                    url.clone(),
                    &[header],
                    Some((content_type, body.clone())),
                )
                .await;
                assert!(status < 500, "{status}: {what}");
                answered += 1;
            }
        }
        for header in headers(&text) {
            let url = format!("{base}/releases/Devx/1");
            let (status, what) = send(&app, reqwest::Method::GET, url, &[header], None).await;
            assert!(status < 500, "{status}: {what}");
        }
    }
    assert!(answered > 1000, "{answered}");
    // Still serving, and the release as it was.
    assert_eq!(app.status("1").await["release_name"], "Desafio-CD");
}
