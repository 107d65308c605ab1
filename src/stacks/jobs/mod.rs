//! The stacks wing's job kinds, registered with the queue with the
//! context their runs share.

mod expire_stack_lease;
mod send_stack_webhook;

use std::sync::Arc;

use tokio::sync::Notify;

use crate::db::Db;
use crate::environments::Policies;
use crate::integrations::outbound::Outbound;
use crate::queue::Registry;

pub use expire_stack_lease::ExpireStackLease;
pub use send_stack_webhook::SendStackWebhook;

/// What the stacks wing's jobs need.
pub struct JobContext {
    pub db: Db,
    /// Wakes this process's requests waiting for a stack.
    pub released: Arc<Notify>,
    /// Attempts given to the jobs that jobs enqueue.
    pub max_attempts: i32,
    /// The project's webhook and the secrets that sign it.
    pub policies: Arc<Policies>,
    pub outbound: Outbound,
}

/// Adds the stacks wing's job kinds to `registry`.
pub fn register(registry: Registry, ctx: Arc<JobContext>) -> Registry {
    registry
        .register::<ExpireStackLease>(ctx.clone())
        .register::<SendStackWebhook>(ctx)
}
