//! Posts a decided release to its policy's webhook, signed as Standard
//! Webhooks sign (`integrations::webhooks`).

use serde::{Deserialize, Serialize};

use super::JobContext;
use crate::db::{self, DbConnection};
use crate::domain::EventKind;
use crate::domain::ReleaseKey;
use crate::integrations::webhooks;
use crate::queue::{Claim, Job, JobError};
use crate::redact::url_for_logs;
use crate::releases::document::{rfc3339, StatusDocument};
use crate::releases::lifecycle;
use crate::releases::subscriber::Subscriber;

/// Queued when the release is decided, one per webhook subscriber. The
/// delivery id (`webhook-id`, hex: no `.`, which the signed text uses as a
/// separator) is fixed then: a retried delivery has the same id, so a
/// receiver deduplicates by it.
#[derive(Debug, Serialize, Deserialize)]
pub struct SendWebhook {
    pub release_pk: i64,
    pub subscriber_pk: i64,
    pub delivery_id: String,
}

impl Job for SendWebhook {
    const KIND: &'static str = "send_webhook";

    type Context = JobContext;

    fn subject(&self) -> String {
        self.release_pk.to_string()
    }

    #[tracing::instrument(name = "run", skip_all, fields(release = self.release_pk))]
    async fn run(&self, ctx: &JobContext, claim: &Claim) -> Result<(), JobError> {
        let Some(super::notify::Notice {
            subscriber, view, ..
        }) = super::notify::load(ctx, self.subscriber_pk, self.release_pk).await?
        else {
            return Ok(()); // told already
        };
        let Subscriber::Webhook { url } = subscriber else {
            return Err(JobError::Permanent(
                "the subscriber is not a webhook".to_owned(),
            ));
        };
        let document = StatusDocument::from(&view);
        let event = EventKind::settled(view.release.status())
            .ok_or_else(|| JobError::Permanent("the release is not decided".to_owned()))?
            .as_str();
        // Standard Webhooks' payload. Its timestamp is the decision's (when
        // the event occurred), so every attempt sends the same body.
        let occurred = view.release.decided_at.unwrap_or_else(db::now);
        let body = serde_json::to_vec(&serde_json::json!({
            "type": event,
            "timestamp": rfc3339(occurred),
            "data": document,
        }))
        .map_err(|e| JobError::Permanent(format!("the webhook body: {e}")))?;
        // The secret is resolved now, from the policy in effect, unlike the
        // URL (fixed when the release was created): a receiver that rotated
        // its secret meanwhile gets retries signed with the new one (and the
        // previous one while `webhook_secret_previous` is set), and a leaked
        // secret, once replaced, signs nothing more.
        let release = &view.release;
        let key = ReleaseKey::parse(
            &release.team_project,
            Some(&release.environment),
            &release.release_id,
        )
        .map_err(|_| JobError::Permanent("the stored release key is not valid".to_owned()))?;
        let keys = ctx.policies.webhook_keys(&key).ok_or_else(|| {
            JobError::Permanent(
                "no webhook_secret is configured for the release's project and environment \
                 any more"
                    .to_owned(),
            )
        })?;
        claim.ensure_held(&ctx.db).await?;
        webhooks::deliver(&ctx.outbound, &url, keys, &self.delivery_id, body)
            .await
            .map_err(JobError::from_webhook)?;
        let detail = serde_json::json!({"to": url_for_logs(&url), "delivery": self.delivery_id, "type": event});
        super::notify::record_sent(
            ctx,
            claim,
            self.subscriber_pk,
            self.release_pk,
            EventKind::WebhookSent,
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
        let to = match super::notify::subscriber(conn, self.subscriber_pk)? {
            Some(Subscriber::Webhook { url }) => url_for_logs(&url),
            _ => String::new(),
        };
        let reason = crate::queue::reason("could not deliver the webhook", error, attempts);
        lifecycle::notify_failed(
            conn,
            self.release_pk,
            EventKind::WebhookFailed,
            serde_json::json!({"to": to, "delivery": self.delivery_id, "reason": reason}),
            db::now(),
        )
    }
}
