//! The writes the use cases and the expiry job share, inside the caller's
//! transaction (which holds the project's lock): ending a lapsed lease,
//! and appending a control-plane event.

use chrono::NaiveDateTime;
use serde_json::json;

use crate::db::events;
use crate::db::stacks::{self as rows, Lease};
use crate::db::DbConnection;
use crate::domain::EventKind;

/// Ends a lapsed lease: the stack is available again, with a
/// `stack.lease_expired` event (the service acts, so no actor).
pub fn expire(
    conn: &mut DbConnection,
    lease: &Lease,
    now: NaiveDateTime,
) -> diesel::QueryResult<()> {
    rows::end_lease(conn, lease.pk, "expired", now)?;
    rows::set_available(conn, lease.stack_pk, now)?;
    record(
        conn,
        &lease.team_project_key,
        EventKind::StackLeaseExpired,
        None,
        json!({
            "stack_name": lease.stack_name,
            "branch": lease.branch,
            "fence": lease.fence,
            "holder": lease.holder,
            "expired_at": super::document::time(lease.expires_at),
        }),
        now,
    )
}

/// Ends every lease of the project that lapsed by `now` (the job may not
/// have run yet): a request never waits behind a dead holder.
pub fn expire_lapsed(
    conn: &mut DbConnection,
    team_project_key: &str,
    now: NaiveDateTime,
) -> diesel::QueryResult<usize> {
    let lapsed = rows::lapsed(conn, team_project_key, now)?;
    for lease in &lapsed {
        expire(conn, lease, now)?;
    }
    Ok(lapsed.len())
}

/// Appends a control-plane event of the project.
pub fn record(
    conn: &mut DbConnection,
    team_project_key: &str,
    kind: EventKind,
    actor: Option<&str>,
    detail: serde_json::Value,
    at: NaiveDateTime,
) -> diesel::QueryResult<()> {
    events::append_to_project(conn, team_project_key, kind.as_str(), actor, &detail, at)
}
