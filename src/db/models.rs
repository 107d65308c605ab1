//! Rows as stored.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{approvals, jobs, releases};
use crate::domain::{Decision, ReleaseStatus};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = releases)]
pub struct Release {
    pub id: i64,
    pub team_project: String,
    pub environment: String,
    pub release_id: String,
    pub team_project_key: String,
    pub environment_key: String,
    pub release_name: String,
    /// A value no `ReleaseStatus` writes fails the query (`db::types`).
    pub status: ReleaseStatus,
    pub required_approvals: Option<i32>,
    pub reason: Option<String>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub decided_at: Option<NaiveDateTime>,
    pub requested_for: Option<String>,
    pub quorum: Option<i32>,
    pub requester_can_approve: bool,
}

impl Release {
    pub fn status(&self) -> ReleaseStatus {
        self.status
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = releases)]
pub struct NewReleaseRow<'a> {
    pub team_project: &'a str,
    pub environment: &'a str,
    pub release_id: &'a str,
    pub team_project_key: &'a str,
    pub environment_key: &'a str,
    pub release_name: &'a str,
    pub status: ReleaseStatus,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub requested_for: Option<&'a str>,
    pub quorum: Option<i32>,
    pub requester_can_approve: bool,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = approvals)]
pub struct Approval {
    pub id: i64,
    pub release_pk: i64,
    pub email: String,
    pub email_key: String,
    pub name: Option<String>,
    pub token_id: String,
    pub token_expires_at: NaiveDateTime,
    pub decision: Option<Decision>,
    pub comment: Option<String>,
    pub decided_at: Option<NaiveDateTime>,
    pub email_sent_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub reminded_at: Option<NaiveDateTime>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = approvals)]
pub struct NewApprovalRow {
    pub release_pk: i64,
    pub email: String,
    pub email_key: String,
    pub name: Option<String>,
    pub token_id: String,
    pub token_expires_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
}

/// A job as claimed by a worker.
#[derive(Debug, Clone, QueryableByName)]
#[diesel(table_name = jobs)]
pub struct ClaimedJob {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub last_error: Option<String>,
    pub lock_token: Option<String>,
    /// The request that caused it, carried into its log lines.
    pub request_id: Option<String>,
}
