//! Domain types: request data is parsed into these once, at the edge, so the
//! rest of the code never handles raw strings.

pub mod approver;
pub mod claim;
pub mod deployment;
pub mod event;
pub mod policy;
pub mod provisioning;
pub mod release;
pub mod stack;
pub mod subscriber;
pub mod variable;

pub use approver::{Approver, ApproverEmail};
pub use claim::{ClaimRequest, ClaimToken};
pub use deployment::{CommitSha, DeploymentState, NewDeployment, RepositoryUrl, StatusUpdate};
pub use event::EventKind;
pub use policy::{Decision, Policy, ReleaseStatus, Tally};
pub use release::{FieldError, NewRelease, ReleaseKey};
pub use subscriber::SubscriberKind;
