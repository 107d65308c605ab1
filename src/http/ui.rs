//! The operator's dashboard: `GET /ui` lists releases (newest first, with
//! filters and pages), `GET /ui/releases/{team_project}/{environment}/{release_id}`
//! shows one with its approvers, their decisions and its audit trail.
//! Server-rendered from `templates/ui/` (askama escapes every value),
//! read-only, no script; an admin key when keys are required, which a
//! browser sends as the password of HTTP Basic.
//!
//! Links are relative (`ui`, `ui/releases/...`, `../../../../ui`), so the
//! dashboard also works behind a proxy that serves Greenlight under a path.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use askama::Template;
use chrono::NaiveDateTime;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::problem::ApiError;
use super::release::{encode_cursor, ListQuery};
#[allow(unused_imports)] // named in the OpenAPI attributes
use super::schemas::DashboardProblems;
use super::{harden, parse_query, AppState};
use crate::db::events::EventRow;
use crate::db::{self, releases::ListFilter};
use crate::domain::{Decision, FieldError, ReleaseKey, ReleaseStatus};
use crate::releases::lifecycle::{self, ReleaseView};

const STATUSES: [ReleaseStatus; 5] = [
    ReleaseStatus::Pending,
    ReleaseStatus::Approved,
    ReleaseStatus::Rejected,
    ReleaseStatus::Expired,
    ReleaseStatus::Failed,
];

/// The list, as a link from the list's own page (`/ui`).
const HOME_FROM_LIST: &str = "ui";
/// The list, as a link from a release's page (four segments below `/`).
const HOME_FROM_RELEASE: &str = "../../../../ui";

/// 401 without a key (when keys are required), 403 for a project key.
async fn admin_only(state: &AppState, req: &HttpRequest) -> Result<(), ApiError> {
    state
        .auth
        .authenticate(&state.db, req)
        .await?
        .require_admin()
}

// ------------------------------------------------------------------ list

/// The list's query string: what the filter form sends (blank fields
/// included), the page size and the cursor of the "Older" link.
#[derive(Debug, Default, serde::Deserialize)]
struct UiQuery {
    project: Option<String>,
    environment: Option<String>,
    status: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// A form's blank field filters nothing.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.trim().is_empty())
}

impl UiQuery {
    /// The filter, by the rules of `GET /releases`; a 400 naming each bad
    /// value.
    fn filter(&self) -> Result<ListFilter, ApiError> {
        let owned = |v: &Option<String>| given(v).map(str::to_owned);
        ListQuery {
            team_project: owned(&self.project),
            environment: owned(&self.environment),
            status: owned(&self.status),
            limit: owned(&self.limit),
            cursor: owned(&self.cursor),
        }
        .parse()
        .map_err(bad_fields)
    }

    /// The query string of a link to the list with the same filters and
    /// page size, starting below `cursor` (the first page without one).
    fn link(&self, cursor: Option<&str>) -> String {
        let pairs: Vec<(&str, &str)> = [
            ("project", given(&self.project)),
            ("environment", given(&self.environment)),
            ("status", given(&self.status)),
            ("limit", given(&self.limit)),
            ("cursor", cursor),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| (name, v)))
        .collect();
        let query = serde_urlencoded::to_string(pairs).unwrap_or_default();
        if query.is_empty() {
            HOME_FROM_LIST.to_owned()
        } else {
            format!("{HOME_FROM_LIST}?{query}")
        }
    }
}

/// Validation errors as a 400 that says what is wrong, in the dashboard's
/// words.
fn bad_fields(error: ApiError) -> ApiError {
    let ApiError::Validation(errors) = error else {
        return error;
    };
    let what: Vec<String> = errors
        .iter()
        .map(|FieldError { field, message }| {
            let field = match *field {
                "TeamProject" => "project",
                "Environment" => "environment",
                "ReleaseId" => "release id",
                other => other,
            };
            format!("{field} {message}")
        })
        .collect();
    ApiError::BadRequest(what.join("; "))
}

#[derive(Template)]
#[template(path = "ui/list.html")]
struct ListPage {
    home: &'static str,
    project: String,
    environment: String,
    statuses: Vec<StatusOption>,
    limit: Option<String>,
    filtered: bool,
    older_page: bool,
    rows: Vec<Row>,
    newest: Option<String>,
    older: Option<String>,
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
    status: &'static str,
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
            status: r.status().as_str(),
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

/// `GET /ui`: releases, newest first, filtered, a page at a time.
#[utoipa::path(method(get, head), operation_id = "dashboard", path = "/ui", tag = "operations",
    params(
        ("project" = Option<String>, Query),
        ("environment" = Option<String>, Query),
        ("status" = Option<String>, Query, description = "pending, approved, rejected, expired or failed; empty for all"),
        ("limit" = Option<String>, Query, description = "1 to 200, default 50"),
        ("cursor" = Option<String>, Query),
    ),
    responses(
        (status = 200, description = "The dashboard's list (HTML)", content_type = "text/html", body = String),
        DashboardProblems,
    ))]
