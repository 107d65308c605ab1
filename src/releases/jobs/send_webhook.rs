//! Posts a decided release to its policy's webhook, signed.

use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use super::JobContext;
use crate::db::{self, DbConnection};
use crate::domain::EventKind;
use crate::integrations::webhooks::webhook_signature;
use crate::metrics::Target;
use crate::queue::{Claim, Job, JobError};
use crate::redact::url_for_logs;
use crate::releases::document::{rfc3339, StatusDocument};
use crate::releases::lifecycle;
use crate::releases::subscriber::Subscriber;

/// Queued when the release is decided, one per webhook subscriber. The
/// delivery id is fixed then: a retried delivery has the same id, so a
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
        let body = serde_json::to_vec(&serde_json::json!({
            "id": self.delivery_id,
            "type": event,
            "created_at": rfc3339(db::now()),
            "release": document,
        }))
        .map_err(|e| JobError::Permanent(format!("the webhook body: {e}")))?;
        let secret = ctx.webhook_secret.as_ref().ok_or_else(|| {
            JobError::Permanent("GREENLIGHT_WEBHOOK_SECRET is not set".to_owned())
        })?;
        let signature = webhook_signature(
            secret.expose_secret().as_bytes(),
            chrono::Utc::now().timestamp(),
            &body,
        );
        claim.ensure_held(&ctx.db).await?;
        // The operator's URL (a policy's): its host may be private.
        ctx.outbound
            .post(Target::Webhook, &url)
            .header("Greenlight-Event", event)
            .header("Greenlight-Delivery", self.delivery_id.clone())
            .header("Greenlight-Signature", signature)
            .json(body)
            .send()
            .await
            .map_err(super::notify::retried_unless_refused)?;
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
