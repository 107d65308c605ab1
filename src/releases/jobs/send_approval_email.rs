//! Send one approver the approval email.

use std::time::Duration;

use lettre::message::Mailbox;
use serde::{Deserialize, Serialize};

use super::JobContext;
use crate::db::models::{Approval, Release};
use crate::db::{self, releases, DbConnection};
use crate::mailer::{ApprovalEmail, MailError};
use crate::queue::{Claim, Job, JobError};
use crate::releases::lifecycle;
use crate::token::ApprovalClaims;

#[derive(Debug, Serialize, Deserialize)]
pub struct SendApprovalEmail {
    pub release_pk: i64,
    pub approval_pk: i64,
}

impl Job for SendApprovalEmail {
    const KIND: &'static str = "send_approval_email";

    type Context = JobContext;

    fn subject(&self) -> String {
        self.release_pk.to_string()
    }

    #[tracing::instrument(name = "run", skip_all, fields(release = self.release_pk))]
    async fn run(&self, ctx: &JobContext, claim: &Claim) -> Result<(), JobError> {
        let (release, approval) = load(ctx, self.release_pk, self.approval_pk).await?;
        let deadline_passed = db::now() >= release.expires_at;
        if approval.email_sent_at.is_some() || release.status().is_decided() || deadline_passed {
            return Ok(());
        }
        let email = approval_email(ctx, &release, &approval, false)?;
        // A worker whose lease was taken over must not send a second copy.
        claim.ensure_held(&ctx.db).await?;
        send(ctx, &email, &approval).await?;
        tracing::info!(
            approval = approval.id,
            "approval email accepted by the mail server"
        );
        // The server has the email now: try hard to record that, because a
        // retry of this job would send a second copy.
        let mut attempt = 0;
        loop {
            let (claim, approval) = (claim.clone(), approval.clone());
            match ctx
                .db
                .write(move |c| Ok(lifecycle::email_sent(c, &claim, &approval, db::now())?))
                .await
            {
                Ok(()) => return Ok(()),
                Err(e) if attempt < 5 => {
                    attempt += 1;
                    tracing::warn!(error = %e, "could not record the sent email; trying again");
                    tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn give_up(
        &self,
        conn: &mut DbConnection,
        error: &str,
        attempts: i32,
    ) -> diesel::QueryResult<()> {
        let reason = crate::queue::reason("could not send an approval email", error, attempts);
        let approval = releases::approval_by_pk(conn, self.approval_pk)?;
        lifecycle::email_failed(conn, &approval, &reason, db::now())?;
        Ok(())
    }
}

/// A release and one of its approvals, as an email job reads them.
pub(super) async fn load(
    ctx: &JobContext,
    release_pk: i64,
    approval_pk: i64,
) -> Result<(Release, Approval), JobError> {
    Ok(ctx
        .db
        .read(move |c| {
            Ok((
                releases::by_pk(c, release_pk)?,
                releases::approval_by_pk(c, approval_pk)?,
            ))
        })
        .await?)
}

/// The email of one approval request (or its reminder): the token is
/// re-minted (signing is deterministic), the Message-ID stable across
/// retries.
pub(super) fn approval_email(
    ctx: &JobContext,
    release: &Release,
    approval: &Approval,
    reminder: bool,
) -> Result<ApprovalEmail, JobError> {
    let claims = ApprovalClaims::new(
        &approval.email,
        &release.team_project,
        &release.release_id,
        &approval.token_id,
        approval.created_at,
        approval.token_expires_at,
    );
    let address = approval
        .email
        .parse()
        .map_err(|e| JobError::Permanent(format!("stored approver email is not valid: {e}")))?;
    let what = if reminder { "reminder" } else { "approval" };
    Ok(ApprovalEmail {
        to: Mailbox::new(approval.name.clone(), address),
        release_name: release.release_name.clone(),
        release_id: release.release_id.clone(),
        team_project: release.team_project.clone(),
        environment: release.environment.clone(),
        token: ctx.tokens.mint(&claims),
        // The link's token lives to the policy's limit, but decisions end
        // at the release's deadline: that is when the link stops working.
        expires_at: release.expires_at.and_utc(),
        message_id: format!(
            "<{what}-{}-{}@greenlight>",
            approval.id,
            message_tag(approval)
        ),
        file_stem: format!("release-{}-{what}-{}", release.id, approval.id),
        reminder,
    })
}

/// Keeps an approval's Message-ID unique across databases (ids restart)
/// and the same on a retry, without showing its token's id to every mail
/// server on the way.
fn message_tag(approval: &Approval) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("message-id:{}", approval.token_id));
    hex::encode(&digest[..8])
}

/// Sends it, the approver named in any error.
pub(super) async fn send(
    ctx: &JobContext,
    email: &ApprovalEmail,
    approval: &Approval,
) -> Result<(), JobError> {
    let sent = ctx.mailer.send(email).await;
    crate::metrics::email(sent.is_ok());
    sent.map_err(|e| match e {
        MailError::Transient(m) => JobError::Transient(format!("{}: {m}", approval.email)),
        MailError::Permanent(m) => JobError::Permanent(format!("{}: {m}", approval.email)),
    })
}
