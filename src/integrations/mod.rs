//! The outside services Greenlight talks to, each with its wire format,
//! signature and credential rules: the approvers source, Azure DevOps,
//! GitHub, Slack, signed webhooks; and the one outbound HTTP client they all
//! call with (`outbound`).
//! Nothing here touches the database: the jobs that call these record
//! what happened.

pub mod approvers;
pub mod azure_devops;
pub mod chalice;
pub mod github;
pub mod github_deployments;
pub mod github_rule;
pub mod outbound;
pub mod slack;
pub mod webhooks;
