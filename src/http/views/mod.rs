//! The HTML pages, rendered from `templates/`: the approver's
//! (`approver.rs`, the pages an approval link opens) and the operator's
//! dashboard (`dashboard.rs`). What they share lives here, so that both
//! show a release alike: the status and decision labels, one way to write
//! a time, one error page (`error.rs`), and the headers every page carries
//! (`harden`). Handlers (`approval.rs`, `ui.rs`) decide what to show and
//! render through this module.
//!
//! Askama escapes every value in `.html` templates; no template marks user
//! text `|safe`.

mod approver;
mod dashboard;
mod deployments;
mod error;

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use chrono::NaiveDateTime;

use crate::db::models::Approval;
use crate::domain::{Decision, ReleaseStatus};

pub use approver::{release_page, PageForm};
pub use dashboard::{
    list_page, release_page as dashboard_release_page, variables_page, ListPage, VariableLine,
    VariableSection, HOME_FROM_LIST, HOME_FROM_RELEASE,
};
pub use deployments::{deployment_page, deployments_page};
pub use error::error_page;

/// Pages carry the token in their URL: keep it out of Referer headers and
/// caches, and let the page load nothing from elsewhere. (`nosniff` and
/// `X-Frame-Options` come with every answer: `http::guard`.)
pub fn harden(response: &mut HttpResponse) {
    let headers = response.headers_mut();
    for (name, value) in [
        // Not `no-referrer`: under it a browser sends `Origin: null` with
        // our own forms, which the cross-site check must refuse.
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    ] {
        headers.insert(name, header::HeaderValue::from_static(value));
    }
}

/// A rendered page as an answer, hardened; a 500 if it did not render.
fn page(status: StatusCode, body: askama::Result<String>) -> HttpResponse {
    let mut response = match body {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "rendering a page failed");
            HttpResponse::InternalServerError().finish()
        }
    };
    harden(&mut response);
    response
}

/// A stored time (UTC) as a person reads it, saying it is UTC:
/// `23 Nov 2026, 10:15 UTC`. The month by name reads the same in every
/// country (`03/04` does not); to the minute, as people speak of times.
pub fn time(t: NaiveDateTime) -> String {
    t.format("%-d %b %Y, %H:%M UTC").to_string()
}

/// A label as a page shows it: its words and its CSS class (the colour,
/// in `templates/pages/base.html`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label {
    pub text: &'static str,
    pub class: &'static str,
}

/// A release's status: `status status-{class}` in the templates.
pub fn status_label(status: ReleaseStatus) -> Label {
    Label {
        text: status.as_str(),
        class: status.as_str(),
    }
}

/// An approver's decision: `decision decision-{class}` in the templates.
/// Undecided, they are "waiting" while the release is pending, and had
/// "no decision" once it was decided without them.
pub fn decision_label(decision: Option<Decision>, release: ReleaseStatus) -> Label {
    let (text, class) = match decision {
        Some(Decision::Approved) => ("approved", "approved"),
        Some(Decision::Rejected) => ("rejected", "rejected"),
        None if release == ReleaseStatus::Pending => ("waiting", "waiting"),
        None => ("no decision", "no-decision"),
    };
    Label { text, class }
}

/// One approver as both pages list them.
pub struct ApproverRow {
    /// Shown before the address when known.
    pub name: Option<String>,
    pub email: String,
    pub decision: Label,
    pub when: Option<String>,
    pub comment: Option<String>,
}

impl ApproverRow {
    fn of(approval: &Approval, release: ReleaseStatus) -> Self {
        Self {
            name: approval.name.clone(),
            email: approval.email.clone(),
            decision: decision_label(approval.decision, release),
            when: approval.decided_at.map(time),
            comment: approval.comment.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_people_read_them_and_say_they_are_utc() {
        let at = |s| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(time(at("2026-11-23 10:15:02")), "23 Nov 2026, 10:15 UTC");
        assert_eq!(time(at("2026-03-04 09:05:59")), "4 Mar 2026, 09:05 UTC");
    }

    #[test]
    fn an_undecided_approver_waits_only_while_the_release_does() {
        use ReleaseStatus::*;
        let label = |d, s| decision_label(d, s).text;
        assert_eq!(label(Some(Decision::Approved), Rejected), "approved");
        assert_eq!(label(Some(Decision::Rejected), Pending), "rejected");
        assert_eq!(label(None, Pending), "waiting");
        for decided in [Approved, Rejected, Expired, Failed] {
            assert_eq!(decision_label(None, decided).class, "no-decision");
        }
        assert_eq!(status_label(Expired).class, "expired");
    }
}
