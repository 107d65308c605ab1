//! Posts a deployment's event (`deployment.created`, `deployment.status`,
//! `deployment.finished`) to its project's webhook, signed as Standard
//! Webhooks sign (`integrations::webhooks`), like the releases wing's
//! decisions: `{type, timestamp, data}`, `data` the deployment document
//! as of the status the event is about (without `original_request`).

use serde::{Deserialize, Serialize};

use super::JobContext;
use crate::db::deployments as rows;
use crate::db::{self, DbConnection};
use crate::deployments::document::DeploymentDocument;
use crate::deployments::DeploymentView;
use crate::domain::{EventKind, ReleaseKey};
use crate::integrations::webhooks;
use crate::queue::{Claim, Job, JobError};
use crate::releases::document::rfc3339;

/// Queued with the status it is about. The body is the deployment as of
/// that status, so every attempt sends the same body; the delivery id
/// (hex) is fixed when queued, so a receiver deduplicates retries by it.
#[derive(Debug, Serialize, Deserialize)]
pub struct SendDeploymentWebhook {
    pub deployment_pk: i64,
    pub status_id: i64,
    pub r#type: String,
    pub delivery_id: String,
}

impl Job for SendDeploymentWebhook {
    const KIND: &'static str = "send_deployment_webhook";

    type Context = JobContext;

    fn subject(&self) -> String {
        self.deployment_pk.to_string()
    }

    #[tracing::instrument(name = "run", skip_all, fields(deployment = self.deployment_pk))]
    async fn run(&self, ctx: &JobContext, claim: &Claim) -> Result<(), JobError> {
        let (pk, status_id) = (self.deployment_pk, self.status_id);
        let view = ctx
            .db
            .read(move |conn| Ok(as_of(conn, pk, status_id)?))
            .await
            .map_err(|e| JobError::Transient(e.to_string()))?;
        let Some((view, occurred)) = view else {
            return Err(JobError::Permanent("no such deployment status".to_owned()));
        };
        let d = &view.deployment;
        let key = ReleaseKey::parse(&d.team_project, Some(&d.environment), "deployment")
            .map_err(|_| JobError::Permanent("the stored project is not valid".to_owned()))?;
        // The project's webhook as configured now: one removed since is
        // not called any more.
        let (Some(url), Some(keys)) = (
            ctx.policies.webhook_url(&key),
            ctx.policies.webhook_keys(&key),
        ) else {
            return Ok(());
        };
        let mut data = serde_json::to_value(DeploymentDocument::new(&view, &ctx.public_url))
            .map_err(|e| JobError::Permanent(format!("the webhook body: {e}")))?;
        if let Some(fields) = data.as_object_mut() {
            fields.remove("original_request");
        }
        let body = serde_json::to_vec(&serde_json::json!({
            "type": self.r#type,
            "timestamp": rfc3339(occurred),
            "data": data,
        }))
        .map_err(|e| JobError::Permanent(format!("the webhook body: {e}")))?;
        claim.ensure_held(&ctx.db).await?;
        webhooks::deliver(&ctx.outbound, url, keys, &self.delivery_id, body)
            .await
            .map_err(JobError::from_webhook)?;
        Ok(())
    }

    fn give_up(
        &self,
        conn: &mut DbConnection,
        error: &str,
        attempts: i32,
    ) -> diesel::QueryResult<()> {
        let d = rows::by_pk(conn, self.deployment_pk)?;
        let reason = crate::queue::reason("could not deliver the webhook", error, attempts);
        crate::deployments::service::record(
            conn,
            &d,
            EventKind::WebhookFailed,
            None,
            serde_json::json!({
                "type": self.r#type,
                "delivery": self.delivery_id,
                "reason": reason,
            }),
            db::now(),
        )
    }
}

/// The deployment as it was when status `status_id` was appended, and
/// when that was; `None` if there is no such status.
fn as_of(
    conn: &mut DbConnection,
    pk: i64,
    status_id: i64,
) -> diesel::QueryResult<Option<(DeploymentView, chrono::NaiveDateTime)>> {
    let mut deployment = rows::by_pk(conn, pk)?;
    let statuses: Vec<_> = rows::statuses_of(conn, &[pk])?
        .into_iter()
        .filter(|s| s.id <= status_id)
        .collect();
    let Some(last) = statuses.last().cloned() else {
        return Ok(None);
    };
    deployment.status = last.state;
    deployment.updated_at = last.at;
    if !last.state.is_final() {
        deployment.finished_at = None;
    }
    let release = deployment
        .release_pk
        .map(|r| crate::releases::lifecycle::view_of(conn, r, db::now()))
        .transpose()?;
    Ok(Some((
        DeploymentView {
            deployment,
            statuses,
            release,
        },
        last.at,
    )))
}
