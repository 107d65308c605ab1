//! Posts a stack's event (`stack.lease_expired`) to its project's webhook,
//! signed as Standard Webhooks sign, like the other wings' events:
//! `{type, timestamp, data}`, `data` the stack in the seed's shape as of
//! the event (never the lease's token).

use serde::{Deserialize, Serialize};

use super::JobContext;
use crate::db::DbConnection;
use crate::domain::{EventKind, ReleaseKey};
use crate::integrations::webhooks;
use crate::queue::{Claim, Job, JobError};
use crate::stacks::changes;

/// Queued in the event's transaction with the whole body, so every
/// attempt sends the same one; the delivery id (hex) is fixed then too,
/// so a receiver deduplicates retries by it.
#[derive(Debug, Serialize, Deserialize)]
pub struct SendStackWebhook {
    pub team_project: String,
    pub team_project_key: String,
    pub r#type: String,
    pub delivery_id: String,
    pub body: serde_json::Value,
}

impl Job for SendStackWebhook {
    const KIND: &'static str = "send_stack_webhook";

    type Context = JobContext;

    fn subject(&self) -> String {
        self.delivery_id.clone()
    }

    #[tracing::instrument(name = "run", skip_all, fields(delivery = %self.delivery_id))]
    async fn run(&self, ctx: &JobContext, claim: &Claim) -> Result<(), JobError> {
        // A project-level webhook: no environment.
        let key = ReleaseKey::parse(&self.team_project, None, "stack")
            .map_err(|_| JobError::Permanent("the stored project is not valid".to_owned()))?;
        // The project's webhook as configured now: one removed since is
        // not called any more.
        let (Some(url), Some(keys)) = (
            ctx.policies.webhook_url(&key),
            ctx.policies.webhook_keys(&key),
        ) else {
            return Ok(());
        };
        let body = serde_json::to_vec(&self.body)
            .map_err(|e| JobError::Permanent(format!("the webhook body: {e}")))?;
        claim.ensure_held(&ctx.db).await?;
        webhooks::deliver(&ctx.outbound, url, keys, &self.delivery_id, body)
            .await
            .map_err(JobError::from_webhook)
    }

    fn give_up(
        &self,
        conn: &mut DbConnection,
        error: &str,
        attempts: i32,
    ) -> diesel::QueryResult<()> {
        let reason = crate::queue::reason("could not deliver the webhook", error, attempts);
        changes::record(
            conn,
            &self.team_project_key,
            EventKind::WebhookFailed,
            None,
            serde_json::json!({
                "type": self.r#type,
                "delivery": self.delivery_id,
                "reason": reason,
            }),
            crate::db::now(),
        )
    }
}
