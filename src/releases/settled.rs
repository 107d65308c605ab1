//! Who else must act, in the same transaction, when a release is settled:
//! the inverted dependency that lets a wing above this one (deployments,
//! gated by approval) follow a release's decision without this wing
//! knowing it. A wing registers its `SettledListener` at start;
//! `lifecycle::settle` calls every listener inside the transaction that
//! settles the release, so the listener's changes commit with the decision
//! or not at all.
//!
//! The registry is the process's: `lifecycle`'s steps take a connection,
//! not the wing's context, and a listener acts only through the connection
//! it is handed (several apps in one process, as in tests, each pass their
//! own). A listener registered again under its name replaces the earlier.

use std::sync::{Arc, RwLock};

use chrono::NaiveDateTime;

use crate::db::models::Release;
use crate::db::{releases, DbConnection};
use crate::domain::policy::ReleaseStatus;

/// Acts on a settled release, inside the settling transaction.
pub trait SettledListener: Send + Sync {
    /// `release` is settled now as `status` (`reason`: why it failed).
    fn on_settled(
        &self,
        conn: &mut DbConnection,
        release_pk: i64,
        status: ReleaseStatus,
        reason: Option<&str>,
        at: NaiveDateTime,
    ) -> diesel::QueryResult<()>;
}

type Listeners = Vec<(&'static str, Arc<dyn SettledListener>)>;

static LISTENERS: RwLock<Listeners> = RwLock::new(Vec::new());

/// Adds (or replaces) the listener called `name`.
pub fn register(name: &'static str, listener: Arc<dyn SettledListener>) {
    let mut listeners = LISTENERS.write().unwrap_or_else(|e| e.into_inner());
    listeners.retain(|(n, _)| *n != name);
    listeners.push((name, listener));
}

/// Tells every listener; called by `lifecycle::settle`.
pub(super) fn tell(
    conn: &mut DbConnection,
    release_pk: i64,
    status: ReleaseStatus,
    reason: Option<&str>,
    at: NaiveDateTime,
) -> diesel::QueryResult<()> {
    let listeners: Vec<Arc<dyn SettledListener>> = LISTENERS
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|(_, l)| l.clone())
        .collect();
    for listener in listeners {
        listener.on_settled(conn, release_pk, status, reason, at)?;
    }
    Ok(())
}

/// The release as stored, under its row lock until the caller's
/// transaction ends: a caller that acts on "not settled yet" is then
/// sure that the settling transaction, if any, runs after it (and tells
/// the listeners of what the caller wrote).
pub fn lock_and_read(conn: &mut DbConnection, release_pk: i64) -> diesel::QueryResult<Release> {
    releases::lock(conn, release_pk)?;
    releases::by_pk(conn, release_pk)
}
