//! The writes the use cases and the expiry job share, inside the caller's
//! transaction (which holds the project's lock): ending a lapsed lease,
//! and appending a control-plane event.

use chrono::NaiveDateTime;
use serde_json::json;

use crate::db::events;
use crate::db::stacks::{self as rows, Lease};
use crate::db::DbConnection;
use crate::domain::EventKind;
use crate::queue::{self, RunAt};
use crate::stacks::document::{time, StackDocument};
use crate::stacks::jobs::SendStackWebhook;

/// Ends a lapsed lease: the stack is available again, with a
/// `stack.lease_expired` event (the service acts, so no actor) and its
/// delivery to the project's webhook queued (`max_attempts` attempts).
pub fn expire(
    conn: &mut DbConnection,
    lease: &Lease,
    now: NaiveDateTime,
    max_attempts: i32,
) -> diesel::QueryResult<()> {
    rows::end_lease(conn, lease.pk, "expired", now)?;
    rows::set_available(conn, lease.stack_pk, now)?;
    if let Some(stack) = rows::by_pk(conn, lease.stack_pk)? {
        let kind = EventKind::StackLeaseExpired;
        let job = SendStackWebhook {
            team_project: stack.team_project.clone(),
            team_project_key: stack.team_project_key.clone(),
            r#type: kind.as_str().to_owned(),
            delivery_id: crate::ids::random_id(),
            // The stack without its lease: the token is its holder's only.
            body: json!({
                "type": kind.as_str(),
                "timestamp": time(now),
                "data": StackDocument::new(&stack),
            }),
        };
        queue::enqueue(conn, &job, max_attempts.max(1), RunAt::Now)?;
    }
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
            "expired_at": time(lease.expires_at),
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
    max_attempts: i32,
) -> diesel::QueryResult<usize> {
    let lapsed = rows::lapsed(conn, team_project_key, now)?;
    for lease in &lapsed {
        expire(conn, lease, now, max_attempts)?;
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
