//! The dashboard's deployment pages (`templates/ui/deployments.html`,
//! `deployment.html`): recent deployments, and one with its facts, its
//! statuses, the release that gates it and the tail of its log as text.
//! Askama escapes every value, the log included.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use askama::Template;
use chrono::NaiveDateTime;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::{page, time};
use crate::deployments::DeploymentView;

/// The releases list, from `/ui/deployments`.
const HOME_FROM_LIST: &str = "../ui";
/// The releases list and the deployments list, from `/ui/deployments/{id}`.
const HOME_FROM_DEPLOYMENT: &str = "../../ui";
const LIST_FROM_DEPLOYMENT: &str = "../deployments";

/// What a path segment may carry as is (RFC 3986 unreserved).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn short(sha: &str) -> String {
    sha.chars().take(12).collect()
}

#[derive(Template)]
#[template(path = "ui/deployments.html")]
struct ListTemplate {
    home: &'static str,
    rows: Vec<Row>,
}

struct Row {
    href: String,
    id: String,
    team_project: String,
    environment: String,
    repository_url: String,
    short_sha: String,
    status: &'static str,
    age: String,
}

/// `GET /ui/deployments`: the newest deployments.
pub fn deployments_page(views: &[DeploymentView]) -> HttpResponse {
    let rows = views
        .iter()
        .map(|v| {
            let d = &v.deployment;
            Row {
                href: format!("deployments/{}", utf8_percent_encode(&d.id, SEGMENT)),
                id: d.id.clone(),
                team_project: d.team_project.clone(),
                environment: d.environment.clone(),
                repository_url: d.repository_url.clone(),
                short_sha: short(&d.commit_sha),
                status: d.status.as_str(),
                age: time(d.created_at),
            }
        })
        .collect();
    page(
        StatusCode::OK,
        ListTemplate {
            home: HOME_FROM_LIST,
            rows,
        }
        .render(),
    )
}

#[derive(Template)]
#[template(path = "ui/deployment.html")]
struct DeploymentTemplate<'a> {
    home: &'static str,
    list: &'static str,
    id: &'a str,
    team_project: &'a str,
    environment: &'a str,
    repository_url: &'a str,
    commit_sha: &'a str,
    short_sha: String,
    git_ref: Option<&'a str>,
    stack_name: Option<&'a str>,
    version: Option<&'a str>,
    status: &'static str,
    created: String,
    finished: Option<String>,
    environment_url: Option<&'a str>,
    release: Option<ReleaseLink>,
    statuses: Vec<StatusLine<'a>>,
    log: String,
    truncated: bool,
    tail_kib: usize,
}

struct ReleaseLink {
    href: String,
    name: String,
    status: &'static str,
}

struct StatusLine<'a> {
    at: String,
    state: &'static str,
    actor: Option<&'a str>,
    description: Option<&'a str>,
}

/// `GET /ui/deployments/{id}`: `log` is the tail of its log (`tail_bytes`
/// at most, `truncated` if older log was left out).
pub fn deployment_page(
    view: &DeploymentView,
    log: &[u8],
    truncated: bool,
    tail_bytes: usize,
    _now: NaiveDateTime,
) -> HttpResponse {
    let d = &view.deployment;
    let part = |s: &str| utf8_percent_encode(s, SEGMENT).to_string();
    let render = DeploymentTemplate {
        home: HOME_FROM_DEPLOYMENT,
        list: LIST_FROM_DEPLOYMENT,
        id: &d.id,
        team_project: &d.team_project,
        environment: &d.environment,
        repository_url: &d.repository_url,
        commit_sha: &d.commit_sha,
        short_sha: short(&d.commit_sha),
        git_ref: d.git_ref.as_deref(),
        stack_name: d.stack_name.as_deref(),
        version: d.version.as_deref(),
        status: d.status.as_str(),
        created: time(d.created_at),
        finished: d.finished_at.map(time),
        environment_url: d.environment_url.as_deref(),
        release: view.release.as_ref().map(|r| {
            let r = &r.release;
            ReleaseLink {
                href: format!(
                    "{HOME_FROM_DEPLOYMENT}/releases/{}/{}/{}",
                    part(&r.team_project),
                    part(&r.environment),
                    part(&r.release_id)
                ),
                name: r.release_name.clone(),
                status: r.status().as_str(),
            }
        }),
        statuses: view
            .statuses
            .iter()
            .map(|s| StatusLine {
                at: time(s.at),
                state: s.state.as_str(),
                actor: s.actor.as_deref(),
                description: s.description.as_deref(),
            })
            .collect(),
        // The tail may start inside a character: replaced, not refused.
        log: String::from_utf8_lossy(log).into_owned(),
        truncated,
        tail_kib: tail_bytes / 1024,
    }
    .render();
    page(StatusCode::OK, render)
}
