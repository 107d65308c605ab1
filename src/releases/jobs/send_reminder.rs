//! Send one undecided approver their one reminder.

use serde::{Deserialize, Serialize};

use super::send_approval_email::{approval_email, load, send};
use super::JobContext;
use crate::db;
use crate::queue::{Claim, Job, JobError};
use crate::releases::lifecycle;

#[derive(Debug, Serialize, Deserialize)]
pub struct SendReminder {
    pub release_pk: i64,
    pub approval_pk: i64,
}

impl Job for SendReminder {
    const KIND: &'static str = "send_reminder";

    type Context = JobContext;

    fn subject(&self) -> String {
        self.release_pk.to_string()
    }

    #[tracing::instrument(name = "run", skip_all, fields(release = self.release_pk))]
    async fn run(&self, ctx: &JobContext, claim: &Claim) -> Result<(), JobError> {
        let (release, approval) = load(ctx, self.release_pk, self.approval_pk).await?;
        let pointless = release.status().is_decided()
            || db::now() >= release.expires_at
            || approval.decision.is_some()
            || approval.reminded_at.is_some();
        if pointless {
            return Ok(());
        }
        if approval.email_sent_at.is_none() {
            // A reminder of an email that has not gone out (the mail server
            // is down, say) would come first: wait for it.
            return Err(JobError::Transient(
                "the approval email has not been sent yet".to_owned(),
            ));
        }
        let email = approval_email(ctx, &release, &approval, true)?;
        claim.ensure_held(&ctx.db).await?;
        send(ctx, &email, &approval).await?;
        let claim = claim.clone();
        ctx.db
            .write(move |c| Ok(lifecycle::reminder_sent(c, &claim, &approval, db::now())?))
            .await?;
        Ok(())
    }
}
