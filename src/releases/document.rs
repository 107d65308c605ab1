//! What pipelines read: the status document, a page of them, and a
//! release's audit trail. These are the types the handlers serialize, and
//! the OpenAPI document describes them from their `ToSchema` derives.

use chrono::{NaiveDateTime, SecondsFormat};
use serde::Serialize;

use super::lifecycle::ReleaseView;
use crate::db::events::EventRow;
use crate::domain::{Decision, ReleaseStatus};

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
    /// Null while undecided.
    pub decision: Option<Decision>,
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
                    decision: a.decision,
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

/// `GET /releases`: a page of status documents, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReleaseList {
    pub releases: Vec<StatusDocument>,
    /// Pass as `cursor` for the next page; null on the last one.
    pub next_cursor: Option<String>,
}

/// `GET /releases/{team_project}/{release_id}/events`: oldest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventList {
    pub events: Vec<EventEntry>,
}

/// One change to a release; events are never changed or deleted.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventEntry {
    pub id: i64,
    #[schema(format = DateTime)]
    pub at: String,
    /// `release.created`, `approval.approved`, `webhook.sent`...
    #[serde(rename = "type")]
    pub kind: String,
    /// Who acted, when a person did.
    pub actor: Option<String>,
    /// What happened, by type (a comment, a reason...).
    pub detail: serde_json::Value,
}

impl From<EventRow> for EventEntry {
    fn from(e: EventRow) -> Self {
        Self {
            id: e.id,
            at: rfc3339(e.at),
            kind: e.kind,
            actor: e.actor,
            // Written by us as JSON; an unreadable one is shown as text.
            detail: serde_json::from_str(&e.detail).unwrap_or(serde_json::Value::String(e.detail)),
        }
    }
}
