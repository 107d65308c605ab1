//! The status document: what pipelines read.

use chrono::{NaiveDateTime, SecondsFormat};
use serde::Serialize;

use super::lifecycle::ReleaseView;
use crate::domain::ReleaseStatus;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StatusDocument {
    pub status: ReleaseStatus,
    pub release_name: String,
    pub release_id: String,
    pub team_project: String,
    pub environment: String,
    pub requested_for: Option<String>,
    /// Null until the approvers are fetched.
    pub required_approvals: Option<u32>,
    pub approvals: u32,
    pub rejections: u32,
    /// Empty until the approvers are fetched.
    pub approvers: Vec<ApproverEntry>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub expires_at: String,
    #[schema(format = DateTime)]
    pub decided_at: Option<String>,
    /// Why a release failed or expired, for people: never a secret.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApproverEntry {
    pub email: String,
    pub name: Option<String>,
    /// `approved`, `rejected`, or null while undecided.
    pub decision: Option<String>,
    #[schema(format = DateTime)]
    pub decided_at: Option<String>,
    pub comment: Option<String>,
}

/// RFC 3339, UTC, whole seconds: `2026-11-23T10:15:02Z`.
pub fn rfc3339(t: NaiveDateTime) -> String {
    t.and_utc().to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl From<&ReleaseView> for StatusDocument {
    fn from(view: &ReleaseView) -> Self {
        let tally = view.tally();
        let r = &view.release;
        Self {
            status: r.status(),
            release_name: r.release_name.clone(),
            release_id: r.release_id.clone(),
            team_project: r.team_project.clone(),
            environment: r.environment.clone(),
            requested_for: r.requested_for.clone(),
            required_approvals: tally.required,
            approvals: tally.approvals,
            rejections: tally.rejections,
            approvers: view
                .approvals
                .iter()
                .map(|a| ApproverEntry {
                    email: a.email.clone(),
                    name: a.name.clone(),
                    decision: a.decision.map(|d| d.as_str().to_owned()),
                    decided_at: a.decided_at.map(rfc3339),
                    comment: a.comment.clone(),
                })
                .collect(),
            created_at: rfc3339(r.created_at),
            expires_at: rfc3339(r.expires_at),
            decided_at: r.decided_at.map(rfc3339),
            reason: r.reason.clone(),
        }
    }
}
