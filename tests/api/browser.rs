//! The approver's pages in a real browser (Debian's Chromium, driven over
//! WebDriver by `chromedriver`, which `.ci/run` installs): the emailed
//! reject link at 320 px wide, nothing wider than the screen, a comment
//! typed and Reject pressed, the final page, and the status document.
//!
//! Without `chromedriver` on the PATH the test says so and passes, unless
//! `GREENLIGHT_REQUIRE_BROWSER=1` (CI), which makes that a failure.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{free_port, release_body, spawn_app, Backend, PUBLIC_URL};

both_backends!(an_approver_rejects_from_a_phone_sized_browser);

/// The W3C name of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Driver {
    child: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

impl Driver {
    async fn start() -> Option<Self> {
        let found = Command::new("chromedriver")
            .arg("--version")
            .output()
            .is_ok();
        if !found {
            assert!(
                std::env::var("GREENLIGHT_REQUIRE_BROWSER").as_deref() != Ok("1"),
                "chromedriver is required (GREENLIGHT_REQUIRE_BROWSER=1) and not installed"
            );
            eprintln!("WARNING: chromedriver not installed: the browser test did not run");
            return None;
        }
        let port = free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if http.get(format!("{base}/status")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let binary = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .unwrap_or("chromium");
        let answer: Value = http
            .post(format!("{base}/session"))
            .json(&json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": binary,
                    // Headless windows are at least 500 px wide: the phone's
                    // width is set by device emulation instead.
                    "mobileEmulation": {"deviceMetrics": {"width": 320, "height": 800, "pixelRatio": 1}},
                    "args": ["--headless", "--no-sandbox", "--disable-gpu",
                             "--disable-background-networking", "--disable-component-update",
                             "--disable-sync", "--no-first-run", "--hide-scrollbars",
                             "--window-size=320,800",
                             format!("--user-data-dir={}", profile.path().display())]
                }
            }}}))
            .send()
            .await
            .expect("a WebDriver session")
            .json()
            .await
            .unwrap();
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"))
            .to_owned();
        Some(Self {
            child,
            base,
            session,
            http,
            _profile: profile,
        })
    }

    async fn call(&self, path: &str, body: Value) -> Value {
        let answer: Value = self
            .http
            .post(format!("{}/session/{}{path}", self.base, self.session))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(answer["value"]["error"].is_null(), "{path}: {answer}");
        answer["value"].clone()
    }

    async fn open(&self, url: &str) {
        self.call("/url", json!({ "url": url })).await;
    }

    /// A script's result; `None` while the page is being replaced (a
    /// navigation in flight answers with an error).
    async fn try_script(&self, script: &str) -> Option<Value> {
        let answer: Value = self
            .http
            .post(format!(
                "{}/session/{}/execute/sync",
                self.base, self.session
            ))
            .json(&json!({"script": script, "args": []}))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        answer["value"]["error"]
            .is_null()
            .then(|| answer["value"].clone())
    }

    async fn script(&self, script: &str) -> Value {
        self.call("/execute/sync", json!({"script": script, "args": []}))
            .await
    }

    async fn element(&self, css: &str) -> String {
        let found = self
            .call("/element", json!({"using": "css selector", "value": css}))
            .await;
        found[ELEMENT].as_str().unwrap().to_owned()
    }

    /// Nothing on the page is wider than the window.
    async fn assert_fits(&self, page: &str) {
        let widths = self
            .script(
                "return [document.documentElement.scrollWidth, \
                 document.documentElement.clientWidth, window.innerWidth];",
            )
            .await;
        let (scroll, client, inner) = (
            widths[0].as_i64().unwrap(),
            widths[1].as_i64().unwrap(),
            widths[2].as_i64().unwrap(),
        );
        assert!(inner <= 330, "the window is phone-sized: {inner} px");
        assert!(
            scroll <= client,
            "{page}: content {scroll} px wide in a {client} px window"
        );
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn an_approver_rejects_from_a_phone_sized_browser(backend: Backend) {
    let Some(browser) = Driver::start().await else {
        return;
    };
    let app = spawn_app(backend).await;
    let mut body = release_body("b1");
    body["ReleaseName"] =
        json!("Checkout service v2.14.0-rc.3, a release name long enough to wrap twice");
    body["Environment"] = json!("staging");
    app.post_release(&body).await;
    let mails = app.wait_for_mails(2).await;
    // The emailed link, opened where the app really listens.
    let link = format!("{}&decision=reject", mails[0].approval_link()).replacen(
        PUBLIC_URL,
        &app.address,
        1,
    );
    browser.open(&link).await;
    browser.assert_fits("the reject page").await;
    let comment = browser.element("textarea#comment").await;
    browser
        .call(
            &format!("/element/{comment}/value"),
            json!({"text": "Not on a Friday <please>"}),
        )
        .await;
    let reject = browser.element("button.reject").await;
    browser
        .call(&format!("/element/{reject}/click"), json!({}))
        .await;
    // The click submits the form; the next page arrives when it arrives.
    let mut text = String::new();
    for _ in 0..200 {
        text = browser
            .try_script("return document.body ? document.body.innerText : '';")
            .await
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        if text.contains("Your rejection was recorded") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(text.contains("Your rejection was recorded"), "{text}");
    assert!(text.contains("Not on a Friday <please>"), "{text}");
    browser.assert_fits("the final page").await;
    let doc = app.status_in("b1", "staging").await;
    assert_eq!(doc["status"], "rejected");
    let me = doc["approvers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["email"] == mails[0].to.as_str())
        .unwrap();
    assert_eq!(me["decision"], "rejected");
    assert_eq!(me["comment"], "Not on a Friday <please>");
    browser
        .http
        .delete(format!("{}/session/{}", browser.base, browser.session))
        .send()
        .await
        .ok();
}
