//! Tells a task waiting in Azure DevOps' callback mode that the release
//! is decided: `TaskCompleted`, succeeded only if approved.

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::JobContext;
use crate::db::{self, DbConnection};
use crate::domain::EventKind;
use crate::integrations::azure_devops::Plan;
use crate::metrics::Target;
use crate::queue::{Claim, Job, JobError};
use crate::releases::lifecycle;
use crate::releases::subscriber::Subscriber;

/// Queued when the release is decided (or at once, for a task that asks
/// after the decision), one per (PlanId, TaskInstanceId).
#[derive(Debug, Serialize, Deserialize)]
pub struct SendAzureCallback {
    pub release_pk: i64,
    pub subscriber_pk: i64,
}

impl Job for SendAzureCallback {
    const KIND: &'static str = "send_azure_callback";

    type Context = JobContext;

    fn subject(&self) -> String {
        self.release_pk.to_string()
    }

    #[tracing::instrument(name = "run", skip_all, fields(release = self.release_pk))]
    async fn run(&self, ctx: &JobContext, claim: &Claim) -> Result<(), JobError> {
        let Some(super::notify::Notice {
            subscriber,
            credential,
            view,
        }) = super::notify::load(ctx, self.subscriber_pk, self.release_pk).await?
        else {
            return Ok(()); // told already
        };
        let Subscriber::AzureDevops(callback) = subscriber else {
            return Err(JobError::Permanent(
                "the subscriber is not an Azure DevOps task".to_owned(),
            ));
        };
        let token = credential
            .ok_or_else(|| JobError::Permanent("the callback has no AuthToken".to_owned()))?;
        let status = view.release.status();
        // Azure DevOps takes the job's token as the password of Basic.
        let authorization = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!(":{token}"))
        );
        // A classic release gate's event depends on its plan's version.
        let gate_plan_version = if callback.is_gate() {
            let plan = ctx
                .outbound
                .get(Target::AzureDevops, &callback.plan_url())
                .from_caller()
                .header("Authorization", authorization.clone())
                .header("Accept", "application/json")
                .read()
                .await
                .map_err(|e| super::notify::retried_if_transient(e.context("reading the plan")))?;
            Some(Plan::parse(&plan).map_err(JobError::Permanent)?.version)
        } else {
            None
        };
        let body = callback.task_completed(status, gate_plan_version);
        let result = body["result"].clone();
        claim.ensure_held(&ctx.db).await?;
        ctx.outbound
            .post(Target::AzureDevops, &callback.events_url())
            // The PlanUrl came in the task's request headers.
            .from_caller()
            .header("Authorization", authorization)
            .json(body.to_string().into_bytes())
            .send()
            .await
            .map_err(super::notify::retried_if_transient)?;
        let detail = serde_json::json!({
            "plan_id": callback.plan_id,
            "task_instance_id": callback.task_instance_id,
            "result": result,
        });
        super::notify::record_sent(
            ctx,
            claim,
            self.subscriber_pk,
            self.release_pk,
            EventKind::CallbackSent,
            detail,
        )
        .await
    }

    fn give_up(
        &self,
        conn: &mut DbConnection,
        error: &str,
        attempts: i32,
    ) -> diesel::QueryResult<()> {
        let (plan_id, task) = match super::notify::subscriber(conn, self.subscriber_pk)? {
            Some(Subscriber::AzureDevops(c)) => (c.plan_id, c.task_instance_id),
            _ => (String::new(), String::new()),
        };
        let reason = crate::queue::reason("could not tell Azure DevOps", error, attempts);
        lifecycle::notify_failed(
            conn,
            self.release_pk,
            EventKind::CallbackFailed,
            serde_json::json!({"plan_id": plan_id, "task_instance_id": task, "reason": reason}),
            db::now(),
        )
    }
}
