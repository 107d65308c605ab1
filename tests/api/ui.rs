//! The operator's dashboard (`GET /ui`): the list newest first with each
//! release's state, its filters and pages, one release with its approvers
//! and events, every refusal as a page, the admin key, escaping; and the
//! whole walk in Chromium at 320 px and 1280 px.

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::json;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, ResponseTemplate};

use crate::both_backends;
use crate::driver::Driver;
use crate::helpers::{cli, spawn_app, spawn_app_with, spawn_keyed_app, Backend, Mail, TestApp};

both_backends!(
    the_list_shows_releases_newest_first_with_their_state,
    each_filter_narrows_the_list,
    pages_walk_back_keeping_the_filters,
    a_release_shows_its_approvers_decisions_and_events,
    bad_input_is_a_page_that_says_what_is_wrong,
    the_dashboard_needs_an_admin_key_when_keys_are_required,
    user_strings_are_shown_as_text,
    an_operator_browses_the_dashboard,
);

// ---------------------------------------------------------------- helpers

struct Page {
    status: u16,
    headers: HeaderMap,
    html: String,
}

impl Page {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The rows of the table of class `class`, each as its cells' text.
    fn table(&self, class: &str) -> Vec<Vec<String>> {
        let Some(start) = self.html.find(&format!("<table class=\"{class}")) else {
            return Vec::new();
        };
        let table = &self.html[start..];
        let body = &table[table.find("<tbody>").unwrap()..table.find("</tbody>").unwrap()];
        body.split("<tr")
            .skip(1)
            .map(|row| {
                row.split("<td")
                    .skip(1)
                    .map(|cell| {
                        let inner = &cell[cell.find('>').unwrap() + 1..];
                        text(&inner[..inner.find("</td>").unwrap()])
                    })
                    .collect()
            })
            .collect()
    }

    /// The release ids of the list, in its order.
    fn ids(&self) -> Vec<String> {
        self.table("releases")
            .into_iter()
            .map(|row| row[1].clone())
            .collect()
    }

    /// Where the link whose text is `label` leads, as written.
    fn href(&self, label: &str) -> Option<String> {
        let end = self.html.find(&format!(">{}</a>", escape(label)))?;
        let start = self.html[..end].rfind("href=\"")? + "href=\"".len();
        let href = &self.html[start..];
        Some(unescape(&href[..href.find('"').unwrap()]))
    }
}

/// The text of some HTML (of its body, for a page): tags read as spaces,
/// entities decoded, spaces folded.
fn text(html: &str) -> String {
    let html = html.find("<body").map_or(html, |start| &html[start..]);
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    unescape(&out)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Text as askama escapes it (numeric references).
fn escape(s: &str) -> String {
    s.replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

/// Askama's escapes undone, `&` last.
fn unescape(s: &str) -> String {
    s.replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#38;", "&")
}

/// GETs a dashboard path (relative links resolve against `/ui`), with an
/// API key as the password of HTTP Basic, as a browser sends it.
async fn page(app: &TestApp, path: &str, key: Option<&str>) -> Page {
    let url = url::Url::parse(&format!("{}/ui", app.address))
        .unwrap()
        .join(path)
        .unwrap();
    let mut request = app.client.get(url).header("accept", "text/html");
    if let Some(key) = key {
        request = request.basic_auth("operator", Some(key));
    }
    let response = request.send().await.unwrap();
    Page {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        html: response.text().await.unwrap(),
    }
}

/// A page that must answer 200.
async fn ok(app: &TestApp, path: &str) -> Page {
    let page = page(app, path, None).await;
    assert_eq!(page.status, 200, "{path}: {}", page.html);
    page
}

async fn post(app: &TestApp, key: Option<&str>, id: &str, project: &str, environment: &str) {
    post_named(app, key, id, project, environment, &format!("Release {id}")).await;
}

async fn post_named(
    app: &TestApp,
    key: Option<&str>,
    id: &str,
    project: &str,
    environment: &str,
    name: &str,
) {
    let mut request = app.client.post(format!("{}/release", app.address)).json(
        &json!({"ReleaseName": name, "ReleaseId": id, "TeamProject": project,
                      "Environment": environment}),
    );
    if let Some(key) = key {
        request = request.header("X-API-Key", key);
    }
    assert_eq!(request.send().await.unwrap().status(), 202, "{id}");
}

/// The emails of release `id` of `project`.
fn mails_of<'a>(mails: &'a [Mail], project: &str, id: &str) -> Vec<&'a Mail> {
    let tag = format!("({project} #{id})");
    let found: Vec<&Mail> = mails.iter().filter(|m| m.subject.contains(&tag)).collect();
    assert_eq!(found.len(), 2, "two approvers of {tag}");
    found
}

