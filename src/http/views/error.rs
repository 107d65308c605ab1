//! The one error page (`templates/pages/error.html`), for the approver's
//! pages and the dashboard alike: what went wrong, in the problem's words,
//! with the headers its problem+json twin carries.

use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use super::page;
use crate::http::problem::{self, ApiError};

#[derive(Template)]
#[template(path = "pages/error.html")]
struct ErrorPage<'a> {
    /// The dashboard's home: its header and a link back; none on an
    /// approver's page.
    home: Option<&'static str>,
    status: u16,
    title: &'a str,
    detail: String,
}

/// `error` as a page. `home` is the dashboard's list, as a link from the
/// page asked for; `None` for an approver's page.
pub fn error_page(error: &ApiError, home: Option<&'static str>) -> HttpResponse {
    problem::log(error);
    let status = error.status_code();
    let unauthorized = matches!(error, ApiError::Unauthorized(_));
    let (title, detail) = match home {
        // Only the dashboard asks for a key, and a browser sends it as the
        // password of HTTP Basic: say so.
        Some(_) if unauthorized => (
            "Admin key required",
            format!(
                "{error}. In a browser: any user name, and an admin API key \
                 (greenlight api-key create --admin) as the password."
            ),
        ),
        _ => (error.title(), error.to_string()),
    };
    let render = ErrorPage {
        home,
        status: status.as_u16(),
        title,
        detail,
    }
    .render();
    let mut response = page(status, render);
    if response.status() == status {
        let headers = response.headers_mut();
        if unauthorized {
            // The browser asks for the key.
            headers.insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static(r#"Basic realm="greenlight""#),
            );
        }
        if let Some(secs) = error.retry_after() {
            headers.insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        }
    }
    response
}
