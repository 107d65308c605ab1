//! HTML pages for approvers, rendered from `templates/pages/`. Askama
//! escapes every value in `.html` templates.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use super::problem::ApiError;
use crate::releases::document::StatusDocument;

/// Which form a page carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageForm {
    None,
    /// Approve and Reject buttons (confirm mode).
    Confirm,
    /// A comment box and a Reject button.
    Reject,
}

#[derive(Template)]
#[template(path = "pages/release.html")]
struct ReleasePage<'a> {
    message: &'a str,
    doc: &'a StatusDocument,
    /// "1 of 2 approvals needed", "every approver must approve".
    quorum: String,
    requested: String,
    expires: String,
    decided: Option<String>,
    approvers: Vec<ApproverLine<'a>>,
    show_confirm: bool,
    show_reject: bool,
    token: &'a str,
}

/// One approver as the page shows them: by name when known.
struct ApproverLine<'a> {
    name: Option<&'a str>,
    email: &'a str,
    you: bool,
    /// "approved", "rejected", "waiting"; "no decision" once the release
    /// was decided without them.
    decision: &'a str,
    /// Its CSS class.
    class: &'a str,
    when: Option<String>,
    comment: Option<&'a str>,
}

/// A time as a person reads it, saying it is UTC: "23 Nov 2026, 10:15 UTC".
fn humane(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.format("%-d %b %Y, %H:%M UTC").to_string())
        .unwrap_or_else(|_| rfc3339.to_owned())
}

fn quorum(doc: &StatusDocument) -> String {
    match doc.required_approvals {
        None => "waiting for the list of approvers".to_owned(),
        Some(required) if required as usize == doc.approvers.len() && required > 1 => format!(
            "{} of {required} approvals: every approver must approve",
            doc.approvals
        ),
        Some(required) => format!(
            "{} of {required} approval{} needed",
            doc.approvals,
            if required == 1 { "" } else { "s" }
        ),
    }
}

#[derive(Template)]
#[template(path = "pages/error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    detail: String,
}

fn html(status: StatusCode, body: askama::Result<String>) -> HttpResponse {
    match body {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "rendering a page failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}

pub fn release_page(
    status: StatusCode,
    message: &str,
    doc: &StatusDocument,
    form: PageForm,
    token: &str,
    approver: &str,
) -> HttpResponse {
    let page = ReleasePage {
        message,
        doc,
        quorum: quorum(doc),
        requested: humane(&doc.created_at),
        expires: humane(&doc.expires_at),
        decided: doc.decided_at.as_deref().map(humane),
        approvers: doc
            .approvers
            .iter()
            .map(|a| {
                let decision = a.decision.as_deref().unwrap_or(
                    if doc.status == crate::domain::ReleaseStatus::Pending {
                        "waiting"
                    } else {
                        "no decision"
                    },
                );
                ApproverLine {
                    name: a.name.as_deref(),
                    email: &a.email,
                    you: a.email == approver,
                    decision,
                    class: if decision == "no decision" {
                        "no-decision"
                    } else {
                        decision
                    },
                    when: a.decided_at.as_deref().map(humane),
                    comment: a.comment.as_deref(),
                }
            })
            .collect(),
        show_confirm: form == PageForm::Confirm,
        show_reject: form == PageForm::Reject,
        token,
    };
    html(status, page.render())
}

pub fn error_page(error: &ApiError) -> HttpResponse {
    let status = error.status_code();
    let page = ErrorPage {
        status: status.as_u16(),
        title: error.title(),
        detail: error.to_string(),
    };
    let mut response = html(status, page.render());
    if let Some(secs) = error.retry_after() {
        response.headers_mut().insert(
            actix_web::http::header::RETRY_AFTER,
            actix_web::http::header::HeaderValue::from(secs),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_people_read_them() {
        assert_eq!(humane("2026-11-23T10:15:02Z"), "23 Nov 2026, 10:15 UTC");
        assert_eq!(humane("not a time"), "not a time");
    }
}
