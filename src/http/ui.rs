//! The operator's dashboard: `GET /ui` lists releases (newest first, with
//! filters and pages), `GET /ui/releases/{team_project}/{environment}/{release_id}`
//! shows one with its approvers, their decisions and its audit trail.
//! Read-only, no script, rendered by `views::dashboard` (every answer a
//! page, errors too: the dashboard is for browsers); an admin key when
//! keys are required, which a browser sends as the password of HTTP Basic.

use actix_web::{web, HttpRequest, HttpResponse};

use super::problem::ApiError;
use super::release::{encode_cursor, ListQuery};
#[allow(unused_imports)] // named in the OpenAPI attributes
use super::schemas::DashboardProblems;
use super::views::{self, HOME_FROM_LIST, HOME_FROM_RELEASE};
use super::{parse_query, AppState};
use crate::db::{self, releases::ListFilter};
use crate::domain::{FieldError, ReleaseKey};
use crate::releases::lifecycle;

/// 401 without a key (when keys are required), 403 for a project key.
pub(super) async fn admin_only(state: &AppState, req: &HttpRequest) -> Result<(), ApiError> {
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
    list_page(&state, &req)
        .await
        .unwrap_or_else(|e| views::error_page(&e, Some(HOME_FROM_LIST)))
}

async fn list_page(state: &AppState, req: &HttpRequest) -> Result<HttpResponse, ApiError> {
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
    let list = views::ListPage {
        project: query.project.clone().unwrap_or_default(),
        environment: query.environment.clone().unwrap_or_default(),
        status: given(&query.status).unwrap_or_default().to_owned(),
        limit: given(&query.limit).map(str::to_owned),
        filtered: [&query.project, &query.environment, &query.status]
            .into_iter()
            .any(|v| given(v).is_some()),
        older_page,
        newest: older_page.then(|| query.link(None)),
        older,
    };
    Ok(views::list_page(list, &page, now))
}

// ---------------------------------------------------------------- release

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
    release_page(&state, &req, path.into_inner())
        .await
        .unwrap_or_else(|e| views::error_page(&e, Some(HOME_FROM_RELEASE)))
}

async fn release_page(
    state: &AppState,
    req: &HttpRequest,
    (team_project, environment, release_id): (String, String, String),
) -> Result<HttpResponse, ApiError> {
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
    Ok(views::dashboard_release_page(&view, trail, now))
}

// ------------------------------------------------------------- variables

/// The list, as a link from a project's variables page.
const HOME_FROM_PROJECT_VARIABLES: &str = "../../../ui";
/// The list, as a link from an environment's variables page.
const HOME_FROM_ENVIRONMENT_VARIABLES: &str = "../../../../../ui";

fn line(name: String, value: Option<String>, secret: bool, note: String) -> views::VariableLine {
    views::VariableLine {
        name,
        value: if secret { None } else { value },
        masked: if secret {
            "•••••• secret"
        } else {
            "unset"
        },
        note,
    }
}

/// `GET /ui/projects/{team_project}/variables`: each level as stored,
/// secrets masked.
#[utoipa::path(method(get, head), operation_id = "dashboardProjectVariables", path = "/ui/projects/{team_project}/variables", tag = "operations",
    params(("team_project" = String, Path)),
    responses(
        (status = 200, description = "The project's variables, each level (HTML; secrets masked)", content_type = "text/html", body = String),
        DashboardProblems,
    ))]
#[tracing::instrument(skip_all)]
pub async fn project_variables(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    project_variables_page(&state, &req, path.into_inner())
        .await
        .unwrap_or_else(|e| views::error_page(&e, Some(HOME_FROM_PROJECT_VARIABLES)))
}

async fn project_variables_page(
    state: &AppState,
    req: &HttpRequest,
    team_project: String,
) -> Result<HttpResponse, ApiError> {
    admin_only(state, req).await?;
    let mut errors = Vec::new();
    let team_project = crate::domain::release::key_part(
        "team_project",
        &team_project,
        crate::domain::release::MAX_TEAM_PROJECT,
        &mut errors,
    )
    .ok_or_else(|| bad_fields(ApiError::Validation(errors)))?;
    let stored = state.variables.stored(&team_project).await?;
    let level =
        |vars: std::collections::BTreeMap<String, crate::environments::variables::StoredEntry>| {
            vars.into_iter()
                .map(|(name, e)| {
                    let note = if e.unset {
                        "hides the project's value here"
                    } else if e.secret {
                        "released to runners only"
                    } else {
                        ""
                    };
                    line(name, e.value, e.secret, note.to_owned())
                })
                .collect()
        };
    let mut sections = vec![views::VariableSection {
        title: "Every environment (the project's level)".to_owned(),
        rows: level(stored.project),
    }];
    for (environment, vars) in stored.environments {
        sections.push(views::VariableSection {
            title: format!("Environment {environment}"),
            rows: level(vars),
        });
    }
    Ok(views::variables_page(
        HOME_FROM_PROJECT_VARIABLES,
        &format!("Variables of {team_project}"),
        sections,
    ))
}

/// `GET /ui/projects/{team_project}/environments/{environment}/variables`:
/// the merged result, secrets masked.
#[utoipa::path(method(get, head), operation_id = "dashboardEnvironmentVariables", path = "/ui/projects/{team_project}/environments/{environment}/variables", tag = "operations",
    params(("team_project" = String, Path), ("environment" = String, Path)),
    responses(
        (status = 200, description = "The environment's merged variables (HTML; secrets masked)", content_type = "text/html", body = String),
        DashboardProblems,
    ))]
#[tracing::instrument(skip_all)]
pub async fn environment_variables(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    environment_variables_page(&state, &req, path.into_inner())
        .await
        .unwrap_or_else(|e| views::error_page(&e, Some(HOME_FROM_ENVIRONMENT_VARIABLES)))
}

async fn environment_variables_page(
    state: &AppState,
    req: &HttpRequest,
    (team_project, environment): (String, String),
) -> Result<HttpResponse, ApiError> {
    use crate::domain::release::{key_part, MAX_ENVIRONMENT, MAX_TEAM_PROJECT};
    admin_only(state, req).await?;
    let mut errors = Vec::new();
    let project = key_part("team_project", &team_project, MAX_TEAM_PROJECT, &mut errors);
    let env = key_part("environment", &environment, MAX_ENVIRONMENT, &mut errors);
    let (Some(team_project), Some(environment)) = (project, env) else {
        return Err(bad_fields(ApiError::Validation(errors)));
    };
    let merged = state.variables.merged(&team_project, &environment).await?;
    let rows = merged
        .into_iter()
        .map(|(name, e)| {
            let note = format!("from the {}", e.from.as_str());
            line(name, e.value, e.secret, note)
        })
        .collect();
    Ok(views::variables_page(
        HOME_FROM_ENVIRONMENT_VARIABLES,
        &format!("Variables of {team_project} in {environment}"),
        vec![views::VariableSection {
            title: "Merged (the environment's entry wins)".to_owned(),
            rows,
        }],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

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
