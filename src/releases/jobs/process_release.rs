//! Fetch a release's approvers, mint their tokens, queue their emails.

use serde::{Deserialize, Serialize};

use super::JobContext;
use crate::db::models::NewApprovalRow;
use crate::db::{self, releases, DbConnection};
use crate::domain::ReleaseKey;
use crate::ids::random_id;
use crate::queue::{Claim, Job, JobError};
use crate::releases::lifecycle;

#[derive(Debug, Serialize, Deserialize)]
pub struct ProcessRelease {
    pub release_pk: i64,
}

impl Job for ProcessRelease {
    const KIND: &'static str = "process_release";

    type Context = JobContext;

    fn subject(&self) -> String {
        self.release_pk.to_string()
    }

    #[tracing::instrument(name = "run", skip_all, fields(release = self.release_pk))]
    async fn run(&self, ctx: &JobContext, claim: &Claim) -> Result<(), JobError> {
        let pk = self.release_pk;
        // Links live to the latest deadline the policy allows: a newer Azure
        // DevOps task may move the deadline there after they were sent; a
        // decided or expired release refuses them anyway.
        let (release, links_expire) = ctx
            .db
            .read(move |c| {
                let release = releases::by_pk(c, pk)?;
                let limit = releases::expiry_limit(c, &release)?;
                Ok((release, limit))
            })
            .await?;
        if release.status().is_decided() {
            return Ok(());
        }
        let key = ReleaseKey::parse(
            &release.team_project,
            Some(&release.environment),
            &release.release_id,
        )
        .map_err(|_| JobError::Permanent("the stored release key is not valid".to_owned()))?;
        let (_, source) = ctx.policies.resolve(&key);
        // Asked in Slack too when Slack is configured and the policy names
        // a channel (read now, as the approvers source is).
        let slack_channel = ctx
            .slack
            .as_ref()
            .and_then(|_| ctx.policies.slack_channel(&key))
            .map(str::to_owned);
        let approvers = ctx.approvers.fetch(source, &key).await.map_err(|e| {
            if e.is_transient() {
                JobError::Transient(e.to_string())
            } else {
                JobError::Permanent(e.to_string())
            }
        })?;
        if approvers.len() > ctx.max_approvers {
            // Each approver is a row, a job and an email: a source gone
            // wrong must not send thousands.
            return Err(JobError::Permanent(format!(
                "the approvers source named {} approvers; a release may have at most {} \
                 (GREENLIGHT_MAX_APPROVERS)",
                approvers.len(),
                ctx.max_approvers
            )));
        }
        let now = db::now();
        let rows: Vec<NewApprovalRow> = approvers
            .iter()
            .map(|a| NewApprovalRow {
                release_pk: pk,
                email: a.email.to_string(),
                email_key: a.email.normalized(),
                name: a.name.clone(),
                token_id: random_id(),
                token_expires_at: links_expire,
                created_at: now,
            })
            .collect();
        let (claim_, max_attempts) = (claim.clone(), ctx.max_attempts);
        let queued = ctx
            .db
            .write(move |c| {
                Ok(lifecycle::store_approvers(
                    c,
                    &claim_,
                    pk,
                    rows,
                    slack_channel.as_deref(),
                    max_attempts,
                )?)
            })
            .await?;
        match queued {
            Some(n) => {
                tracing::info!(approvers = n, "approvers stored, emails queued");
                if n > 0 {
                    ctx.wake.notify_one();
                }
                Ok(())
            }
            None => Err(JobError::LeaseLost),
        }
    }

    fn give_up(
        &self,
        conn: &mut DbConnection,
        error: &str,
        attempts: i32,
    ) -> diesel::QueryResult<()> {
        let reason = crate::queue::reason("could not get the approvers", error, attempts);
        lifecycle::fail(conn, self.release_pk, &reason, db::now())?;
        Ok(())
    }
}