#[tracing::instrument(skip_all)]
pub async fn list(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    respond(list_page(&state, &req).await, HOME_FROM_LIST)
}

async fn list_page(state: &AppState, req: &HttpRequest) -> Result<String, ApiError> {
    admin_only(state, req).await?;
    let query: UiQuery = parse_query(req)?;
    let mut filter = query.filter()?;
    let limit = filter.limit as usize;
    // One more than shown: an "Older" link only when there is an older one.
    filter.limit += 1;
    let now = db::now();
    let mut page = state
        .db
        .read(move |conn| Ok(lifecycle::list(conn, &filter, now)?))
        .await?;
    let more = page.len() > limit;
    page.truncate(limit);
    let older = more
        .then(|| page.last())
        .flatten()
        .map(|last| query.link(Some(&encode_cursor(last.release.id))));
    let older_page = given(&query.cursor).is_some();
    let status = given(&query.status).unwrap_or_default();
    let render = ListPage {
        home: HOME_FROM_LIST,
        project: query.project.clone().unwrap_or_default(),
        environment: query.environment.clone().unwrap_or_default(),
        statuses: STATUSES
            .iter()
            .map(|s| StatusOption {
                value: s.as_str(),
                selected: s.as_str() == status,
            })
            .collect(),
        limit: given(&query.limit).map(str::to_owned),
        filtered: [&query.project, &query.environment, &query.status]
            .into_iter()
            .any(|v| given(v).is_some()),
        older_page,
        rows: page.iter().map(|v| Row::of(v, now)).collect(),
        newest: older_page.then(|| query.link(None)),
        older,
    }
    .render();
    render.map_err(|e| ApiError::Internal(e.into()))
}

// ---------------------------------------------------------------- release

#[derive(Template)]
#[template(path = "ui/release.html")]
struct ReleasePage {
    home: &'static str,
    name: String,
    release_id: String,
    team_project: String,
    environment: String,
    status: &'static str,
    requested_for: Option<String>,
    approvals: String,
    created: String,
    age: String,
    expires: String,
    decided: Option<String>,
    reason: Option<String>,
    fetched: bool,
    approvers: Vec<ApproverRow>,
    events: Vec<EventLine>,
}

struct ApproverRow {
    name: Option<String>,
    email: String,
    /// "approved", "rejected", "waiting"; "no decision" once the release
    /// was decided without them.
    decision: &'static str,
    class: &'static str,
    when: Option<String>,
    comment: Option<String>,
}

struct EventLine {
    at: String,
    kind: String,
    actor: Option<String>,
    detail: String,
}

/// `GET /ui/releases/{team_project}/{environment}/{release_id}`.
#[utoipa::path(method(get, head), operation_id = "dashboardRelease", path = "/ui/releases/{team_project}/{environment}/{release_id}", tag = "operations",
    params(
        ("team_project" = String, Path),
        ("environment" = String, Path),
        ("release_id" = String, Path),
    ),
    responses(
        (status = 200, description = "One release with its approvers, decisions and events (HTML)", content_type = "text/html", body = String),
        (status = 404, description = "No such release", content_type = "text/html", body = String),
        DashboardProblems,
    ))]
