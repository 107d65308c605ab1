//! The deployments wing's job kinds, registered with the queue with the
//! context their runs share.

mod send_webhook;

use std::sync::Arc;

use crate::db::Db;
use crate::environments::Policies;
use crate::integrations::outbound::Outbound;
use crate::queue::Registry;

pub use send_webhook::SendDeploymentWebhook;

/// What the deployments wing's jobs need.
pub struct JobContext {
    pub db: Db,
    /// Each project's webhook and the secrets that sign it.
    pub policies: Arc<Policies>,
    pub outbound: Outbound,
    /// The base of a document's `logs_url`.
    pub public_url: String,
}

/// Adds the deployments wing's job kinds to `registry`.
pub fn register(registry: Registry, ctx: Arc<JobContext>) -> Registry {
    registry.register::<SendDeploymentWebhook>(ctx)
}
