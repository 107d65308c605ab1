//! The pages an approval link opens (`templates/pages/release.html`): the
//! release, its approvers and, while the approver may still decide, the
//! buttons or the reject form.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use askama::Template;

use super::{page, status_label, time, ApproverRow, Label};
use crate::releases::ReleaseView;

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
    name: &'a str,
    release_id: &'a str,
    team_project: &'a str,
    environment: &'a str,
    requested_for: Option<&'a str>,
    status: Label,
    /// "1 of 2 approvals needed", "every approver must approve".
    quorum: String,
    requested: String,
    expires: String,
    decided: Option<String>,
    approvers: Vec<Line>,
    show_confirm: bool,
    show_reject: bool,
    token: &'a str,
}

/// An approver, and whether it is the one reading.
struct Line {
    row: ApproverRow,
    you: bool,
}

fn quorum(view: &ReleaseView) -> String {
    let tally = view.tally();
    match tally.required {
        None => "waiting for the list of approvers".to_owned(),
        Some(required) if required as usize == view.approvals.len() && required > 1 => format!(
            "{} of {required} approvals: every approver must approve",
            tally.approvals
        ),
        Some(required) => format!(
            "{} of {required} approval{} needed",
            tally.approvals,
            if required == 1 { "" } else { "s" }
        ),
    }
}

/// The release as `approver` sees it, with `message` on top.
pub fn release_page(
    status: StatusCode,
    message: &str,
    view: &ReleaseView,
    form: PageForm,
    token: &str,
    approver: &str,
) -> HttpResponse {
    let r = &view.release;
    let release_status = r.status();
    let render = ReleasePage {
        message,
        name: &r.release_name,
        release_id: &r.release_id,
        team_project: &r.team_project,
        environment: &r.environment,
        requested_for: r.requested_for.as_deref(),
        status: status_label(release_status),
        quorum: quorum(view),
        requested: time(r.created_at),
        expires: time(r.expires_at),
        decided: r.decided_at.map(time),
        approvers: view
            .approvals
            .iter()
            .map(|a| Line {
                row: ApproverRow::of(a, release_status),
                you: a.email == approver,
            })
            .collect(),
        show_confirm: form == PageForm::Confirm,
        show_reject: form == PageForm::Reject,
        token,
    }
    .render();
    page(status, render)
}
