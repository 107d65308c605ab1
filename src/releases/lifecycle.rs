//! What happens to a release, and when: creating it, storing its
//! approvers, recording decisions, settling it by its policy, failing or
//! expiring it, and the jobs each step queues. Each step is one
//! transaction; the database layer below only runs the queries, and the
//! policy (`domain::policy`) decides. Nothing here reads and writes on
//! the same call unless the caller asked for a change.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::events::{self, NewEventRow};
use crate::db::models::{Approval, NewApprovalRow, NewReleaseRow, Release};
use crate::db::slack_messages::{self, NewSlackMessageRow};
use crate::db::subscribers::{self, NewSubscriberRow};
use crate::db::{releases, DbConnection};
use crate::domain::policy::{decide, required_approvals, Decision, Policy, ReleaseStatus, Tally};
use crate::domain::EventKind;
use crate::domain::{NewRelease, ReleaseKey};
use crate::queue::{self, Claim, RunAt};
use crate::releases::jobs::{
    ExpireRelease, PostSlackMessage, ProcessRelease, RemindApprovers, SendApprovalEmail,
    SendAzureCallback, SendGithubReview, SendReminder, SendWebhook, UpdateSlackMessage,
};
use crate::releases::subscriber::{Subscriber, SubscriberKind};

/// Appends an event to the audit trail, inside the caller's transaction:
/// the change and its record commit together, or neither does.
fn record(
    conn: &mut DbConnection,
    release_pk: i64,
    at: NaiveDateTime,
    kind: EventKind,
    actor: Option<&str>,
    detail: serde_json::Value,
) -> QueryResult<()> {
    events::append(
        conn,
        &NewEventRow {
            release_pk: Some(release_pk),
            team_project_key: None,
            at,
            kind: kind.as_str(),
            actor,
            detail: &detail.to_string(),
        },
    )
}

/// A release with its approvals, as the status document shows it.
#[derive(Debug, Clone)]
pub struct ReleaseView {
    pub release: Release,
    pub approvals: Vec<Approval>,
}

impl ReleaseView {
    pub fn tally(&self) -> Tally {
        tally(&self.release, &self.approvals)
    }
}

fn tally(release: &Release, approvals: &[Approval]) -> Tally {
    Tally::from_decisions(
        release.required_approvals.map(|n| n.max(0) as u32),
        approvals.iter().map(|a| a.decision),
    )
}

/// Loads a release with its approvals, as of `now`.
pub fn view(
    conn: &mut DbConnection,
    release: Release,
    now: NaiveDateTime,
) -> QueryResult<ReleaseView> {
    let approvals = releases::approvals_of(conn, release.id)?;
    Ok(as_of(release, approvals, now))
}

/// A pending release past its deadline is shown expired (as of its
/// deadline) even before its scheduled expiry has run: the answer never
/// depends on the worker's lag, and reading writes nothing.
fn as_of(mut release: Release, approvals: Vec<Approval>, now: NaiveDateTime) -> ReleaseView {
    let current = release.status();
    if current == ReleaseStatus::Pending
        && decide(
            current,
            &tally(&release, &approvals),
            now,
            release.expires_at,
        ) == ReleaseStatus::Expired
    {
        release.status = ReleaseStatus::Expired;
        release.decided_at = Some(release.expires_at);
    }
    ReleaseView { release, approvals }
}

/// A page of releases, newest first, as of `now`.
pub fn list(
    conn: &mut DbConnection,
    filter: &releases::ListFilter,
    now: NaiveDateTime,
) -> QueryResult<Vec<ReleaseView>> {
    Ok(releases::list(conn, filter)?
        .into_iter()
        .map(|(release, approvals)| as_of(release, approvals, now))
        .collect())
}

/// A release's audit trail, oldest first; `None` if there is no such
/// release.
pub fn events_of(
    conn: &mut DbConnection,
    key: &ReleaseKey,
) -> QueryResult<Option<(Release, Vec<events::EventRow>)>> {
    let Some(release) = releases::find(conn, key)? else {
        return Ok(None);
    };
    let trail = events::of_release(conn, release.id)?;
    Ok(Some((release, trail)))
}

pub fn find(
    conn: &mut DbConnection,
    key: &ReleaseKey,
    now: NaiveDateTime,
) -> QueryResult<Option<ReleaseView>> {
    Ok(releases::find_with_approvals(conn, key)?
        .map(|(release, approvals)| as_of(release, approvals, now)))
}

