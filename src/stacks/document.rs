//! The stack as the seed's clients read it (its camelCase names and
//! `entity: "Stack"`), with the lease only in the answer that grants it.

use chrono::NaiveDateTime;
use serde::Serialize;

use crate::db::stacks::{Lease, Stack};

/// One stack, in the seed's shape.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StackDocument {
    /// `{prefix}{n}`, e.g. `test-3`.
    pub stack_name: String,
    /// Empty until a holder sets it.
    pub last_deployed_commit: String,
    pub is_available: bool,
    /// The branch it was last leased to.
    pub branch: String,
    #[schema(format = DateTime)]
    pub created: String,
    #[schema(format = DateTime)]
    pub modified: String,
    /// Always `Stack`.
    #[schema(example = "Stack")]
    pub entity: &'static str,
    /// The lease: to its holder only, in the answer that grants it (the
    /// token) or extends it (without the token).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub lease: Option<LeaseDocument>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LeaseDocument {
    /// Send it as `Greenlight-Lease` to heartbeat, set the commit and
    /// release. Shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub token: Option<String>,
    /// Grows with every grant of this stack: a tool may refuse a holder
    /// whose fence is not the latest.
    pub fence: i64,
    /// Unless a heartbeat comes first.
    #[schema(format = DateTime)]
    pub expires_at: String,
}

/// A project's stacks.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StackList(pub Vec<StackDocument>);

impl StackDocument {
    pub fn new(stack: &Stack) -> Self {
        Self {
            stack_name: stack.name.clone(),
            last_deployed_commit: stack.last_deployed_commit.clone().unwrap_or_default(),
            is_available: stack.is_available,
            branch: stack.branch.clone(),
            created: time(stack.created_at),
            modified: time(stack.modified_at),
            entity: "Stack",
            lease: None,
        }
    }

    /// With its lease (and the token, when it is being granted).
    pub fn with_lease(mut self, lease: &Lease, token: Option<&str>) -> Self {
        self.lease = Some(LeaseDocument {
            token: token.map(str::to_owned),
            fence: lease.fence,
            expires_at: time(lease.expires_at),
        });
        self
    }
}

/// The seed's time format: ISO 8601, UTC, milliseconds
/// (`2022-03-04T14:19:54.448Z`).
pub fn time(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}
