//! Answers a GitHub deployment protection rule once the release is
//! decided: an installation token, then the review posted to the
//! deployment's callback URL.

use serde::{Deserialize, Serialize};

use super::JobContext;
use crate::db::{self, DbConnection};
use crate::domain::{Decision as ReleaseDecision, EventKind, ReleaseStatus};
use crate::integrations::github::github_review;
use crate::queue::{Claim, Job, JobError};
use crate::releases::lifecycle;
use crate::releases::subscriber::Subscriber;

#[derive(Debug, Serialize, Deserialize)]
pub struct SendGithubReview {
    pub release_pk: i64,
    pub subscriber_pk: i64,
}

impl Job for SendGithubReview {
    const KIND: &'static str = "send_github_review";

    type Context = JobContext;

    fn subject(&self) -> String {
        self.release_pk.to_string()
    }

    #[tracing::instrument(name = "run", skip_all, fields(release = self.release_pk))]
    async fn run(&self, ctx: &JobContext, claim: &Claim) -> Result<(), JobError> {
        let github = ctx
            .github
            .as_ref()
            .ok_or_else(|| JobError::Permanent("the GitHub App is not configured".to_owned()))?;
        let Some(super::notify::Notice {
            subscriber, view, ..
        }) = super::notify::load(ctx, self.subscriber_pk, self.release_pk).await?
        else {
            return Ok(()); // told already
        };
        let Subscriber::Github {
            callback_url,
            installation_id,
            environment,
            ..
        } = subscriber
        else {
            return Err(JobError::Permanent(
                "the subscriber is not a GitHub deployment".to_owned(),
            ));
        };
        let status = view.release.status();
        let why = match status {
            ReleaseStatus::Rejected => view
                .approvals
                .iter()
                .find(|a| a.decision == Some(ReleaseDecision::Rejected))
                .and_then(|a| a.comment.clone()),
            _ => view.release.reason.clone(),
        };
        let review = github_review(&environment, status, why.as_deref());
        let token = github
            .installation_token(installation_id)
            .await
            .map_err(super::notify::retried_if_transient)?;
        claim.ensure_held(&ctx.db).await?;
        github
            .review(&callback_url, &token, &review)
            .await
            .map_err(super::notify::retried_if_transient)?;
        let detail = serde_json::json!({"to": "github", "environment": environment, "state": review["state"]});
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
        let reason = crate::queue::reason("could not answer GitHub", error, attempts);
        lifecycle::notify_failed(
            conn,
            self.release_pk,
            EventKind::CallbackFailed,
            serde_json::json!({"to": "github", "reason": reason}),
            db::now(),
        )
    }
}