/// A release as of `now` with its audit trail, oldest first (the
/// dashboard's page of one release); `None` if there is no such release.
pub fn find_with_events(
    conn: &mut DbConnection,
    key: &ReleaseKey,
    now: NaiveDateTime,
) -> QueryResult<Option<(ReleaseView, Vec<events::EventRow>)>> {
    let Some(view) = find(conn, key, now)? else {
        return Ok(None);
    };
    let trail = events::of_release(conn, view.release.id)?;
    Ok(Some((view, trail)))
}

/// Someone to tell of the decision, with the secret it is told with.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub subscriber: Subscriber,
    pub credential: Option<String>,
}

/// Stores a new release with the job that fetches its approvers, the one
/// that expires it at its deadline, and who is to be told of its
/// decision, in one transaction. `None` if it exists already. With
/// `ttl_cap` (a waiter whose credential dies then) it expires within that,
/// and the policy's own deadline is kept as the limit a later waiter may
/// move it to.
pub fn create(
    conn: &mut DbConnection,
    new: &NewRelease,
    policy: &Policy,
    subscriptions: &[Subscription],
    ttl_cap: Option<chrono::Duration>,
    now: NaiveDateTime,
    max_attempts: i32,
) -> QueryResult<Option<ReleaseView>> {
    let ttl_expires_at = now + policy.release_ttl;
    let expires_at = ttl_cap.map_or(ttl_expires_at, |cap| ttl_expires_at.min(now + cap));
    let (team_project_key, environment_key) =
        (new.key.team_project_key(), new.key.environment_key());
    let requested_for = new.requested_for.as_ref().map(|e| e.to_string());
    let row = NewReleaseRow {
        team_project: new.key.team_project(),
        environment: new.key.environment(),
        release_id: new.key.release_id(),
        team_project_key: &team_project_key,
        environment_key: &environment_key,
        release_name: &new.name,
        status: ReleaseStatus::Pending,
        created_at: now,
        expires_at,
        requested_for: requested_for.as_deref(),
        quorum: policy.quorum.map(|n| i32::try_from(n).unwrap_or(i32::MAX)),
        requester_can_approve: policy.requester_can_approve,
    };
    conn.transaction(|conn| {
        let Some(release) = releases::insert(conn, &row)? else {
            return Ok(None);
        };
        let pk = release.id;
        releases::insert_limit(conn, pk, ttl_expires_at)?;
        record(
            conn,
            pk,
            now,
            EventKind::ReleaseCreated,
            None,
            serde_json::json!({
                "release_name": new.name,
                "expires_at": expires_at
                    .and_utc()
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            }),
        )?;
        queue::enqueue(
            conn,
            &ProcessRelease { release_pk: pk },
            max_attempts,
            RunAt::Now,
        )?;
        if let Some(after) = policy.reminder_after {
            // Fixed now, by the job's due time: a change of configuration
            // never moves it. Pointless at or past the deadline.
            if now + after < expires_at {
                queue::enqueue(
                    conn,
                    &RemindApprovers { release_pk: pk },
                    max_attempts,
                    RunAt::At(now + after),
                )?;
            }
        }
        queue::enqueue(
            conn,
            &ExpireRelease { release_pk: pk },
            max_attempts,
            RunAt::At(expires_at),
        )?;
        for subscription in subscriptions {
            subscribe(conn, &release, subscription, None, now, max_attempts)?;
        }
        Ok(Some(ReleaseView {
            release,
            approvals: Vec::new(),
        }))
    })
}