#[tracing::instrument(skip_all)]
pub async fn release(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> HttpResponse {
    respond(
        release_page(&state, &req, path.into_inner()).await,
        HOME_FROM_RELEASE,
    )
}

async fn release_page(
    state: &AppState,
    req: &HttpRequest,
    (team_project, environment, release_id): (String, String, String),
) -> Result<String, ApiError> {
    admin_only(state, req).await?;
    let key = ReleaseKey::parse(&team_project, Some(&environment), &release_id)
        .map_err(|errors| bad_fields(ApiError::Validation(errors)))?;
    let now = db::now();
    let (view, trail) = state
        .db
        .read(move |conn| Ok(lifecycle::find_with_events(conn, &key, now)?))
        .await?
        .ok_or(ApiError::ReleaseNotFound {
            team_project,
            environment,
            release_id,
        })?;
    let r = &view.release;
    let status = r.status();
    let tally = view.tally();
    let page = ReleasePage {
        home: HOME_FROM_RELEASE,
        name: r.release_name.clone(),
        release_id: r.release_id.clone(),
        team_project: r.team_project.clone(),
        environment: r.environment.clone(),
        status: status.as_str(),
        requested_for: r.requested_for.clone(),
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
        reason: r.reason.clone(),
        fetched: tally.required.is_some(),
        approvers: view
            .approvals
            .iter()
            .map(|a| {
                let (decision, class) = match a.decision {
                    Some(Decision::Approved) => ("approved", "approved"),
                    Some(Decision::Rejected) => ("rejected", "rejected"),
                    _ if status == ReleaseStatus::Pending => ("waiting", "waiting"),
                    _ => ("no decision", "no-decision"),
                };
                ApproverRow {
                    name: a.name.clone(),
                    email: a.email.clone(),
                    decision,
                    class,
                    when: a.decided_at.map(time),
                    comment: a.comment.clone(),
                }
            })
            .collect(),
        events: trail.into_iter().map(EventLine::of).collect(),
    }
    .render();
    page.map_err(|e| ApiError::Internal(e.into()))
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

// ---------------------------------------------------------------- answers

#[derive(Template)]
#[template(path = "ui/error.html")]
struct ErrorPage<'a> {
    home: &'static str,
    status: u16,
    title: &'a str,
    detail: String,
}

/// Every answer is a page (errors too: the dashboard is for browsers),
/// hardened like the approver's pages.
fn respond(page: Result<String, ApiError>, home: &'static str) -> HttpResponse {
    let mut response = match page {
        Ok(body) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(body),
        Err(e) => error_page(&e, home),
    };
    harden(&mut response);
    response
}

fn error_page(error: &ApiError, home: &'static str) -> HttpResponse {
    super::problem::log(error);
    let status = error.status_code();
    let (title, detail) = match error {
        ApiError::Unauthorized(_) => (
            "Admin key required",
            format!(
                "{error}. In a browser: any user name, and an admin API key \
                 (greenlight api-key create --admin) as the password."
            ),
        ),
        _ => (error.title(), error.to_string()),
    };
    let page = ErrorPage {
        home,
        status: status.as_u16(),
        title,
        detail,
    };
    let mut response = match page.render() {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "rendering a page failed");
            return HttpResponse::InternalServerError().finish();
        }
    };
    let headers = response.headers_mut();
    if matches!(error, ApiError::Unauthorized(_)) {
        // The browser asks for the key.
        headers.insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static(r#"Basic realm="greenlight""#),
        );
    }
    if let Some(secs) = error.retry_after() {
        headers.insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
    }
    response
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
fn release_path(r: &crate::db::models::Release) -> String {
    let part = |s: &str| utf8_percent_encode(s, SEGMENT).to_string();
    format!(
        "releases/{}/{}/{}",
        part(&r.team_project),
        part(&r.environment),
        part(&r.release_id)
    )
}

/// A stored time (UTC) as the dashboard shows it: `2026-11-23 10:15:02 UTC`.
fn time(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
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
    fn times_say_they_are_utc() {
        assert_eq!(time(at("2026-11-23 10:15:02")), "2026-11-23 10:15:02 UTC");
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
        let release = crate::db::models::Release {
            id: 1,
            team_project: "octo/app".to_owned(),
            environment: "prod eu".to_owned(),
            release_id: "a?b#c%d&e".to_owned(),
            team_project_key: String::new(),
            environment_key: String::new(),
            release_name: String::new(),
            status: crate::domain::ReleaseStatus::Pending,
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

    #[test]
    fn links_carry_the_filters_and_blank_fields_filter_nothing() {
        let query = UiQuery {
            project: Some("Dev x".to_owned()),
            environment: Some(String::new()),
            status: Some("approved".to_owned()),
            limit: Some("10".to_owned()),
            cursor: Some("c5".to_owned()),
        };
        assert_eq!(
            query.link(Some("c3")),
            "ui?project=Dev+x&status=approved&limit=10&cursor=c3"
        );
        assert_eq!(
            query.link(None),
            "ui?project=Dev+x&status=approved&limit=10"
        );
        assert_eq!(UiQuery::default().link(None), "ui");
        let filter = query.filter().unwrap();
        assert_eq!(filter.environment_key, None);
        assert_eq!(filter.team_project_key.as_deref(), Some("dev x"));
        assert_eq!(filter.limit, 10);
        assert_eq!(filter.before, Some(5));
    }

    #[test]
    fn bad_filters_say_what_is_wrong() {
        let query = UiQuery {
            status: Some("done".to_owned()),
            limit: Some("0".to_owned()),
            ..UiQuery::default()
        };
        let ApiError::BadRequest(why) = query.filter().unwrap_err() else {
            panic!("a 400");
        };
        assert_eq!(
            why,
            "status must be pending, approved, rejected, expired or failed; \
             limit must be a whole number from 1 to 200"
        );
    }
}
