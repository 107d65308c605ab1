//! Who is told of a release's decision, as stored with the release.

use serde::{Deserialize, Serialize};

pub use crate::domain::SubscriberKind;
use crate::integrations::azure_devops::AzureCallback;

/// Who is told of a release's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Subscriber {
    /// The policy's `webhook_url`: every decision, signed.
    Webhook { url: String },
    /// A task waiting in Azure DevOps' callback mode.
    AzureDevops(AzureCallback),
    /// A GitHub Actions job waiting on a deployment protection rule.
    Github {
        callback_url: String,
        installation_id: i64,
        environment: String,
        /// A re-run keeps the run (and its callback URL) but brings a new
        /// deployment, which waits for an answer of its own.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deployment_id: Option<i64>,
    },
}

impl Subscriber {
    pub fn kind(&self) -> SubscriberKind {
        match self {
            Self::Webhook { .. } => SubscriberKind::Webhook,
            Self::AzureDevops(_) => SubscriberKind::AzureDevops,
            Self::Github { .. } => SubscriberKind::Github,
        }
    }

    /// Two subscribers with one key are one: told once.
    pub fn dedupe_key(&self) -> String {
        match self {
            Self::Webhook { url } => url.clone(),
            Self::AzureDevops(callback) => callback.dedupe_key(),
            Self::Github {
                callback_url,
                deployment_id,
                ..
            } => match deployment_id {
                Some(id) => format!("{callback_url}#deployment={id}"),
                None => callback_url.clone(),
            },
        }
    }
}
