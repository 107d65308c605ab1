//! What the jobs that tell subscribers share: loading the subscriber and
//! its decided release, and recording the delivery.

use super::JobContext;
use crate::db::{self, releases, subscribers, DbConnection};
use crate::domain::EventKind;
use crate::integrations::outbound::OutboundError;
use crate::queue::{Claim, JobError};
use crate::releases::lifecycle::{self, ReleaseView};
use crate::releases::subscriber::Subscriber;

/// Whom to tell, with what, about which decided release.
pub struct Notice {
    pub subscriber: Subscriber,
    /// The secret it is told with (Azure DevOps' AuthToken), if any.
    pub credential: Option<String>,
    pub view: ReleaseView,
}

/// The subscriber (as stored) and its release, which must be decided, in
/// one read; `None` if the subscriber was told already (by a job queued
/// twice).
pub async fn load(
    ctx: &JobContext,
    subscriber_pk: i64,
    release_pk: i64,
) -> Result<Option<Notice>, JobError> {
    let (row, view) = ctx
        .db
        .read(move |c| {
            let row = subscribers::by_pk(c, subscriber_pk)?;
            let release = releases::by_pk(c, release_pk)?;
            let view = lifecycle::view(c, release, db::now())?;
            Ok((row, view))
        })
        .await?;
    if row.notified_at.is_some() {
        return Ok(None);
    }
    if !view.release.status().is_decided() {
        return Err(JobError::Permanent("the release is not decided".to_owned()));
    }
    let subscriber = serde_json::from_str(&row.target)
        .map_err(|e| JobError::Permanent(format!("the stored subscriber is not readable: {e}")))?;
    let credential = row
        .credential
        .map(|stored| ctx.sealer.open(&stored))
        .transpose()
        .map_err(|e| JobError::Permanent(format!("the subscriber's credential: {e}")))?;
    Ok(Some(Notice {
        subscriber,
        credential,
        view,
    }))
}

/// The stored subscriber, for a give-up's event.
pub fn subscriber(
    conn: &mut DbConnection,
    subscriber_pk: i64,
) -> diesel::QueryResult<Option<Subscriber>> {
    let row = subscribers::by_pk(conn, subscriber_pk)?;
    Ok(serde_json::from_str(&row.target).ok())
}

/// Azure DevOps' way: its 4xx answers (an AuthToken expired, a run
/// finished or cancelled) will not change on a retry, so they give up at
/// once; outages (5xx, 408, 429, no answer) are retried.
pub fn retried_if_transient(e: OutboundError) -> JobError {
    if e.is_transient() {
        JobError::Transient(e.to_string())
    } else {
        JobError::Permanent(e.to_string())
    }
}

/// Records the delivery with its event and completes the job, together.
pub async fn record_sent(
    ctx: &JobContext,
    claim: &Claim,
    subscriber_pk: i64,
    release_pk: i64,
    kind: EventKind,
    detail: serde_json::Value,
) -> Result<(), JobError> {
    let claim = claim.clone();
    let held = ctx
        .db
        .write(move |c| {
            Ok(lifecycle::notified(
                c,
                &claim,
                subscriber_pk,
                release_pk,
                kind,
                detail,
                db::now(),
            )?)
        })
        .await?;
    if held {
        Ok(())
    } else {
        Err(JobError::LeaseLost)
    }
}
