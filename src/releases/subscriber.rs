//! Who is told of a release's decision, as stored with the release.

use serde::{Deserialize, Serialize};

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
            Self::Github { callback_url, .. } => callback_url.clone(),
        }
    }
}

/// A subscriber's kind, as stored beside it: each is told by its own job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriberKind {
    Webhook,
    AzureDevops,
    Github,
}

impl SubscriberKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::AzureDevops => "azure_devops",
            Self::Github => "github",
        }
    }
}

impl std::str::FromStr for SubscriberKind {
    type Err = String;

    /// An unknown kind in the database is an error, never some default.
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "webhook" => Self::Webhook,
            "azure_devops" => Self::AzureDevops,
            "github" => Self::Github,
            other => return Err(format!("unknown subscriber kind {other:?}")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::SubscriberKind;

    #[test]
    fn kinds_round_trip_and_unknown_ones_are_errors() {
        for kind in [
            SubscriberKind::Webhook,
            SubscriberKind::AzureDevops,
            SubscriberKind::Github,
        ] {
            assert_eq!(kind.as_str().parse::<SubscriberKind>(), Ok(kind));
        }
        assert!("slack".parse::<SubscriberKind>().is_err());
    }
}
