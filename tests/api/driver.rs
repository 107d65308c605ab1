//! A real browser for the page tests: Debian's Chromium, headless, driven
//! over WebDriver by `chromedriver` (which `.ci/run` installs).
//!
//! Without `chromedriver` on the PATH, `Driver::start` says so and gives
//! `None` (the test passes without running), unless
//! `GREENLIGHT_REQUIRE_BROWSER=1` (CI), which makes that a failure.

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};

use crate::helpers::free_port;

/// The W3C name of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long a page may take to arrive (a deadline for broken tests, not a
/// timing assertion): 200 looks, 50 ms apart.
const LOOKS: usize = 200;
const LOOK_EVERY: Duration = Duration::from_millis(50);

pub(crate) struct Driver {
    child: Child,
    port: u16,
    session: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

impl Driver {
    /// A browser with a screen `width` px wide (and 800 high): a phone's
    /// below 500 px, a desktop's above.
    pub(crate) async fn start(width: u32) -> Option<Self> {
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
        for _ in 0..LOOKS {
            if http.get(format!("{base}/status")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(LOOK_EVERY).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let binary = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .unwrap_or("chromium");
        let mut chrome = json!({
            "binary": binary,
            "args": ["--headless", "--no-sandbox", "--disable-gpu",
                     "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--no-first-run", "--hide-scrollbars",
                     format!("--window-size={width},800"),
                     format!("--user-data-dir={}", profile.path().display())]
        });
        if width < 500 {
            // Headless windows are at least 500 px wide: a phone's width is
            // set by device emulation instead.
            chrome["mobileEmulation"] =
                json!({"deviceMetrics": {"width": width, "height": 800, "pixelRatio": 1}});
        }
        let answer: Value = http
            .post(format!("{base}/session"))
            .json(&json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": chrome
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
            port,
            session,
            http,
            _profile: profile,
        })
    }

    fn url(&self, path: &str) -> String {
        format!(
            "http://127.0.0.1:{}/session/{}{path}",
            self.port, self.session
        )
    }

    /// A WebDriver command, which must succeed; its `value`.
    pub(crate) async fn call(&self, path: &str, body: Value) -> Value {
        value(path, self.http.post(self.url(path)).json(&body)).await
    }

    async fn get(&self, path: &str) -> Value {
        value(path, self.http.get(self.url(path))).await
    }

    pub(crate) async fn open(&self, url: &str) {
        self.call("/url", json!({ "url": url })).await;
    }

    /// The address of the page shown.
    pub(crate) async fn current_url(&self) -> String {
        self.get("/url").await.as_str().unwrap().to_owned()
    }

    /// A script's result; `None` while the page is being replaced (a
    /// navigation in flight answers with an error).
    pub(crate) async fn try_script(&self, script: &str) -> Option<Value> {
        let answer: Value = self
            .http
            .post(self.url("/execute/sync"))
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

    pub(crate) async fn script(&self, script: &str) -> Value {
        self.call("/execute/sync", json!({"script": script, "args": []}))
            .await
    }

    pub(crate) async fn element(&self, css: &str) -> String {
        let found = self
            .call("/element", json!({"using": "css selector", "value": css}))
            .await;
        found[ELEMENT].as_str().unwrap().to_owned()
    }

    pub(crate) async fn click(&self, css: &str) {
        let element = self.element(css).await;
        self.call(&format!("/element/{element}/click"), json!({}))
            .await;
    }

    pub(crate) async fn type_into(&self, css: &str, text: &str) {
        let element = self.element(css).await;
        self.call(
            &format!("/element/{element}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    /// The page's text once it contains `needle` (a click or a submit
    /// brings the next page when it brings it); fails with what it shows.
    pub(crate) async fn wait_for_text(&self, needle: &str) -> String {
        let mut text = String::new();
        for _ in 0..LOOKS {
            text = self
                .try_script("return document.body ? document.body.innerText : '';")
                .await
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            if text.contains(needle) {
                return text;
            }
            tokio::time::sleep(LOOK_EVERY).await;
        }
        panic!("the page never showed {needle:?}: {text}");
    }

    /// Waits until the page shown is at an address containing `part`.
    pub(crate) async fn wait_for_url(&self, part: &str) -> String {
        let mut url = String::new();
        for _ in 0..LOOKS {
            url = self.current_url().await;
            if url.contains(part) {
                return url;
            }
            tokio::time::sleep(LOOK_EVERY).await;
        }
        panic!("never reached an address with {part:?}: {url}");
    }

    /// The window is `width` px wide, and nothing on the page is wider.
    pub(crate) async fn assert_fits(&self, page: &str, width: i64) {
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
        assert!(
            (inner - width).abs() <= 10,
            "{page}: the window is {inner} px wide, not {width}"
        );
        assert!(
            scroll <= client,
            "{page}: content {scroll} px wide in a {client} px window"
        );
    }

    /// Saves the whole page (as wide as the window, as long as the page) as
    /// a PNG, when `GREENLIGHT_SCREENSHOTS=<dir>` asks for it: to look at
    /// the layout.
    pub(crate) async fn screenshot(&self, name: &str) {
        let Ok(dir) = std::env::var("GREENLIGHT_SCREENSHOTS") else {
            return;
        };
        let size = self
            .script(
                "return [document.documentElement.clientWidth, \
                 document.documentElement.scrollHeight];",
            )
            .await;
        let shot = self
            .call(
                "/goog/cdp/execute",
                json!({"cmd": "Page.captureScreenshot", "params": {
                    "format": "png", "captureBeyondViewport": true,
                    "clip": {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1}
                }}),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png).unwrap();
    }
}

impl Drop for Driver {
    /// Ends the session (Chromium exits) and chromedriver, also when the
    /// test failed: plain HTTP, since a drop cannot wait on async code.
    fn drop(&mut self) {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let request = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\
                 Content-Length: 0\r\nConnection: close\r\n\r\n",
                self.session, self.port
            );
            if stream.write_all(request.as_bytes()).is_ok() {
                let _ = stream.read_to_end(&mut Vec::new());
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A WebDriver answer's `value`, once it is known not to be an error.
async fn value(path: &str, request: reqwest::RequestBuilder) -> Value {
    let answer: Value = request.send().await.unwrap().json().await.unwrap();
    assert!(answer["value"]["error"].is_null(), "{path}: {answer}");
    answer["value"].clone()
}
