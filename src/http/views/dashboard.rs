//! The operator's dashboard (`templates/ui/`): the list of releases and
//! one release with its approvers and audit trail.
//!
//! Links are relative (`ui`, `ui/releases/...`, `../../../../ui`), so the
//! dashboard also works behind a proxy that serves Greenlight under a path.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use askama::Template;
use chrono::NaiveDateTime;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::{page, status_label, time, ApproverRow, Label};
use crate::db::events::EventRow;
use crate::db::models::Release;
use crate::domain::ReleaseStatus;
use crate::releases::ReleaseView;

/// The list, as a link from the list's own page (`/ui`).
pub const HOME_FROM_LIST: &str = "ui";
/// The list, as a link from a release's page (four segments below `/`).
pub const HOME_FROM_RELEASE: &str = "../../../../ui";

const STATUSES: [ReleaseStatus; 5] = [
    ReleaseStatus::Pending,
    ReleaseStatus::Approved,
    ReleaseStatus::Rejected,
    ReleaseStatus::Expired,
    ReleaseStatus::Failed,
];

// ------------------------------------------------------------------ list

/// What the list's page shows besides its releases: the filter form as it
/// was sent and the links to other pages, which the handler builds.
pub struct ListPage {
    pub project: String,
    pub environment: String,
    /// The status filtered on, `""` for any.
    pub status: String,
    pub limit: Option<String>,
    pub filtered: bool,
    pub older_page: bool,
    /// The first page's link, on an older page.
    pub newest: Option<String>,
    /// The next older page's link, when there is one.
    pub older: Option<String>,
}

#[derive(Template)]
#[template(path = "ui/list.html")]
struct ListTemplate {
    home: &'static str,
    list: ListPage,
    statuses: Vec<StatusOption>,
    rows: Vec<Row>,
}

struct StatusOption {
    value: &'static str,
    selected: bool,
}

/// One release in the list.
struct Row {
    href: String,
    name: String,
    release_id: String,
    team_project: String,
    environment: String,
    status: Label,
    age: String,
    created: String,
    created_iso: String,
    /// "1/2", or "—" before the approvers are fetched.
    approvals: String,
    rejections: u32,
}

impl Row {
    fn of(view: &ReleaseView, now: NaiveDateTime) -> Self {
        let r = &view.release;
        let tally = view.tally();
        Self {
            href: format!("{HOME_FROM_LIST}/{}", release_path(r)),
            name: r.release_name.clone(),
            release_id: r.release_id.clone(),
            team_project: r.team_project.clone(),
            environment: r.environment.clone(),
            status: status_label(r.status()),
            age: age(r.created_at, now),
            created: time(r.created_at),
            created_iso: crate::releases::document::rfc3339(r.created_at),
            approvals: match tally.required {
                Some(required) => format!("{}/{required}", tally.approvals),
                None => "—".to_owned(),
            },
            rejections: tally.rejections,
        }
    }
}

/// `GET /ui`: a page of releases, as `now` sees their ages.
pub fn list_page(list: ListPage, releases: &[ReleaseView], now: NaiveDateTime) -> HttpResponse {
    let render = ListTemplate {
        home: HOME_FROM_LIST,
        statuses: STATUSES
            .iter()
            .map(|s| StatusOption {
                value: s.as_str(),
                selected: s.as_str() == list.status,
            })
            .collect(),
        rows: releases.iter().map(|v| Row::of(v, now)).collect(),
        list,
    }
    .render();
    page(StatusCode::OK, render)
}

// ---------------------------------------------------------------- release

#[derive(Template)]
#[template(path = "ui/release.html")]
struct ReleaseTemplate<'a> {
    home: &'static str,
    name: &'a str,
    release_id: &'a str,
    team_project: &'a str,
    environment: &'a str,
    status: Label,
    requested_for: Option<&'a str>,
    approvals: String,
    created: String,
    age: String,
    expires: String,
    decided: Option<String>,
    reason: Option<&'a str>,
    fetched: bool,
    approvers: Vec<ApproverRow>,
    events: Vec<EventLine>,
}

struct EventLine {
    at: String,
    kind: String,
    actor: Option<String>,
    detail: String,
}

impl EventLine {
    fn of(e: EventRow) -> Self {
        Self {
            at: time(e.at),
            detail: describe_detail(&e.detail),
            kind: e.kind,
            actor: e.actor,
        }
    }
}

/// `GET /ui/releases/...`: one release with its approvers and its trail.
pub fn release_page(view: &ReleaseView, trail: Vec<EventRow>, now: NaiveDateTime) -> HttpResponse {
    let r = &view.release;
    let status = r.status();
    let tally = view.tally();
    let render = ReleaseTemplate {
        home: HOME_FROM_RELEASE,
        name: &r.release_name,
        release_id: &r.release_id,
        team_project: &r.team_project,
        environment: &r.environment,
        status: status_label(status),
        requested_for: r.requested_for.as_deref(),
        approvals: match tally.required {
            None => "waiting for the list of approvers".to_owned(),
            Some(required) => format!(
                "{} of {required} required, {} rejected",
                tally.approvals, tally.rejections
            ),
        },
        created: time(r.created_at),
        age: age(r.created_at, now),
        expires: time(r.expires_at),
        decided: r.decided_at.map(time),
        reason: r.reason.as_deref(),
        fetched: tally.required.is_some(),
        approvers: view
            .approvals
            .iter()
            .map(|a| ApproverRow::of(a, status))
            .collect(),
        events: trail.into_iter().map(EventLine::of).collect(),
    }
    .render();
    page(StatusCode::OK, render)
}