/// Completes a release's processing job: stores its approvers and queues
/// one email job per approver, and the Slack message if `slack_channel`
/// names one, in one transaction. Returns how many emails were queued, or
/// `None` if the claim was lost (another worker has the job now, and
/// nothing was written).
pub fn store_approvers(
    conn: &mut DbConnection,
    claim: &Claim,
    release_pk: i64,
    rows: Vec<NewApprovalRow>,
    slack_channel: Option<&str>,
    max_attempts: i32,
) -> QueryResult<Option<usize>> {
    conn.transaction(|conn| {
        if !claim.complete(conn)? {
            return Ok(None);
        }
        let release = releases::by_pk(conn, release_pk)?;
        if release.status().is_decided() {
            // Decided meanwhile (expired, say): nobody needs an email.
            return Ok(Some(0));
        }
        let at = rows.first().map_or_else(crate::db::now, |r| r.created_at);
        let fetched: Vec<&str> = rows.iter().map(|r| r.email.as_str()).collect();
        record(
            conn,
            release_pk,
            at,
            EventKind::ApproversFetched,
            None,
            serde_json::json!({ "approvers": fetched }),
        )?;
        // The person who asked may not approve their own release, unless
        // the policy allows it (compared case-insensitively).
        let requester = release.requested_for.as_deref().map(str::to_lowercase);
        let (excluded, rows): (Vec<NewApprovalRow>, Vec<NewApprovalRow>) =
            rows.into_iter().partition(|row| {
                !release.requester_can_approve && requester.as_deref() == Some(&row.email_key)
            });
        for row in &excluded {
            record(
                conn,
                release_pk,
                at,
                EventKind::ApproverExcluded,
                None,
                serde_json::json!({"email": row.email, "why": "requested the release"}),
            )?;
        }
        let quorum = release.quorum.map(|n| n.max(0) as u32);
        let required = match required_approvals(quorum, rows.len(), !excluded.is_empty()) {
            Ok(n) => i32::try_from(n).unwrap_or(i32::MAX),
            Err(why) => {
                // Waiting would be for ever: the release fails, and says why.
                settle(conn, release_pk, ReleaseStatus::Failed, Some(&why), at)?;
                return Ok(Some(0));
            }
        };
        if !releases::set_required_approvals(conn, release_pk, required)? {
            return Ok(Some(0));
        }
        let count = rows.len();
        if let Some(channel) = slack_channel {
            slack_messages::insert(
                conn,
                &NewSlackMessageRow {
                    release_pk,
                    channel,
                    max_attempts,
                    created_at: at,
                },
            )?;
            queue::enqueue(
                conn,
                &PostSlackMessage { release_pk },
                max_attempts,
                RunAt::Now,
            )?;
        }
        for row in rows {
            let approval_pk = releases::insert_approval(conn, &row)?;
            queue::enqueue(
                conn,
                &SendApprovalEmail {
                    release_pk,
                    approval_pk,
                },
                max_attempts,
                RunAt::Now,
            )?;
        }
        Ok(Some(count))
    })
}

/// Records that the mail server accepted an approval email, and completes
/// its job.
pub fn email_sent(
    conn: &mut DbConnection,
    claim: &Claim,
    approval: &Approval,
    now: NaiveDateTime,
) -> QueryResult<()> {
    mail_accepted(conn, claim, approval, now, EventKind::EmailSent)
}

/// An email to an approver was accepted by the mail server: marked once
/// (the approval email, or its one reminder), recorded the first time, and
/// its job completed, in one transaction.
fn mail_accepted(
    conn: &mut DbConnection,
    claim: &Claim,
    approval: &Approval,
    now: NaiveDateTime,
    kind: EventKind,
) -> QueryResult<()> {
    conn.transaction(|conn| {
        let first_time = match kind {
            EventKind::ReminderSent => releases::mark_reminded(conn, approval.id, now)?,
            _ => releases::mark_email_sent(conn, approval.id, now)?,
        };
        if first_time {
            record(
                conn,
                approval.release_pk,
                now,
                kind,
                None,
                serde_json::json!({"to": approval.email}),
            )?;
        }
        claim.complete(conn)?;
        Ok(())
    })
}

/// At a release's reminder time: one reminder job per approver who has
/// not decided (nor been reminded), in the transaction that completes the
/// scheduled job. `None` if the claim was lost.
pub fn queue_reminders(
    conn: &mut DbConnection,
    claim: &Claim,
    release_pk: i64,
    max_attempts: i32,
) -> QueryResult<Option<usize>> {
    conn.transaction(|conn| {
        if !claim.complete(conn)? {
            return Ok(None);
        }
        let release = releases::by_pk(conn, release_pk)?;
        if release.status().is_decided() {
            return Ok(Some(0));
        }
        let undecided: Vec<i64> = releases::approvals_of(conn, release_pk)?
            .into_iter()
            .filter(|a| a.decision.is_none() && a.reminded_at.is_none())
            .map(|a| a.id)
            .collect();
        for approval_pk in &undecided {
            queue::enqueue(
                conn,
                &SendReminder {
                    release_pk,
                    approval_pk: *approval_pk,
                },
                max_attempts,
                RunAt::Now,
            )?;
        }
        Ok(Some(undecided.len()))
    })
}

