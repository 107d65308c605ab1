//! Approval is the gate: a deployment whose environment's policy says
//! `deploy_requires_approval` waits for its release (created or joined in
//! `service::Deployments::create`). This wing sits above the releases
//! wing, which may not call it; so the releases wing calls this listener
//! (`releases::settled`) inside the transaction that settles a release,
//! and the deployments waiting on it follow the decision in that same
//! transaction: a decision never commits without its deployments.

use chrono::NaiveDateTime;

use super::service::{follow_release, Effects};
use crate::db::deployments as rows;
use crate::db::DbConnection;
use crate::domain::policy::ReleaseStatus;
use crate::releases::settled::SettledListener;

/// The listener the deployments wing registers at start.
pub struct Gate {
    pub effects: Effects,
}

impl SettledListener for Gate {
    fn on_settled(
        &self,
        conn: &mut DbConnection,
        release_pk: i64,
        status: ReleaseStatus,
        reason: Option<&str>,
        at: NaiveDateTime,
    ) -> diesel::QueryResult<()> {
        let waiting = rows::waiting_on(conn, release_pk)?;
        if waiting.is_empty() {
            return Ok(());
        }
        let release_id = crate::releases::settled::lock_and_read(conn, release_pk)?.release_id;
        for deployment in waiting {
            follow_release(
                conn,
                &self.effects,
                &deployment,
                status,
                &release_id,
                reason,
                at,
            )?;
        }
        Ok(())
    }
}

/// Registers the gate (once per process; a later app's replaces it).
pub fn register(effects: Effects) {
    crate::releases::settled::register("deployments", std::sync::Arc::new(Gate { effects }));
}
