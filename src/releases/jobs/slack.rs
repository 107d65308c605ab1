//! A release's message in Slack: posted once its approvers are known,
//! updated on every decision (whoever made it, by whichever channel).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::JobContext;
use crate::db::slack_messages::{self, SlackMessageRow};
use crate::db::{self, releases, DbConnection};
use crate::integrations::slack::{
    message, ApproverLine, ReleaseFacts, ReleaseRef, Slack, SlackError,
};
use crate::queue::{Claim, Job, JobError};
use crate::releases::lifecycle::{self, ReleaseView};

/// What the message says of `view`.
pub fn facts(view: &ReleaseView) -> ReleaseFacts {
    let release = &view.release;
    ReleaseFacts {
        release: ReleaseRef {
            team_project: release.team_project.clone(),
            environment: release.environment.clone(),
            release_id: release.release_id.clone(),
        },
        release_name: release.release_name.clone(),
        requested_for: release.requested_for.clone(),
        status: release.status(),
        required_approvals: release.required_approvals,
        reason: release.reason.clone(),
        approvers: view
            .approvals
            .iter()
            .map(|a| ApproverLine {
                email: a.email.clone(),
                decision: a.decision,
                comment: a.comment.clone(),
            })
            .collect(),
    }
}

fn slack(ctx: &JobContext) -> Result<&Slack, JobError> {
    ctx.slack
        .as_deref()
        .ok_or_else(|| JobError::Permanent("Slack is not configured".to_owned()))
}

fn retried_if_transient(e: SlackError) -> JobError {
    if e.is_transient() {
        JobError::Transient(e.to_string())
    } else {
        JobError::Permanent(e.to_string())
    }
}

/// The release's message row and the release as of now, in one read.
async fn load(
    ctx: &JobContext,
    release_pk: i64,
) -> Result<Option<(SlackMessageRow, ReleaseView)>, JobError> {
    Ok(ctx
        .db
        .read(move |c| {
            let Some(row) = slack_messages::of_release(c, release_pk)? else {
                return Ok(None);
            };
            let release = releases::by_pk(c, release_pk)?;
            Ok(Some((row, lifecycle::view(c, release, db::now())?)))
        })
        .await?)
}

/// Queued with the approvers, when Slack is configured and the release's
/// policy names a `slack_channel`.
#[derive(Debug, Serialize, Deserialize)]
pub struct PostSlackMessage {
    pub release_pk: i64,
}

impl Job for PostSlackMessage {
    const KIND: &'static str = "post_slack_message";

    type Context = JobContext;

    fn subject(&self) -> String {
        self.release_pk.to_string()
    }

    #[tracing::instrument(name = "run", skip_all, fields(release = self.release_pk))]
    async fn run(&self, ctx: &JobContext, claim: &Claim) -> Result<(), JobError> {
        let slack = slack(ctx)?;
        let pk = self.release_pk;
        let Some((row, view)) = load(ctx, pk).await? else {
            return Ok(());
        };
        if row.ts.is_some() {
            return Ok(()); // posted already (a job queued twice)
        }
        let sent = message(&facts(&view));
        claim.ensure_held(&ctx.db).await?;
        let posted = slack
            .post_message(&row.channel, &sent)
            .await
            .map_err(retried_if_transient)?;
        let claim = claim.clone();
        let held = ctx
            .db
            .write(move |c| {
                if !lifecycle::slack_posted(c, &claim, pk, &posted.channel, &posted.ts, db::now())?
                {
                    return Ok(false);
                }
                // A decision recorded while the message was on its way saw
                // no message to update: if what was posted is not current
                // any more, update it now.
                let release = releases::by_pk(c, pk)?;
                let now = lifecycle::view(c, release, db::now())?;
                if message(&facts(&now)) != sent {
                    lifecycle::slack_changed(c, pk)?;
                }
                Ok(true)
            })
            .await?;
        if held {
            ctx.wake.notify_one();
            Ok(())
        } else {
            Err(JobError::LeaseLost)
        }
    }

    fn give_up(
        &self,
        conn: &mut DbConnection,
        error: &str,
        attempts: i32,
    ) -> diesel::QueryResult<()> {
        let reason = crate::queue::reason("could not post the Slack message", error, attempts);
        lifecycle::slack_failed(conn, self.release_pk, &reason, true, db::now())
    }
}

/// Queued by every decision on a release that has a Slack message: shows
/// each approver's decision and the release's status.
#[derive(Debug, Serialize, Deserialize)]
pub struct UpdateSlackMessage {
    pub release_pk: i64,
}

/// Rounds of "update, then check it is still current" one run makes.
const MAX_ROUNDS: usize = 5;

impl Job for UpdateSlackMessage {
    const KIND: &'static str = "update_slack_message";

    type Context = JobContext;

    fn subject(&self) -> String {
        self.release_pk.to_string()
    }

    #[tracing::instrument(name = "run", skip_all, fields(release = self.release_pk))]
    async fn run(&self, ctx: &JobContext, claim: &Claim) -> Result<(), JobError> {
        let slack = slack(ctx)?;
        // Two updates may run side by side, each with what it read: after
        // its update each reads again and sends again if the release moved
        // on, so the last word in Slack is the current state.
        let mut shown: Option<Value> = None;
        for _ in 0..MAX_ROUNDS {
            let Some((row, view)) = load(ctx, self.release_pk).await? else {
                return Ok(()); // never posted, and given up
            };
            let Some(ts) = row.ts else {
                // Its post job is still at work; it shows the state it
                // finds, and this retry whatever came after.
                return Err(JobError::Transient(
                    "the Slack message is not posted yet".to_owned(),
                ));
            };
            let current = message(&facts(&view));
            if shown.as_ref() == Some(&current) {
                return Ok(());
            }
            claim.ensure_held(&ctx.db).await?;
            slack
                .update_message(&row.channel, &ts, &current)
                .await
                .map_err(retried_if_transient)?;
            shown = Some(current);
        }
        Ok(())
    }

    fn give_up(
        &self,
        conn: &mut DbConnection,
        error: &str,
        attempts: i32,
    ) -> diesel::QueryResult<()> {
        let reason = crate::queue::reason("could not update the Slack message", error, attempts);
        lifecycle::slack_failed(conn, self.release_pk, &reason, false, db::now())
    }
}
