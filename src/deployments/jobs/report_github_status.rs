//! Reports one status of a deployment GitHub sent back to GitHub ("Create
//! a deployment status", with the App's installation token), unless a
//! newer status of it was reported first: GitHub shows the last one it
//! was told as the deployment's state.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::JobContext;
use crate::db::deployments as rows;
use crate::db::github_deployments as github_rows;
use crate::db::{self, DbConnection};
use crate::domain::EventKind;
use crate::integrations::github_deployments::status_body;
use crate::integrations::outbound::OutboundError;
use crate::queue::RunAt;
use crate::queue::{Claim, Job, JobError};

/// GitHub's statuses are queued with this many attempts: a few minutes
/// of GitHub being down is ridden out, a refusal ends at once.
const REPORT_ATTEMPTS: i32 = 10;

/// Queues the report of a deployment's newest status to GitHub, if
/// GitHub sent the deployment; inside the transaction that appended it.
pub fn status_appended(conn: &mut DbConnection, deployment_pk: i64) -> diesel::QueryResult<()> {
    if github_rows::of_deployment(conn, deployment_pk)?.is_none() {
        return Ok(());
    }
    let Some(status_id) = github_rows::latest_status_id(conn, deployment_pk)? else {
        return Ok(());
    };
    crate::queue::enqueue(
        conn,
        &ReportGithubStatus {
            deployment_pk,
            status_id,
        },
        REPORT_ATTEMPTS,
        RunAt::Now,
    )
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ReportGithubStatus {
    pub deployment_pk: i64,
    /// The status reported (`deployment_statuses.id`).
    pub status_id: i64,
}

fn retried_if_transient(e: OutboundError) -> JobError {
    if e.is_transient() {
        JobError::Transient(e.to_string())
    } else {
        JobError::Permanent(e.to_string())
    }
}

impl Job for ReportGithubStatus {
    const KIND: &'static str = "report_github_status";

    type Context = JobContext;

    fn subject(&self) -> String {
        self.deployment_pk.to_string()
    }

    #[tracing::instrument(name = "run", skip_all, fields(deployment = self.deployment_pk, status = self.status_id))]
    async fn run(&self, ctx: &JobContext, claim: &Claim) -> Result<(), JobError> {
        let github = ctx
            .github
            .as_ref()
            .ok_or_else(|| JobError::Permanent("the GitHub App is not configured".to_owned()))?;
        let (pk, status_id) = (self.deployment_pk, self.status_id);
        let found = ctx
            .db
            .read(move |conn| {
                let Some(origin) = github_rows::of_deployment(conn, pk)? else {
                    return Ok(None);
                };
                let Some(status) = github_rows::status(conn, status_id)? else {
                    return Ok(None);
                };
                Ok(Some((origin, status, rows::by_pk(conn, pk)?)))
            })
            .await?;
        let Some((origin, status, deployment)) = found else {
            return Err(JobError::Permanent(
                "no such status of a GitHub deployment".to_owned(),
            ));
        };
        if origin.reported_status_id >= status_id {
            return Ok(()); // a newer status reached GitHub first
        }
        let log_url = format!("{}/deployments/{}/logs", ctx.public_url, deployment.id);
        let environment_url = status
            .environment_url
            .as_deref()
            .or(deployment.environment_url.as_deref());
        let body = status_body(
            status.state,
            status.description.as_deref(),
            &log_url,
            environment_url,
        );
        let token = github
            .installation_token(origin.installation_id)
            .await
            .map_err(retried_if_transient)?;
        claim.ensure_held(&ctx.db).await?;
        github
            .post_deployment_status(&origin.repository, origin.github_id, &token, &body)
            .await
            .map_err(retried_if_transient)?;
        let claim = claim.clone();
        let held = ctx
            .db
            .write(move |conn| {
                github_rows::mark_reported(conn, pk, status_id)?;
                Ok(claim.complete(conn)?)
            })
            .await?;
        if held {
            Ok(())
        } else {
            Err(JobError::LeaseLost)
        }
    }

    /// GitHub refused the status (or kept failing): the deployment's
    /// trail says so; the deployment itself is unchanged.
    fn give_up(
        &self,
        conn: &mut DbConnection,
        error: &str,
        attempts: i32,
    ) -> diesel::QueryResult<()> {
        let deployment = rows::by_pk(conn, self.deployment_pk)?;
        let state = github_rows::status(conn, self.status_id)?.map(|s| s.state.as_str());
        let reason = crate::queue::reason("could not report the status to GitHub", error, attempts);
        let detail = json!({
            "to": "github",
            "state": state,
            "reason": reason,
        });
        crate::deployments::service::record(
            conn,
            &deployment,
            EventKind::DeploymentGithubFailed,
            None,
            detail,
            db::now(),
        )
    }
}
