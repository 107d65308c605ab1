//! The dashboard's deployments: `GET /ui/deployments` (the newest) and
//! `GET /ui/deployments/{id}` (one, with its statuses, the release that
//! gates it and the tail of its log, refreshed by a link: no script). Like
//! the rest of the dashboard, for an admin key (`ui::admin_only`).

use actix_web::{web, HttpRequest, HttpResponse};

use super::problem::ApiError;
#[allow(unused_imports)] // named in the OpenAPI attributes
use super::schemas::DashboardProblems;
use super::ui::admin_only;
use super::views;
use super::AppState;
use crate::db::deployments::ListFilter;
use crate::deployments::Actor;

/// How much of a log the page shows: its end, where a deployment fails.
const LOG_TAIL: usize = 256 * 1024;
/// Deployments the list shows.
const RECENT: i64 = 100;

/// `GET /ui/deployments`.
#[utoipa::path(method(get, head), operation_id = "dashboardDeployments", path = "/ui/deployments", tag = "operations",
    responses(
        (status = 200, description = "The newest deployments (HTML)", content_type = "text/html", body = String),
        DashboardProblems,
    ))]
#[tracing::instrument(skip_all)]
pub async fn list(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    list_page(&state, &req)
        .await
        .unwrap_or_else(|e| views::error_page(&e, Some("../ui")))
}

async fn list_page(state: &AppState, req: &HttpRequest) -> Result<HttpResponse, ApiError> {
    admin_only(state, req).await?;
    let page = state
        .deployments
        .list(ListFilter {
            limit: RECENT,
            ..ListFilter::default()
        })
        .await?;
    Ok(views::deployments_page(&page))
}

/// `GET /ui/deployments/{id}`.
#[utoipa::path(method(get, head), operation_id = "dashboardDeployment", path = "/ui/deployments/{id}", tag = "operations",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "One deployment with its statuses and the end of its log (HTML)", content_type = "text/html", body = String),
        (status = 404, description = "No such deployment", content_type = "text/html", body = String),
        DashboardProblems,
    ))]
#[tracing::instrument(skip_all)]
pub async fn deployment(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    deployment_page(&state, &req, path.into_inner())
        .await
        .unwrap_or_else(|e| views::error_page(&e, Some("../../ui")))
}

async fn deployment_page(
    state: &AppState,
    req: &HttpRequest,
    id: String,
) -> Result<HttpResponse, ApiError> {
    admin_only(state, req).await?;
    let well_formed = id
        .strip_prefix("dpl_")
        .is_some_and(|ulid| ulid.len() == 26 && ulid.bytes().all(|b| b.is_ascii_alphanumeric()));
    if !well_formed {
        return Err(ApiError::DeploymentNotFound(id.escape_debug().to_string()));
    }
    let (view, log, truncated) = state
        .deployments
        .show_with_tail(id, LOG_TAIL, Actor::default())
        .await?;
    Ok(views::deployment_page(
        &view,
        &log,
        truncated,
        LOG_TAIL,
        crate::db::now(),
    ))
}
