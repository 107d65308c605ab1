//! The stacks wing's job kinds, registered with the queue with the
//! context their runs share.

mod expire_stack_lease;

use std::sync::Arc;

use tokio::sync::Notify;

use crate::db::Db;
use crate::queue::Registry;

pub use expire_stack_lease::ExpireStackLease;

/// What the stacks wing's jobs need.
pub struct JobContext {
    pub db: Db,
    /// Wakes this process's requests waiting for a stack.
    pub released: Arc<Notify>,
    /// Attempts given to the jobs that jobs enqueue.
    pub max_attempts: i32,
}

/// Adds the stacks wing's job kinds to `registry`.
pub fn register(registry: Registry, ctx: Arc<JobContext>) -> Registry {
    registry.register::<ExpireStackLease>(ctx)
}