/// Records that an approver was reminded (once), and completes the job.
pub fn reminder_sent(
    conn: &mut DbConnection,
    claim: &Claim,
    approval: &Approval,
    now: NaiveDateTime,
) -> QueryResult<()> {
    mail_accepted(conn, claim, approval, now, EventKind::ReminderSent)
}

/// An approval email could not be sent, for good: recorded, and the
/// release fails with `reason`. Runs inside the transaction that buries
/// the job.
pub fn email_failed(
    conn: &mut DbConnection,
    approval: &Approval,
    reason: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    record(
        conn,
        approval.release_pk,
        now,
        EventKind::EmailFailed,
        None,
        serde_json::json!({"to": approval.email}),
    )?;
    fail(conn, approval.release_pk, reason, now)
}

/// Settles a pending release; the scheduled expiry is then pointless and
/// leaves the queue. False if the release was decided already.
fn settle(
    conn: &mut DbConnection,
    release_pk: i64,
    status: ReleaseStatus,
    reason: Option<&str>,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    if !releases::settle(conn, release_pk, status, reason, at)? {
        return Ok(false);
    }
    // Counted once the decision is committed: never for a rolled-back
    // (and retried) one.
    crate::db::after_commit(move || crate::metrics::release_decided(status));
    if let Some(kind) = EventKind::settled(status) {
        let detail = match reason {
            Some(reason) => serde_json::json!({"reason": reason}),
            None => serde_json::json!({}),
        };
        record(conn, release_pk, at, kind, None, detail)?;
    }
    slack_changed(conn, release_pk)?;
    // Other wings' work that follows the decision (a gated deployment).
    super::settled::tell(conn, release_pk, status, reason, at)?;
    // Whoever waits for the decision is told.
    for subscriber in subscribers::waiting(conn, release_pk)? {
        notify(
            conn,
            release_pk,
            subscriber.kind,
            subscriber.id,
            subscriber.max_attempts,
        )?;
    }
    // What was scheduled for a pending release is pointless now (the
    // expiry job that is settling it excepted).
    let subject = release_pk.to_string();
    if status != ReleaseStatus::Expired {
        queue::cancel::<ExpireRelease>(conn, &subject)?;
    }
    queue::cancel::<RemindApprovers>(conn, &subject)?;
    queue::cancel::<SendReminder>(conn, &subject)?;
    Ok(true)
}

/// Adds someone to tell of `release`'s decision (once per kind and key:
/// a pipeline that asks again is not told twice). Told at once if the
/// release is decided already (as stored: a release only shown expired is
/// told by its expiry job).
///
/// A new waiter with `ttl_cap` (its credential's life) moves the pending
/// release's deadline to `now + ttl_cap`, within the policy's limit: later
/// when it is the newest of such waiters and lives longer, earlier when
/// it is the first (a release created by polls). Its expiry job moves with
/// it, and approval links live to the limit (`db::releases::expiry_limit`).
pub fn subscribe(
    conn: &mut DbConnection,
    release: &Release,
    subscription: &Subscription,
    ttl_cap: Option<chrono::Duration>,
    now: NaiveDateTime,
    max_attempts: i32,
) -> QueryResult<()> {
    // Under the release's lock, like settling: either the decision sees
    // this subscriber waiting, or this sees the decision. Never neither.
    releases::lock(conn, release.id)?;
    let current = releases::by_pk(conn, release.id)?;
    let decided = current.status().is_decided();
    let target = serde_json::to_string(&subscription.subscriber)
        .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
    let dedupe_key = subscription.subscriber.dedupe_key();
    let inserted = subscribers::insert_new(
        conn,
        &NewSubscriberRow {
            release_pk: release.id,
            kind: subscription.subscriber.kind(),
            target: &target,
            credential: subscription.credential.as_deref(),
            dedupe_key: &dedupe_key,
            max_attempts,
            created_at: now,
        },
    )?;
    if let (Some(id), true) = (inserted, decided) {
        notify(
            conn,
            release.id,
            subscription.subscriber.kind(),
            id,
            max_attempts,
        )?;
    }
    if let (Some(_), false, Some(cap)) = (inserted, decided, ttl_cap) {
        let limit = releases::expiry_limit(conn, &current)?;
        move_deadline(conn, &current, (now + cap).min(limit), now, max_attempts)?;
    }
    Ok(())
}

