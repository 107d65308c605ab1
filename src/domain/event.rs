//! What the audit trail records: the kinds of change to a release, and
//! the control plane's.

/// One kind of event, named as `GET /releases/.../events` (and a
/// project's control-plane trail) shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    ReleaseCreated,
    /// A callback-mode waiter moved the pending release's deadline.
    ReleaseExpiryMoved,
    ApproversFetched,
    ApproverExcluded,
    EmailSent,
    EmailFailed,
    ReminderSent,
    ApprovalApproved,
    ApprovalRejected,
    ReleaseApproved,
    ReleaseRejected,
    ReleaseExpired,
    ReleaseFailed,
    CallbackSent,
    CallbackFailed,
    WebhookSent,
    WebhookFailed,
    SlackPosted,
    SlackFailed,
    DeploymentCreated,
    /// A deployment's new state (detail: state).
    DeploymentStatus,
    DeploymentCanceled,
    /// Its log reached `GREENLIGHT_DEPLOYMENT_LOG_LIMIT` (once).
    DeploymentLogTruncated,
    /// GitHub refused (or kept failing) a status of a deployment it sent.
    DeploymentGithubFailed,
    ProvisionedVersionCreated,
    /// Instances added or updated (by `resource_id`).
    ProvisionedInstancesAdded,
    ProvisionedInstanceDeleted,
    /// Detail: the deleted document, whole.
    ProvisionedVersionDeleted,
    /// A deployment's success recorded its version (detail: deployment).
    ProvisionedVersionDeployed,
    /// A variable was given a value (detail: its name, level, whether a
    /// secret; never its value).
    VariableSet,
    /// An environment hides the project's value of a variable.
    VariableUnset,
    VariableDeleted,
    /// A runner took it (`queued` -> `in_progress`).
    DeploymentClaimed,
    /// Its runner's claim lapsed: it ended `error`.
    DeploymentRunnerLost,
    /// A new stack `{prefix}{n}` (detail: stackName).
    StackCreated,
    /// A stack leased to a branch (detail: stackName, branch, fence).
    StackLeased,
    StackCommitSet,
    StackReleased,
    /// Its lease lapsed without a heartbeat: released by the service.
    StackLeaseExpired,
    StackDeleted,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReleaseCreated => "release.created",
            Self::ReleaseExpiryMoved => "release.expiry_moved",
            Self::ApproversFetched => "approvers.fetched",
            Self::ApproverExcluded => "approver.excluded",
            Self::EmailSent => "email.sent",
            Self::EmailFailed => "email.failed",
            Self::ReminderSent => "reminder.sent",
            Self::ApprovalApproved => "approval.approved",
            Self::ApprovalRejected => "approval.rejected",
            Self::ReleaseApproved => "release.approved",
            Self::ReleaseRejected => "release.rejected",
            Self::ReleaseExpired => "release.expired",
            Self::ReleaseFailed => "release.failed",
            Self::CallbackSent => "callback.sent",
            Self::CallbackFailed => "callback.failed",
            Self::WebhookSent => "webhook.sent",
            Self::WebhookFailed => "webhook.failed",
            Self::SlackPosted => "slack.posted",
            Self::SlackFailed => "slack.failed",
            Self::DeploymentCreated => "deployment.created",
            Self::DeploymentStatus => "deployment.status",
            Self::DeploymentCanceled => "deployment.canceled",
            Self::DeploymentLogTruncated => "deployment.log_truncated",
            Self::DeploymentGithubFailed => "deployment.github_failed",
            Self::ProvisionedVersionCreated => "provisioned_version.created",
            Self::ProvisionedInstancesAdded => "provisioned_version.instances_added",
            Self::ProvisionedInstanceDeleted => "provisioned_version.instance_deleted",
            Self::ProvisionedVersionDeleted => "provisioned_version.deleted",
            Self::ProvisionedVersionDeployed => "provisioned_version.deployed",
            Self::VariableSet => "variable.set",
            Self::VariableUnset => "variable.unset",
            Self::VariableDeleted => "variable.deleted",
            Self::DeploymentClaimed => "deployment.claimed",
            Self::DeploymentRunnerLost => "deployment.runner_lost",
            Self::StackCreated => "stack.created",
            Self::StackLeased => "stack.leased",
            Self::StackCommitSet => "stack.commit_set",
            Self::StackReleased => "stack.released",
            Self::StackLeaseExpired => "stack.lease_expired",
            Self::StackDeleted => "stack.deleted",
        }
    }

    /// The event of a release settling on `status` (none for pending).
    pub fn settled(status: super::ReleaseStatus) -> Option<Self> {
        use super::ReleaseStatus as S;
        match status {
            S::Pending => None,
            S::Approved => Some(Self::ReleaseApproved),
            S::Rejected => Some(Self::ReleaseRejected),
            S::Expired => Some(Self::ReleaseExpired),
            S::Failed => Some(Self::ReleaseFailed),
        }
    }

    /// The event of one approver's decision.
    pub fn decided(decision: super::Decision) -> Self {
        match decision {
            super::Decision::Approved => Self::ApprovalApproved,
            super::Decision::Rejected => Self::ApprovalRejected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Decision, ReleaseStatus};

    #[test]
    fn settling_and_deciding_name_their_events() {
        assert_eq!(EventKind::settled(ReleaseStatus::Pending), None);
        assert_eq!(
            EventKind::settled(ReleaseStatus::Expired).map(EventKind::as_str),
            Some("release.expired")
        );
        assert_eq!(
            EventKind::decided(Decision::Rejected).as_str(),
            "approval.rejected"
        );
    }
}
