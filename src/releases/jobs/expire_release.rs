//! At a release's deadline: `expired` if nobody decided it in time.

use serde::{Deserialize, Serialize};

use super::JobContext;
use crate::queue::{Claim, Job, JobError};
use crate::releases::lifecycle;

/// Scheduled at creation for the release's `expires_at`; deleted when the
/// release is decided first.
#[derive(Debug, Serialize, Deserialize)]
pub struct ExpireRelease {
    pub release_pk: i64,
}

impl Job for ExpireRelease {
    const KIND: &'static str = "expire_release";

    type Context = JobContext;

    fn subject(&self) -> String {
        self.release_pk.to_string()
    }

    #[tracing::instrument(name = "run", skip_all, fields(release = self.release_pk))]
    async fn run(&self, ctx: &JobContext, claim: &Claim) -> Result<(), JobError> {
        let (pk, claim) = (self.release_pk, claim.clone());
        match ctx
            .db
            .write(move |c| Ok(lifecycle::expire(c, &claim, pk)?))
            .await?
        {
            Some(true) => {
                tracing::info!(release = pk, "release expired");
                // Its subscribers were queued with the expiry: tell them now.
                ctx.wake.notify_one();
            }
            Some(false) => {}
            None => return Err(JobError::LeaseLost),
        }
        Ok(())
    }
}