/// Moves a pending release's deadline and its expiry job together. Not
/// once the deadline has passed (the release is expired, or its expiry
/// job is running: that job judges by the stored deadline).
fn move_deadline(
    conn: &mut DbConnection,
    release: &Release,
    to: NaiveDateTime,
    now: NaiveDateTime,
    max_attempts: i32,
) -> QueryResult<()> {
    if to == release.expires_at || release.expires_at <= now || to <= now {
        return Ok(());
    }
    let subject = release.id.to_string();
    if queue::cancel::<ExpireRelease>(conn, &subject)? == 0 {
        // Its expiry job was claimed already: the deadline stays.
        return Ok(());
    }
    queue::enqueue(
        conn,
        &ExpireRelease {
            release_pk: release.id,
        },
        max_attempts,
        RunAt::At(to),
    )?;
    releases::set_expires_at(conn, release.id, to)?;
    let at = |t: NaiveDateTime| {
        t.and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    record(
        conn,
        release.id,
        now,
        EventKind::ReleaseExpiryMoved,
        None,
        serde_json::json!({"from": at(release.expires_at), "expires_at": at(to)}),
    )
}

/// Queues the job that tells one subscriber (of `kind`) of the decision.
fn notify(
    conn: &mut DbConnection,
    release_pk: i64,
    kind: SubscriberKind,
    subscriber_pk: i64,
    attempts: i32,
) -> QueryResult<()> {
    match kind {
        SubscriberKind::Webhook => queue::enqueue(
            conn,
            &SendWebhook {
                release_pk,
                subscriber_pk,
                delivery_id: crate::ids::random_id(),
            },
            attempts,
            RunAt::Now,
        ),
        SubscriberKind::Github => queue::enqueue(
            conn,
            &SendGithubReview {
                release_pk,
                subscriber_pk,
            },
            attempts,
            RunAt::Now,
        ),
        SubscriberKind::AzureDevops => queue::enqueue(
            conn,
            &SendAzureCallback {
                release_pk,
                subscriber_pk,
            },
            attempts,
            RunAt::Now,
        ),
    }
}

/// Records that a subscriber was told, completing the job that told it,
/// in one transaction. False if the claim was lost (roll back).
pub fn notified(
    conn: &mut DbConnection,
    claim: &Claim,
    subscriber_pk: i64,
    release_pk: i64,
    kind: EventKind,
    detail: serde_json::Value,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    conn.transaction(|conn| {
        if !claim.complete(conn)? {
            return Ok(false);
        }
        if subscribers::mark_notified(conn, subscriber_pk, now)? {
            record(conn, release_pk, now, kind, None, detail)?;
        }
        Ok(true)
    })
}

/// The release changed (a decision, its settling): its Slack message, if
/// it has one, is to show it. One update queued at a time: it reads the
/// release when it runs.
pub fn slack_changed(conn: &mut DbConnection, release_pk: i64) -> QueryResult<()> {
    let Some(row) = slack_messages::of_release(conn, release_pk)? else {
        return Ok(());
    };
    let job = UpdateSlackMessage { release_pk };
    queue::cancel::<UpdateSlackMessage>(conn, &release_pk.to_string())?;
    queue::enqueue(conn, &job, row.max_attempts, RunAt::Now)
}

/// Records where the release's Slack message was posted, completing the
/// job that posted it, in one transaction. False if the claim was lost.
pub fn slack_posted(
    conn: &mut DbConnection,
    claim: &Claim,
    release_pk: i64,
    channel: &str,
    ts: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    conn.transaction(|conn| {
        // Under the release's lock, like a decision: either the decision
        // sees the message posted, or this sees the decision.
        releases::lock(conn, release_pk)?;
        if !claim.complete(conn)? {
            return Ok(false);
        }
        if slack_messages::mark_posted(conn, release_pk, channel, ts, now)? {
            record(
                conn,
                release_pk,
                now,
                EventKind::SlackPosted,
                None,
                serde_json::json!({"channel": channel, "ts": ts}),
            )?;
        }
        Ok(true)
    })
}

/// Records that the Slack message could not be posted or updated (its job
/// gave up); a message never posted is forgotten (nothing to update).
pub fn slack_failed(
    conn: &mut DbConnection,
    release_pk: i64,
    reason: &str,
    forget: bool,
    now: NaiveDateTime,
) -> QueryResult<()> {
    if forget {
        slack_messages::delete(conn, release_pk)?;
    }
    record(
        conn,
        release_pk,
        now,
        EventKind::SlackFailed,
        None,
        serde_json::json!({"reason": reason}),
    )
}

/// Records that a subscriber could not be told (the job gave up).
pub fn notify_failed(
    conn: &mut DbConnection,
    release_pk: i64,
    kind: EventKind,
    detail: serde_json::Value,
    now: NaiveDateTime,
) -> QueryResult<()> {
    record(conn, release_pk, now, kind, None, detail)
}

/// Fails a pending release with a reason its pipeline can read. Runs
/// inside the transaction that buries the job that gave up.
pub fn fail(
    conn: &mut DbConnection,
    release_pk: i64,
    reason: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    settle(conn, release_pk, ReleaseStatus::Failed, Some(reason), now)
}

/// Expires a release still pending at its deadline: the scheduled job's
/// body. The job is due by the database's clock, so this process's clock
/// is not asked again: the release is judged as of its deadline.
/// `Some(false)` if it was decided first, `None` if the claim was lost.
pub fn expire(
    conn: &mut DbConnection,
    claim: &Claim,
    release_pk: i64,
) -> QueryResult<Option<bool>> {
    conn.transaction(|conn| {
        // The job ends with the change it makes: a reader never sees the
        // release expired while its expiry job still waits to finish.
        if !claim.complete(conn)? {
            return Ok(None);
        }
        releases::lock(conn, release_pk)?;
        let release = releases::by_pk(conn, release_pk)?;
        let approvals = releases::approvals_of(conn, release_pk)?;
        let deadline = release.expires_at;
        let next = decide(
            release.status(),
            &tally(&release, &approvals),
            deadline,
            deadline,
        );
        if next != ReleaseStatus::Expired || release.status().is_decided() {
            return Ok(Some(false));
        }
        settle(conn, release_pk, next, None, deadline).map(Some)
    })
}

/// What recording a decision did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionOutcome {
    /// The decision was stored.
    Recorded,
    /// This approver had decided already; nothing changed.
    AlreadyDecided(Decision),
    /// The release was decided (or expired) before this approver acted.
    ReleaseClosed,
}

