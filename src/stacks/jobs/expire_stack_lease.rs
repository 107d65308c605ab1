//! At a lease's end: the stack is released unless a heartbeat moved the
//! end, in which case the job is queued again for the new end.

use serde::{Deserialize, Serialize};

use super::JobContext;
use crate::db::stacks as rows;
use crate::db::{self, DbConnection};
use crate::queue::{self, Claim, Job, JobError, RunAt};
use crate::stacks::changes;

/// Queued with each grant for the lease's `expires_at`; deleted when the
/// lease is released first.
#[derive(Debug, Serialize, Deserialize)]
pub struct ExpireStackLease {
    pub lease_pk: i64,
}

impl Job for ExpireStackLease {
    const KIND: &'static str = "expire_stack_lease";

    type Context = JobContext;

    fn subject(&self) -> String {
        self.lease_pk.to_string()
    }

    #[tracing::instrument(name = "run", skip_all, fields(lease = self.lease_pk))]
    async fn run(&self, ctx: &JobContext, claim: &Claim) -> Result<(), JobError> {
        let (pk, claim, max_attempts) = (self.lease_pk, claim.clone(), ctx.max_attempts);
        match ctx
            .db
            .write(move |c| Ok(expire(c, &claim, pk, max_attempts)?))
            .await?
        {
            Some(true) => {
                tracing::info!(lease = pk, "stack lease expired");
                ctx.released.notify_waiters();
            }
            Some(false) => {}
            None => return Err(JobError::LeaseLost),
        }
        Ok(())
    }
}

/// Expires the lease if it lapsed: `Some(true)` if it did, `Some(false)`
/// if it ended already or was extended (queued again for its new end),
/// `None` if the job's claim was lost.
fn expire(
    conn: &mut DbConnection,
    claim: &Claim,
    lease_pk: i64,
    max_attempts: i32,
) -> diesel::QueryResult<Option<bool>> {
    if !claim.complete(conn)? {
        return Ok(None);
    }
    let Some(found) = rows::lease_by_pk(conn, lease_pk)? else {
        return Ok(Some(false));
    };
    rows::lock_project(conn, &found.team_project_key)?;
    // Read again under the lock: a release or heartbeat may have won.
    let Some(lease) = rows::lease_by_pk(conn, lease_pk)? else {
        return Ok(Some(false));
    };
    if lease.ended_at.is_some() {
        return Ok(Some(false));
    }
    let now = db::now();
    if lease.expires_at > now {
        queue::enqueue(
            conn,
            &ExpireStackLease { lease_pk },
            max_attempts,
            RunAt::At(lease.expires_at),
        )?;
        return Ok(Some(false));
    }
    changes::expire(conn, &lease, now, max_attempts)?;
    Ok(Some(true))
}