async fn decide(app: &TestApp, mail: &Mail, decision: &str, comment: Option<&str>) {
    let token = mail.token();
    let mut form = vec![("token", token.as_str()), ("decision", decision)];
    form.extend(comment.map(|c| ("comment", c)));
    assert_eq!(app.post_decision(&form).await.status(), 200);
}

/// A new API key from the real CLI (`--admin` or `--project P`).
fn create_key(app: &TestApp, args: &[&str]) -> String {
    let env = [("DATABASE_URL".to_owned(), app.db.url.clone())].into();
    let mut all = vec!["api-key", "create"];
    all.extend_from_slice(args);
    let (ok, out, err) = cli(&env, &all);
    assert!(ok, "api-key create {args:?}: {err}");
    out.trim().to_owned()
}

async fn with_keys_required(backend: Backend) -> TestApp {
    spawn_keyed_app(backend).await
}

// ------------------------------------------------------------------ tests

async fn the_list_shows_releases_newest_first_with_their_state(backend: Backend) {
    // Devx's approvers answer at once; Slow's never in this test's time,
    // so its release stays without approvers.
    let app = spawn_app_with(
        backend,
        |env| {
            env.insert("GREENLIGHT_HTTP_TIMEOUT".into(), "600000ms".into());
            env.insert("GREENLIGHT_JOB_TIMEOUT".into(), "600000ms".into());
        },
        false,
    )
    .await;
    Mock::given(method("GET"))
        .and(path_regex("^/approvers/Devx/"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"approvers": ["ana@example.com", "bruno@example.com"]})),
        )
        .mount(&app.approvers)
        .await;
    Mock::given(method("GET"))
        .and(path_regex("^/approvers/Slow/"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(600)))
        .mount(&app.approvers)
        .await;
    post(&app, None, "d1", "Devx", "production").await;
    post(&app, None, "d2", "Devx", "staging").await;
    post(&app, None, "s1", "Slow", "production").await;
    let mails = app.wait_for_mails(4).await;
    for mail in mails_of(&mails, "Devx", "d1") {
        decide(&app, mail, "approve", None).await;
    }
    decide(&app, mails_of(&mails, "Devx", "d2")[0], "reject", None).await;

    let list = ok(&app, "ui").await;
    assert!(list.header("content-type").starts_with("text/html"));
    assert!(list
        .header("content-security-policy")
        .contains("default-src 'none'"));
    assert_eq!(list.header("cache-control"), "no-store");
    let rows = list.table("releases");
    let cells = |row: &Vec<String>| {
        // Release, id, project, environment, status, (age), approvals.
        let mut c = row.clone();
        let age = c.remove(5);
        assert!(age == "just now" || age.ends_with(" min ago"), "{age}");
        c
    };
    assert_eq!(
        rows.iter().map(cells).collect::<Vec<_>>(),
        [
            ["Release s1", "s1", "Slow", "production", "pending", "—"],
            [
                "Release d2",
                "d2",
                "Devx",
                "staging",
                "rejected",
                "0/2 (1 rejected)"
            ],
            ["Release d1", "d1", "Devx", "production", "approved", "2/2"],
        ],
        "newest first"
    );
    assert_eq!(
        list.href("Release d1").as_deref(),
        Some("ui/releases/Devx/production/d1")
    );
    assert_eq!(list.href("Older →"), None, "one page");

    let head = app
        .client
        .head(format!("{}/ui", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    let post = app
        .client
        .post(format!("{}/ui", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);
}

async fn each_filter_narrows_the_list(backend: Backend) {
    let app = spawn_app(backend).await;
    post(&app, None, "a1", "Devx", "production").await;
    post(&app, None, "a2", "Devx", "staging").await;
    post(&app, None, "a3", "Other", "production").await;
    let mails = app.wait_for_mails(6).await;
    for mail in mails_of(&mails, "Devx", "a1") {
        decide(&app, mail, "approve", None).await;
    }
    for (query, ids) in [
        ("", &["a3", "a2", "a1"][..]),
        // What the form sends with nothing filled in.
        ("?project=&environment=&status=", &["a3", "a2", "a1"]),
        ("?project=devx", &["a2", "a1"]),
        ("?project=DEVX&environment=Staging", &["a2"]),
        ("?environment=production", &["a3", "a1"]),
        ("?status=approved", &["a1"]),
        ("?status=pending&project=Other", &["a3"]),
        ("?project=nobody", &[]),
    ] {
        assert_eq!(ok(&app, &format!("ui{query}")).await.ids(), ids, "{query}");
    }
    // The form shows the filters in force.
    let filtered = ok(&app, "ui?project=devx&status=approved").await;
    assert!(filtered.html.contains(r#"name="project" value="devx""#));
    assert!(filtered
        .html
        .contains(r#"<option value="approved" selected>"#));
    assert_eq!(filtered.href("Clear filters").as_deref(), Some("ui"));
    let none = ok(&app, "ui?project=nobody").await;
    assert!(text(&none.html).contains("No release matches these filters"));
}

async fn pages_walk_back_keeping_the_filters(backend: Backend) {
    let app = spawn_app(backend).await;
    for (id, project) in [
        ("p1", "Devx"),
        ("p2", "Devx"),
        ("o1", "Other"),
        ("p3", "Devx"),
        ("p4", "Devx"),
    ] {
        post(&app, None, id, project, "production").await;
    }
    let first = "ui?project=Devx&limit=1";
    let mut path = first.to_owned();
    let mut seen = Vec::new();
    loop {
        let page = ok(&app, &path).await;
        seen.extend(page.ids());
        if path != first {
            assert_eq!(page.href("← Newest").as_deref(), Some(first));
        } else {
            assert_eq!(page.href("← Newest"), None);
        }
        match page.href("Older →") {
            Some(older) => {
                assert!(
                    older.starts_with("ui?project=Devx&limit=1&cursor="),
                    "{older}"
                );
                path = older;
            }
            None => break,
        }
    }
    assert_eq!(seen, ["p4", "p3", "p2", "p1"], "every page, no empty one");
    // The default page size holds them all.
    assert_eq!(ok(&app, "ui").await.ids(), ["p4", "p3", "o1", "p2", "p1"]);
}

async fn a_release_shows_its_approvers_decisions_and_events(backend: Backend) {
    let app = spawn_app(backend).await;
    post_named(&app, None, "r1", "octo/app", "Staging EU", "Checkout v2").await;
    let mails = app.wait_for_mails(2).await;
    let (ana, bruno) = match mails[0].to.as_str() {
        "ana@example.com" => (&mails[0], &mails[1]),
        _ => (&mails[1], &mails[0]),
    };
    decide(&app, ana, "approve", Some("Ship it")).await;

    // The list links to it: a project with a slash stays one segment.
    let list = ok(&app, "ui").await;
    let link = list.href("Checkout v2").unwrap();
    assert_eq!(link, "ui/releases/octo%2Fapp/Staging%20EU/r1");
    let release = ok(&app, &link).await;
    let shown = text(&release.html);
    for fact in [
        "Checkout v2 pending",
        "Project octo/app",
        "Environment Staging EU",
        "Release id r1",
        "Approvals 1 of 2 required, 0 rejected",
    ] {
        assert!(shown.contains(fact), "{fact}: {shown}");
    }
    // Matched as the API matches: case-insensitively.
    assert_eq!(
        ok(&app, "ui/releases/OCTO%2FAPP/staging%20eu/r1")
            .await
            .status,
        200
    );
    let approvers = release.table("people");
    assert_eq!(approvers.len(), 2);
    let row = |email: &str| {
        approvers
            .iter()
            .find(|r| r[0] == email)
            .unwrap_or_else(|| panic!("{email} in {approvers:?}"))
            .clone()
    };
    let ana_row = row("ana@example.com");
    assert_eq!(ana_row[1], "approved");
    // One form of time on every page, the approver's included:
    // `23 Nov 2026, 10:15 UTC`.
    assert!(
        chrono::NaiveDateTime::parse_from_str(&ana_row[2], "%-d %b %Y, %H:%M UTC").is_ok(),
        "{ana_row:?}"
    );
    let approver_page = app
        .open_link(&ana.approval_link(), "text/html")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        approver_page.contains(&format!("<span class=\"muted\">{}</span>", ana_row[2])),
        "{} missing from {approver_page}",
        ana_row[2]
    );
    assert_eq!(ana_row[3], "Ship it");
    assert_eq!(row("bruno@example.com")[1..], ["waiting", "—", "—"]);

    // Bruno rejects: the release is decided, and its trail tells the story.
    decide(&app, bruno, "reject", Some("Not today")).await;
    let release = ok(&app, &link).await;
    assert!(text(&release.html).contains("Checkout v2 rejected"));
    assert!(text(&release.html).contains("Decided"));
    let events = release.table("events");
    let kinds: Vec<&str> = events.iter().map(|e| e[1].as_str()).collect();
    assert_eq!(kinds[0], "release.created", "oldest first");
    assert_eq!(kinds.last(), Some(&"release.rejected"));
    let approved = events.iter().find(|e| e[1] == "approval.approved").unwrap();
    assert_eq!(
        approved[2..],
        ["ana@example.com", "comment: Ship it; via: email"]
    );
    let rejected = events.iter().find(|e| e[1] == "approval.rejected").unwrap();
    assert_eq!(
        rejected[2..],
        ["bruno@example.com", "comment: Not today; via: email"]
    );
    assert!(events.iter().all(|e| e[0].ends_with(" UTC")), "{events:?}");
    assert_eq!(
        release.href("← All releases").as_deref(),
        Some("../../../../ui")
    );
}

async fn bad_input_is_a_page_that_says_what_is_wrong(backend: Backend) {
    let app = spawn_app(backend).await;
    for (path, says) in [
        (
            "ui?status=done",
            "status must be pending, approved, rejected, expired or failed",
        ),
        ("ui?limit=0", "limit must be a whole number from 1 to 200"),
        ("ui?limit=201", "limit must be a whole number from 1 to 200"),
        ("ui?limit=ten", "limit must be a whole number from 1 to 200"),
        (
            "ui?cursor=abc",
            "cursor is not a cursor this service gave out",
        ),
        (
            "ui?project=a%0Ab",
            "project must not contain control characters",
        ),
        (
            "ui?status=approved&status=rejected",
            "the query string is not valid",
        ),
        (
            "ui/releases/Devx/a%0Ab/1",
            "environment must not contain control characters",
        ),
    ] {
        let page = page(&app, path, None).await;
        assert_eq!(page.status, 400, "{path}");
        assert!(page.header("content-type").starts_with("text/html"));
        assert!(text(&page.html).contains(says), "{path}: {}", page.html);
    }
    let missing = page(&app, "ui/releases/Devx/production/nope", None).await;
    assert_eq!(missing.status, 404);
    assert!(missing.header("content-type").starts_with("text/html"));
    assert!(text(&missing.html)
        .contains("Release not found no release nope in project Devx, environment production"));
    // Nothing is written through the dashboard.
    let post = app
        .client
        .post(format!("{}/ui/releases/Devx/production/nope", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);
}

async fn the_dashboard_needs_an_admin_key_when_keys_are_required(backend: Backend) {
    let app = with_keys_required(backend).await;
    let admin = create_key(&app, &["--admin"]);
    let devx = create_key(&app, &["--project", "Devx"]);
    post(&app, Some(&devx), "k1", "Devx", "production").await;
    let release = "ui/releases/Devx/production/k1";
    for path in ["ui", release] {
        // No key: the browser is asked for one.
        let asked = page(&app, path, None).await;
        assert_eq!(asked.status, 401, "{path}");
        assert_eq!(
            asked.header("www-authenticate"),
            r#"Basic realm="greenlight""#
        );
        assert!(asked.header("content-type").starts_with("text/html"));
        assert!(asked
            .header("content-security-policy")
            .contains("default-src 'none'"));
        assert!(
            text(&asked.html).contains("Admin key required"),
            "{}",
            asked.html
        );
        let wrong = page(&app, path, Some("glk_wrong")).await;
        assert_eq!(wrong.status, 401, "{path}");
        // A project key, even of this release's project: 403.
        let project = page(&app, path, Some(&devx)).await;
        assert_eq!(project.status, 403, "{path}");
        assert!(text(&project.html).contains("this needs an admin key"));
        // The admin key as the password of HTTP Basic, any user name.
        assert_eq!(page(&app, path, Some(&admin)).await.status, 200, "{path}");
    }
    assert_eq!(
        page(&app, "ui", Some(&admin)).await.table("releases").len(),
        1
    );
    let by_header = app
        .client
        .get(format!("{}/ui", app.address))
        .header("X-API-Key", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(by_header.status(), 200);
}

async fn user_strings_are_shown_as_text(backend: Backend) {
    let app = spawn_app(backend).await;
    let name = "<script>alert(1)</script>";
    post_named(&app, None, "x&1", "R&D <i>", "production", name).await;
    let mails = app.wait_for_mails(2).await;
    decide(&app, &mails[0], "reject", Some("<b>bold</b> & \"quoted\"")).await;

    let list = ok(&app, "ui").await;
    let link = list.href(name).expect("the release's link");
    let release = ok(&app, &link).await;
    // A filter value comes back in an attribute.
    let echoed = ok(&app, "ui?project=%22%3E%3Cscript%3Ex%3C%2Fscript%3E").await;
    for page in [&list, &release, &echoed] {
        assert!(!page.html.contains("<script"), "{}", page.html);
        assert!(!page.html.contains("<b>"), "{}", page.html);
        assert!(!page.html.contains("<i>"), "{}", page.html);
    }
    assert!(list
        .html
        .contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
    assert!(list.html.contains("R&#38;D &#60;i&#62;"));
    assert!(release
        .html
        .contains("&#60;b&#62;bold&#60;/b&#62; &#38; &#34;quoted&#34;"));
    assert!(text(&release.html).contains("comment: <b>bold</b> & \"quoted\""));
    assert!(text(&release.html).contains("release_name: <script>alert(1)</script>"));
    assert!(echoed
        .html
        .contains(r#"value="&#34;&#62;&#60;script&#62;x&#60;/script&#62;""#));
    assert_eq!(ok(&app, "ui?project=R%26D%20%3Ci%3E").await.ids(), ["x&1"]);
}

/// The whole walk in Chromium, keys required: the list at 320 px, the
/// status filter, a release's page with its approvers and events, and the
/// list at 1280 px.
async fn an_operator_browses_the_dashboard(backend: Backend) {
    let Some(phone) = Driver::start(320).await else {
        return;
    };
    let app = with_keys_required(backend).await;
    let admin = create_key(&app, &["--admin"]);
    post_named(
        &app,
        Some(&admin),
        "b1",
        "Devx",
        "production",
        "Checkout v2",
    )
    .await;
    post_named(&app, Some(&admin), "b2", "Devx", "staging", "Billing").await;
    post_named(
        &app,
        Some(&admin),
        "b3",
        "Other",
        "production",
        "Search service v14.2.0-rc.7, a release name long enough to wrap twice",
    )
    .await;
    let mails = app.wait_for_mails(6).await;
    for mail in mails_of(&mails, "Devx", "b1") {
        let comment = (mail.to == "ana@example.com").then_some("Ship it <b>now</b>");
        decide(&app, mail, "approve", comment).await;
    }
    // The key as URL credentials: Chromium answers the Basic challenge
    // with them, and sends them again for the pages below.
    let list = app
        .address
        .replacen("http://", &format!("http://operator:{admin}@"), 1)
        + "/ui";
    phone.open(&list).await;
    phone.wait_for_text("Checkout v2").await;
    phone.assert_fits("the list", 320).await;
    phone.screenshot(&format!("ui-list-320-{backend:?}")).await;
    let rows = "return Array.from(document.querySelectorAll('table.releases tbody tr'))\
                .map(r => r.innerText);";
    assert_eq!(phone.script(rows).await.as_array().unwrap().len(), 3);
    let header_shown =
        "return getComputedStyle(document.querySelector('table.releases thead')).display;";
    assert_eq!(phone.script(header_shown).await, "none", "cards on a phone");

    // Only the approved ones.
    phone.click("#status option[value=approved]").await;
    phone.click("form.filters button[type=submit]").await;
    phone.wait_for_url("status=approved").await;
    phone.wait_for_text("Clear filters").await;
    let shown = phone.script(rows).await;
    let shown = shown.as_array().unwrap();
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert!(
        shown[0].as_str().unwrap().contains("Checkout v2"),
        "{shown:?}"
    );
    assert!(shown[0].as_str().unwrap().contains("approved"), "{shown:?}");

    // Its page: who approved, with the comment, and what happened.
    phone.click("table.releases tbody tr a").await;
    phone.wait_for_url("/ui/releases/Devx/production/b1").await;
    let text = phone.wait_for_text("Events").await;
    for seen in [
        "ana@example.com",
        "bruno@example.com",
        "Ship it <b>now</b>",
        "approval.approved",
        "comment: Ship it <b>now</b>",
        "release.approved",
    ] {
        assert!(text.contains(seen), "{seen}: {text}");
    }
    let approvers = phone
        .script(
            "return Array.from(document.querySelectorAll('table.people tbody tr'))\
             .map(r => r.innerText);",
        )
        .await;
    let approvers = approvers.as_array().unwrap();
    assert_eq!(approvers.len(), 2);
    assert!(approvers
        .iter()
        .all(|a| a.as_str().unwrap().contains("approved")));
    phone.assert_fits("a release", 320).await;
    phone
        .screenshot(&format!("ui-release-320-{backend:?}"))
        .await;

    // A wide screen: a table with its header row, still nothing too wide.
    drop(phone);
    let browser = Driver::start(1280).await.unwrap();
    browser.open(&list).await;
    browser.wait_for_text("Checkout v2").await;
    browser.assert_fits("the list", 1280).await;
    assert_eq!(browser.script(header_shown).await, "table-header-group");
    browser
        .screenshot(&format!("ui-list-1280-{backend:?}"))
        .await;
    browser.click("table.releases tbody tr a").await;
    browser.wait_for_text("Events").await;
    browser.assert_fits("a release", 1280).await;
    browser
        .screenshot(&format!("ui-release-1280-{backend:?}"))
        .await;
}
