//! HTML pages for approvers, rendered from `templates/pages/`. Askama
//! escapes every value in `.html` templates.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use super::document::StatusDocument;
use super::problem::ApiError;

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
    approver: &'a str,
    show_confirm: bool,
    show_reject: bool,
    token: &'a str,
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
        approver,
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