// ---------------------------------------------------------------- helpers

/// What a path segment may carry as is (RFC 3986 unreserved).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `releases/{team_project}/{environment}/{release_id}`, each part
/// percent-encoded (a GitHub project is `owner/repo`).
fn release_path(r: &Release) -> String {
    let part = |s: &str| utf8_percent_encode(s, SEGMENT).to_string();
    format!(
        "releases/{}/{}/{}",
        part(&r.team_project),
        part(&r.environment),
        part(&r.release_id)
    )
}

/// How long ago `then` was, as `now` sees it: "just now", "5 min ago",
/// "3 h ago", "2 d ago" (rounded down).
fn age(then: NaiveDateTime, now: NaiveDateTime) -> String {
    let secs = (now - then).num_seconds();
    match secs {
        // A clock a little behind another replica's reads as "just now".
        ..60 => "just now".to_owned(),
        60..3600 => format!("{} min ago", secs / 60),
        3600..86_400 => format!("{} h ago", secs / 3600),
        _ => format!("{} d ago", secs / 86_400),
    }
}

/// An event's detail (a JSON object, written by us) as one line of text:
/// `comment: Ship it; to: ana@example.com`; keys in order, nulls left out,
/// lists joined with commas. Anything else is shown as it is stored.
fn describe_detail(detail: &str) -> String {
    use serde_json::Value;
    fn text(v: &Value) -> String {
        match v {
            Value::String(s) => s.clone(),
            Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(", "),
            other => other.to_string(),
        }
    }
    match serde_json::from_str::<Value>(detail) {
        Ok(Value::Object(fields)) => fields
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| format!("{k}: {}", text(v)))
            .collect::<Vec<_>>()
            .join("; "),
        Ok(other) => text(&other),
        Err(_) => detail.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn ages_read_as_people_say_them() {
        let now = at("2026-11-23 10:00:00");
        for (then, expected) in [
            ("2026-11-23 10:00:00", "just now"),
            ("2026-11-23 09:59:01", "just now"),
            ("2026-11-23 10:00:30", "just now"), // another replica's clock ahead
            ("2026-11-23 09:59:00", "1 min ago"),
            ("2026-11-23 09:00:01", "59 min ago"),
            ("2026-11-23 09:00:00", "1 h ago"),
            ("2026-11-23 07:00:00", "3 h ago"),
            ("2026-11-22 10:00:01", "23 h ago"),
            ("2026-11-22 10:00:00", "1 d ago"),
            ("2026-10-24 10:00:00", "30 d ago"),
        ] {
            assert_eq!(age(at(then), now), expected, "{then}");
        }
    }

    #[test]
    fn event_details_read_as_one_line() {
        for (stored, shown) in [
            (r#"{"comment":"Ship it <now>"}"#, "comment: Ship it <now>"),
            (r#"{"comment":null}"#, ""),
            (r#"{}"#, ""),
            (
                r#"{"approvers":["ana@example.com","bruno@example.com"]}"#,
                "approvers: ana@example.com, bruno@example.com",
            ),
            (
                r#"{"to":"ana@example.com","attempt":2}"#,
                "attempt: 2; to: ana@example.com",
            ),
            (r#""just text""#, "just text"),
            ("not json {", "not json {"),
        ] {
            assert_eq!(describe_detail(stored), shown, "{stored}");
        }
    }

    #[test]
    fn links_keep_each_part_in_its_segment() {
        let release = Release {
            id: 1,
            team_project: "octo/app".to_owned(),
            environment: "prod eu".to_owned(),
            release_id: "a?b#c%d&e".to_owned(),
            team_project_key: String::new(),
            environment_key: String::new(),
            release_name: String::new(),
            status: ReleaseStatus::Pending,
            required_approvals: None,
            reason: None,
            created_at: at("2026-11-23 10:00:00"),
            expires_at: at("2026-11-23 10:00:00"),
            decided_at: None,
            requested_for: None,
            quorum: None,
            requester_can_approve: false,
        };
        assert_eq!(
            release_path(&release),
            "releases/octo%2Fapp/prod%20eu/a%3Fb%23c%25d%26e"
        );
    }
}

// ------------------------------------------------------------- variables

/// One variable on the variables' page: a secret's value is never there.
pub struct VariableLine {
    pub name: String,
    /// None for a secret (shown masked) or an unset entry.
    pub value: Option<String>,
    /// What stands for a missing value: `•••••• secret` or `unset`.
    pub masked: &'static str,
    /// Where it comes from, or what it does.
    pub note: String,
}

/// A table of the variables' page.
pub struct VariableSection {
    pub title: String,
    pub rows: Vec<VariableLine>,
}

#[derive(Template)]
#[template(path = "ui/variables.html")]
struct VariablesTemplate<'a> {
    home: &'static str,
    heading: &'a str,
    sections: Vec<VariableSection>,
}

/// `GET /ui/projects/{team_project}/variables` (each level as stored) and
/// `…/environments/{environment}/variables` (merged).
pub fn variables_page(
    home: &'static str,
    heading: &str,
    sections: Vec<VariableSection>,
) -> HttpResponse {
    let render = VariablesTemplate {
        home,
        heading,
        sections,
    }
    .render();
    page(StatusCode::OK, render)
}
