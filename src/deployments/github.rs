//! GitHub as a deployment provider (DESIGN "GitHub as provider"): a
//! `deployment` event recorded as a deployment beside which GitHub
//! deployment it is and the request it was mapped to; each status
//! appended to such a deployment queued for GitHub; the scoped reads of
//! `/github/{owner}/{repo}/...`.

use serde::Serialize;
use serde_json::value::RawValue;

use super::document::DeploymentDocument;
use super::service::{find, view, Actor, DeploymentError, DeploymentView, Deployments};
use crate::db::deployments::{self as rows, ListFilter};
use crate::db::github_deployments::{self as github_rows, GithubDeploymentRow};
use crate::db::DbError;
use crate::domain::NewDeployment;

/// Which GitHub deployment an event named.
#[derive(Debug, Clone)]
pub struct GithubOrigin {
    pub github_id: i64,
    /// `owner/repo`.
    pub repository: String,
    pub installation_id: i64,
}

/// A deployment with the request a GitHub event was mapped to (none for
/// one recorded through `POST /deployments`).
#[derive(Debug, Clone)]
pub struct GithubView {
    pub view: DeploymentView,
    pub mapped_request: Option<String>,
}

/// The deployment document of the scoped routes: the same fields, and
/// the request the GitHub event was mapped to.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GithubDeploymentDocument {
    #[serde(flatten)]
    pub deployment: DeploymentDocument,
    /// The deployment request the GitHub `deployment` event was mapped to
    /// (`original_request` is the event as received); null for a
    /// deployment recorded through `POST /deployments`.
    #[schema(value_type = Option<Object>)]
    pub original_mapped_request: Option<Box<RawValue>>,
}

impl GithubDeploymentDocument {
    pub fn new(found: &GithubView, public_url: &str) -> Self {
        Self {
            deployment: DeploymentDocument::new(&found.view, public_url),
            original_mapped_request: found
                .mapped_request
                .as_ref()
                .and_then(|m| RawValue::from_string(m.clone()).ok()),
        }
    }
}

/// `GET /github/{owner}/{repo}/deployments`: a page, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GithubDeploymentList {
    pub deployments: Vec<GithubDeploymentDocument>,
    /// Pass as `cursor` for the next page; null on the last one.
    pub next_cursor: Option<String>,
}

/// The repository key of `github.com/{owner}/{repo}`, as deployments
/// store it.
pub fn repository_key(owner: &str, repo: &str) -> String {
    format!("github.com/{owner}/{repo}").to_lowercase()
}

impl Deployments {
    /// Records the deployment a GitHub `deployment` event stands for
    /// (`original_request` the event as received, `mapped_request` the
    /// request `new` was parsed from), and queues its first status for
    /// GitHub; or answers the one recorded for that GitHub deployment
    /// before (a redelivery). True if it was created.
    pub async fn record_from_github(
        &self,
        new: NewDeployment,
        original_request: String,
        mapped_request: String,
        origin: GithubOrigin,
    ) -> Result<(bool, GithubView), DeploymentError> {
        let github_id = origin.github_id;
        let known = self
            .db()
            .read(move |conn| {
                let Some(row) = github_rows::by_github_id(conn, github_id)? else {
                    return Ok(None);
                };
                let found = rows::by_pk(conn, row.deployment_pk)?;
                Ok(Some(GithubView {
                    view: view(conn, found)?,
                    mapped_request: Some(row.original_mapped_request),
                }))
            })
            .await?;
        if let Some(known) = known {
            return Ok((false, known));
        }
        let mapped = mapped_request.clone();
        let actor = Actor {
            name: Some("github".to_owned()),
            project: None,
        };
        let (created, view) = self
            .create_with(
                new,
                original_request,
                // Two deliveries at once: the project's unique key lets one in.
                Some(format!("github:{github_id}")),
                actor,
                move |conn, created| {
                    github_rows::insert(
                        conn,
                        &GithubDeploymentRow {
                            deployment_pk: created.pk,
                            github_id: origin.github_id,
                            repository: origin.repository,
                            installation_id: origin.installation_id,
                            original_mapped_request: mapped,
                            reported_status_id: 0,
                        },
                    )
                },
            )
            .await?;
        Ok((
            created,
            GithubView {
                view,
                mapped_request: Some(mapped_request),
            },
        ))
    }

    /// A page of one repository's deployments (the filter names it), each
    /// with its mapped request if GitHub sent it.
    pub async fn github_list(&self, filter: ListFilter) -> Result<Vec<GithubView>, DbError> {
        self.db()
            .read(move |conn| {
                let page = rows::list(conn, &filter)?;
                let pks: Vec<i64> = page.iter().map(|d| d.pk).collect();
                let origins = github_rows::of_deployments(conn, &pks)?;
                let mut found = Vec::with_capacity(page.len());
                for deployment in page {
                    let mapped_request = origins
                        .iter()
                        .find(|o| o.deployment_pk == deployment.pk)
                        .map(|o| o.original_mapped_request.clone());
                    found.push(GithubView {
                        view: view(conn, deployment)?,
                        mapped_request,
                    });
                }
                Ok(found)
            })
            .await
    }

    /// One deployment of the repository `repository_key`: another
    /// repository's is not found.
    pub async fn github_show(
        &self,
        id: String,
        repository_key: String,
        actor: Actor,
    ) -> Result<GithubView, DeploymentError> {
        self.db()
            .read(move |conn| {
                // Another repository's deployment is not found here, for
                // any key: this route shows one repository only.
                let in_repository =
                    rows::by_id(conn, &id)?.is_some_and(|d| d.repository_key == repository_key);
                if !in_repository {
                    return Ok(Err(DeploymentError::NotFound(id)));
                }
                let found = match find(conn, &id, &actor)? {
                    Ok(found) => found,
                    Err(refused) => return Ok(Err(refused)),
                };
                let mapped_request =
                    github_rows::of_deployment(conn, found.pk)?.map(|o| o.original_mapped_request);
                Ok(Ok(GithubView {
                    view: view(conn, found)?,
                    mapped_request,
                }))
            })
            .await?
    }
}
