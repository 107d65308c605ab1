//! The approver's pages in a real browser (Debian's Chromium, see
//! `driver.rs`): the emailed reject link at 320 px wide, nothing wider than
//! the screen, a comment typed and Reject pressed, the final page, and the
//! status document.

use serde_json::json;

use crate::both_backends;
use crate::driver::Driver;
use crate::helpers::{release_body, spawn_app, Backend, PUBLIC_URL};

both_backends!(an_approver_rejects_from_a_phone_sized_browser);

async fn an_approver_rejects_from_a_phone_sized_browser(backend: Backend) {
    let Some(browser) = Driver::start(320).await else {
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
    browser.assert_fits("the reject page", 320).await;
    browser
        .type_into("textarea#comment", "Not on a Friday <please>")
        .await;
    // The click submits the form; the next page arrives when it arrives.
    browser.click("button.reject").await;
    let text = browser.wait_for_text("Your rejection was recorded").await;
    assert!(text.contains("Not on a Friday <please>"), "{text}");
    browser.assert_fits("the final page", 320).await;
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
}
