//! At a runner's claim expiry: the deployment ends `error` ("runner
//! lost") unless the claim was renewed meanwhile.

use diesel::Connection;
use serde::{Deserialize, Serialize};

use super::JobContext;
use crate::deployments::runners::{lapse, Lapse};
use crate::queue::{Claim, Job, JobError};

/// Queued with each claim for its expiry. A renewal only moves the stored
/// expiry (a heartbeat writes no job): run early, the job sees the later
/// expiry and queues itself again for it, so a claim costs one job run
/// per lease, however often its runner renews it.
#[derive(Debug, Serialize, Deserialize)]
pub struct RunnerLost {
    pub deployment_pk: i64,
}

impl Job for RunnerLost {
    const KIND: &'static str = "deployment_runner_lost";

    type Context = JobContext;

    fn subject(&self) -> String {
        self.deployment_pk.to_string()
    }

    #[tracing::instrument(name = "run", skip_all, fields(deployment = self.deployment_pk))]
    async fn run(&self, ctx: &JobContext, claim: &Claim) -> Result<(), JobError> {
        let (pk, claim, max_attempts) = (self.deployment_pk, claim.clone(), ctx.max_attempts);
        let effects = ctx.effects.clone();
        let found = ctx
            .db
            .write(move |c| {
                Ok(c.transaction(|c| {
                    // The job ends with the change it makes.
                    if !claim.complete(c)? {
                        return Ok(None);
                    }
                    lapse(c, &effects, pk, max_attempts).map(Some)
                })?)
            })
            .await?;
        match found {
            None => return Err(JobError::LeaseLost),
            Some(Lapse::Lost) => {
                crate::metrics::runner_lost();
                tracing::warn!(
                    deployment = pk,
                    "runner lost: its claim was not renewed in time; the deployment ended error"
                );
            }
            Some(Lapse::Renewed(_) | Lapse::Over) => {}
        }
        Ok(())
    }
}
