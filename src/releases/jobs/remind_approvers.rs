//! At a release's reminder time: one reminder job per approver who has
//! not decided yet.

use serde::{Deserialize, Serialize};

use super::JobContext;
use crate::queue::{Claim, Job, JobError};
use crate::releases::lifecycle;

/// Scheduled at creation, when the release's policy has `reminder_after`;
/// deleted when the release is decided first.
#[derive(Debug, Serialize, Deserialize)]
pub struct RemindApprovers {
    pub release_pk: i64,
}

impl Job for RemindApprovers {
    const KIND: &'static str = "remind_approvers";

    type Context = JobContext;

    fn subject(&self) -> String {
        self.release_pk.to_string()
    }

    #[tracing::instrument(name = "run", skip_all, fields(release = self.release_pk))]
    async fn run(&self, ctx: &JobContext, claim: &Claim) -> Result<(), JobError> {
        let (pk, claim, max_attempts) = (self.release_pk, claim.clone(), ctx.max_attempts);
        let queued = ctx
            .db
            .write(move |c| Ok(lifecycle::queue_reminders(c, &claim, pk, max_attempts)?))
            .await?;
        match queued {
            Some(n) => {
                if n > 0 {
                    tracing::info!(release = pk, reminders = n, "reminders queued");
                    ctx.wake.notify_one();
                }
                Ok(())
            }
            None => Err(JobError::LeaseLost),
        }
    }
}
