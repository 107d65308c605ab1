//! The deployments wing's job kinds, registered with the queue with the
//! context their runs share.

mod runner_lost;

use std::sync::Arc;

use crate::db::Db;
use crate::queue::Registry;

pub use runner_lost::RunnerLost;

/// What the deployments wing's jobs need.
pub struct JobContext {
    pub db: Db,
    /// Attempts given to the jobs that jobs enqueue.
    pub max_attempts: i32,
}

/// Adds the deployments wing's job kinds to `registry`.
pub fn register(registry: Registry, ctx: Arc<JobContext>) -> Registry {
    registry.register::<RunnerLost>(ctx)
}