/// Where an approver decided: the email's link, or Slack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Email,
    Slack,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Slack => "slack",
        }
    }
}

/// Records one approver's decision and settles the release if its policy
/// says so, in one transaction that starts by locking the release row:
/// approvers deciding at the same instant are counted one after the other.
pub fn record_decision(
    conn: &mut DbConnection,
    approval: &Approval,
    decision: Decision,
    comment: Option<&str>,
    via: Via,
    now: NaiveDateTime,
) -> QueryResult<(DecisionOutcome, ReleaseView)> {
    conn.transaction(|conn| {
        releases::lock(conn, approval.release_pk)?;
        let release = releases::by_pk(conn, approval.release_pk)?;
        let mut approvals = releases::approvals_of(conn, release.id)?;
        let Some(mine) = approvals.iter().position(|a| a.id == approval.id) else {
            return Err(diesel::result::Error::NotFound);
        };
        if let Some(previous) = approvals[mine].decision {
            let view = view(conn, release, now)?;
            return Ok((DecisionOutcome::AlreadyDecided(previous), view));
        }
        let current = release.status();
        if decide(
            current,
            &tally(&release, &approvals),
            now,
            release.expires_at,
        )
        .is_decided()
        {
            let view = view(conn, release, now)?;
            return Ok((DecisionOutcome::ReleaseClosed, view));
        }
        releases::set_decision(conn, approval.id, decision, comment, now)?;
        record(
            conn,
            release.id,
            now,
            EventKind::decided(decision),
            Some(&approval.email),
            serde_json::json!({"comment": comment, "via": via.as_str()}),
        )?;
        approvals[mine].decision = Some(decision);
        let next = decide(
            current,
            &tally(&release, &approvals),
            now,
            release.expires_at,
        );
        if next != current {
            settle(conn, release.id, next, None, now)?;
        } else {
            slack_changed(conn, release.id)?;
        }
        let release = releases::by_pk(conn, release.id)?;
        Ok((DecisionOutcome::Recorded, view(conn, release, now)?))
    })
}

/// A release by its primary key, as of `now` (a gated deployment's).
pub fn view_of(
    conn: &mut DbConnection,
    release_pk: i64,
    now: NaiveDateTime,
) -> QueryResult<ReleaseView> {
    let release = releases::by_pk(conn, release_pk)?;
    view(conn, release, now)
}
