//! The stacks wing's use cases. Every write is one transaction that first
//! takes the project's lock (`db::stacks::lock_project`), so that two
//! requests never lease one stack nor create one name twice, on either
//! backend and across replicas; it ends the project's lapsed leases, then
//! decides, writes and appends its audit event. A refusal writes nothing
//! but what lapsed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use serde_json::json;
use tokio::sync::Notify;

use super::changes::{self, record};
use super::jobs::ExpireStackLease;
use crate::db::stacks::{self as rows, Lease, NewLeaseRow, NewStackRow, Stack};
use crate::db::{self, Db, DbConnection, DbError};
use crate::domain::stack::{LeaseToken, StackPolicy, StackRequest};
use crate::domain::EventKind;
use crate::environments::Policies;
use crate::queue::{self, RunAt};

/// How long a waiter keeps its place after its last ask: a client told
/// `Retry-After` re-asks well within it.
const WAITER_GRACE: Duration = Duration::from_secs(30);
/// What `409 pool-exhausted` tells a client to wait before asking again.
pub const RETRY_AFTER_SECS: u64 = 5;
/// How often a waiting request looks again, for releases on other
/// replicas (this replica's releases wake it at once).
const POLL: Duration = Duration::from_millis(250);

/// The project a call concerns: its name as given, and its folded key.
#[derive(Debug, Clone)]
pub struct Project {
    pub name: String,
    pub key: String,
}

/// A stack just leased, with the token only this answer carries.
#[derive(Debug, Clone)]
pub struct Granted {
    pub stack: Stack,
    pub lease: Lease,
    pub token: LeaseToken,
}

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("every stack of the project is leased and max_stacks is reached; this request is number {position} in the queue (ask again with request_id {request_id} to keep the place)")]
    PoolExhausted { position: i64, request_id: String },
    #[error("no stack {0} in this project")]
    NotFound(String),
    #[error("the project has no stack")]
    NoStacks,
    #[error("the lease of stack {name} was {how}; this token no longer holds it (request a stack again)")]
    LeaseExpired { name: String, how: String },
    #[error("the Greenlight-Lease token is not a lease of stack {0}")]
    WrongLease(String),
    #[error("stack {0} is leased; it can be deleted once released")]
    Leased(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

type Refusable<T> = Result<T, StackError>;

/// The stacks wing, as its callers hold it.
#[derive(Clone)]
pub struct Stacks {
    db: Db,
    policies: Arc<Policies>,
    max_attempts: i32,
    /// Wakes this process's waiting requests when a stack is released.
    released: Arc<Notify>,
}

/// What one try of a request did.
enum Attempt {
    Granted(Box<Granted>),
    Queued(i64),
}

/// What a holder does with its lease.
enum Use {
    Heartbeat(Duration),
    Commit(String),
    Release,
}

impl Stacks {
    pub fn new(db: Db, policies: Arc<Policies>, max_attempts: i32, released: Arc<Notify>) -> Self {
        Self {
            db,
            policies,
            max_attempts,
            released,
        }
    }

    /// The project's stack policy.
    pub fn policy(&self, team_project_key: &str) -> StackPolicy {
        self.policies.stacks(team_project_key)
    }

    /// Leases a stack to `request.branch` by the seed's rule (see
    /// `choose`); when the pool is exhausted, waits in the project's
    /// first-come queue up to `request.wait`.
    pub async fn request(
        &self,
        project: Project,
        request: StackRequest,
        actor: Option<String>,
    ) -> Refusable<Granted> {
        let started = Instant::now();
        let deadline = started + request.wait;
        let request_id = request
            .request_id
            .clone()
            .unwrap_or_else(crate::ids::random_id);
        let policy = self.policy(&project.key);
        loop {
            // Registered before the try, so a release during it is seen.
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            let left = deadline.saturating_duration_since(Instant::now());
            let ask = Ask {
                project: project.clone(),
                branch: request.branch.clone(),
                request_id: request_id.clone(),
                keep: left + WAITER_GRACE,
                policy: policy.clone(),
                actor: actor.clone(),
                max_attempts: self.max_attempts,
            };
            match self.db.write(move |conn| Ok(attempt(conn, &ask)?)).await? {
                Attempt::Granted(granted) => {
                    crate::metrics::stack_granted(started.elapsed().as_secs_f64());
                    return Ok(*granted);
                }
                Attempt::Queued(position) if left.is_zero() => {
                    return Err(StackError::PoolExhausted {
                        position,
                        request_id,
                    })
                }
                Attempt::Queued(_) => {
                    tokio::select! {
                        () = &mut released => {}
                        () = tokio::time::sleep(POLL.min(left)) => {}
                    }
                }
            }
        }
    }

    /// Moves the lease's end to `stack_lease_ttl` from now.
    pub async fn heartbeat(
        &self,
        project: Project,
        name: String,
        token: LeaseToken,
        actor: Option<String>,
    ) -> Refusable<(Stack, Lease)> {
        let ttl = self.policy(&project.key).lease_ttl;
        self.use_lease(project, name, token, Use::Heartbeat(ttl), actor)
            .await
    }

    /// Records the commit the holder deployed on the stack.
    pub async fn set_commit(
        &self,
        project: Project,
        name: String,
        token: LeaseToken,
        commit: String,
        actor: Option<String>,
    ) -> Refusable<(Stack, Lease)> {
        self.use_lease(project, name, token, Use::Commit(commit), actor)
            .await
    }

    /// Makes the stack available; the first waiter gets it.
    pub async fn release(
        &self,
        project: Project,
        name: String,
        token: LeaseToken,
        actor: Option<String>,
    ) -> Refusable<Stack> {
        let (stack, _) = self
            .use_lease(project, name, token, Use::Release, actor)
            .await?;
        self.released.notify_waiters();
        Ok(stack)
    }

    /// The project's stacks, by number.
    pub async fn list(&self, team_project_key: String) -> Result<Vec<Stack>, DbError> {
        self.db
            .read(move |conn| Ok(rows::of_project(conn, &team_project_key)?))
            .await
    }

    /// Deletes the highest-numbered stack if it is available.
    pub async fn delete_last(&self, project: Project, actor: Option<String>) -> Refusable<Stack> {
        let max_attempts = self.max_attempts;
        let deleted = self
            .db
            .write(move |conn| {
                rows::lock_project(conn, &project.key)?;
                let now = db::now();
                changes::expire_lapsed(conn, &project.key, now, max_attempts)?;
                let Some(last) = rows::of_project(conn, &project.key)?.pop() else {
                    return Ok(Err(StackError::NoStacks));
                };
                if !last.is_available {
                    return Ok(Err(StackError::Leased(last.name)));
                }
                rows::delete(conn, last.pk)?;
                record(
                    conn,
                    &project.key,
                    EventKind::StackDeleted,
                    actor.as_deref(),
                    json!({
                        "stack_name": last.name,
                        "branch": last.branch,
                        "last_deployed_commit": last.last_deployed_commit,
                    }),
                    now,
                )?;
                Ok(Ok(last))
            })
            .await??;
        // Under max_stacks, a waiter may now create one.
        self.released.notify_waiters();
        Ok(deleted)
    }

    async fn use_lease(
        &self,
        project: Project,
        name: String,
        token: LeaseToken,
        what: Use,
        actor: Option<String>,
    ) -> Refusable<(Stack, Lease)> {
        let max_attempts = self.max_attempts;
        let outcome = self
            .db
            .write(move |conn| {
                rows::lock_project(conn, &project.key)?;
                let now = db::now();
                let (stack, lease) =
                    match held(conn, &project.key, &name, &token, now, max_attempts)? {
                        Ok(held) => held,
                        Err(refused) => return Ok(Err(refused)),
                    };
                let detail = |extra: serde_json::Value| {
                    let mut detail = json!({
                        "stack_name": stack.name,
                        "branch": lease.branch,
                        "fence": lease.fence,
                    });
                    if let (Some(fields), Some(more)) = (detail.as_object_mut(), extra.as_object())
                    {
                        fields.extend(more.clone());
                    }
                    detail
                };
                match what {
                    Use::Heartbeat(ttl) => {
                        // No event: a pipeline beats every few minutes.
                        rows::extend_lease(conn, lease.pk, now + chrono_of(ttl))?;
                    }
                    Use::Commit(commit) => {
                        rows::set_commit(conn, stack.pk, &commit, now)?;
                        let detail = detail(json!({ "commit": commit }));
                        record(
                            conn,
                            &project.key,
                            EventKind::StackCommitSet,
                            actor.as_deref(),
                            detail,
                            now,
                        )?;
                    }
                    Use::Release => {
                        rows::end_lease(conn, lease.pk, "released", now)?;
                        rows::set_available(conn, stack.pk, now)?;
                        queue::cancel::<ExpireStackLease>(conn, &lease.pk.to_string())?;
                        let detail = detail(json!({}));
                        record(
                            conn,
                            &project.key,
                            EventKind::StackReleased,
                            actor.as_deref(),
                            detail,
                            now,
                        )?;
                    }
                }
                let stack = rows::by_pk(conn, stack.pk)?.ok_or(diesel::result::Error::NotFound)?;
                let lease =
                    rows::lease_by_pk(conn, lease.pk)?.ok_or(diesel::result::Error::NotFound)?;
                Ok(Ok((stack, lease)))
            })
            .await??;
        Ok(outcome)
    }
}

/// One request's try, as the transaction needs it.
struct Ask {
    project: Project,
    branch: String,
    request_id: String,
    /// How long its place in the queue is kept from now.
    keep: Duration,
    policy: StackPolicy,
    actor: Option<String>,
    max_attempts: i32,
}

/// One try, in one transaction under the project's lock: a stack by the
/// seed's rule if this request is not behind others in the queue, else
/// its place (kept, or taken at the end).
fn attempt(conn: &mut DbConnection, ask: &Ask) -> diesel::QueryResult<Attempt> {
    let key = &ask.project.key;
    rows::lock_project(conn, key)?;
    let now = db::now();
    changes::expire_lapsed(conn, key, now, ask.max_attempts)?;
    rows::forget_gone_waiters(conn, key, now)?;
    let mine = rows::waiter(conn, key, &ask.request_id)?;
    let ahead = rows::waiters_before(conn, key, mine.as_ref().map(|w| w.pk))?;
    let stacks = rows::of_project(conn, key)?;
    let candidates: Vec<Candidate<'_>> = stacks.iter().map(Candidate::of).collect();
    let choice = choose(&candidates, &ask.branch, ahead, ask.policy.max_stacks);
    let stack = match choice {
        Choice::Wait => {
            let keep_until = now + chrono_of(ask.keep);
            match &mine {
                // A long poll's later tries keep what its first one set.
                Some(waiter) if waiter.expires_at < keep_until => {
                    rows::keep_waiter(conn, waiter.pk, keep_until)?
                }
                Some(_) => {}
                None => {
                    rows::insert_waiter(conn, key, &ask.request_id, &ask.branch, now, keep_until)?;
                }
            }
            return Ok(Attempt::Queued(ahead + 1));
        }
        Choice::Existing(number) => stacks
            .into_iter()
            .find(|s| s.number == number)
            .ok_or(diesel::result::Error::NotFound)?,
        Choice::New(number) => create(conn, ask, number, now)?,
    };
    if let Some(waiter) = mine {
        rows::delete_waiter(conn, waiter.pk)?;
    }
    grant(conn, ask, stack, now).map(|g| Attempt::Granted(Box::new(g)))
}

/// A new stack `{prefix}{number}`, leased from birth; its fences go on
/// from those of a deleted stack of the same name.
fn create(
    conn: &mut DbConnection,
    ask: &Ask,
    number: i64,
    now: NaiveDateTime,
) -> diesel::QueryResult<Stack> {
    let name = format!("{}{number}", ask.policy.prefix);
    let fence = rows::last_fence(conn, &ask.project.key, &name)?;
    let stack = rows::insert(
        conn,
        &NewStackRow {
            team_project: &ask.project.name,
            team_project_key: &ask.project.key,
            number,
            name: &name,
            branch: &ask.branch,
            is_available: false,
            fence,
            last_requested_at: now,
            created_at: now,
            modified_at: now,
        },
    )?;
    record(
        conn,
        &ask.project.key,
        EventKind::StackCreated,
        ask.actor.as_deref(),
        json!({"stack_name": name, "branch": ask.branch}),
        now,
    )?;
    Ok(stack)
}

/// Leases `stack` (available, or just created) with a new token and the
/// next fence, and schedules its expiry.
fn grant(
    conn: &mut DbConnection,
    ask: &Ask,
    stack: Stack,
    now: NaiveDateTime,
) -> diesel::QueryResult<Granted> {
    let token = LeaseToken::generate();
    let fence = stack.fence + 1;
    let expires_at = now + chrono_of(ask.policy.lease_ttl);
    let lease = rows::insert_lease(
        conn,
        &NewLeaseRow {
            stack_pk: stack.pk,
            team_project_key: &ask.project.key,
            stack_name: &stack.name,
            fence,
            token_hash: &token.hash(),
            branch: &ask.branch,
            holder: ask.actor.as_deref(),
            granted_at: now,
            expires_at,
        },
    )?;
    rows::set_leased(conn, stack.pk, &ask.branch, fence, now)?;
    queue::enqueue(
        conn,
        &ExpireStackLease { lease_pk: lease.pk },
        ask.max_attempts,
        RunAt::At(expires_at),
    )?;
    record(
        conn,
        &ask.project.key,
        EventKind::StackLeased,
        ask.actor.as_deref(),
        json!({
            "stack_name": stack.name,
            "branch": ask.branch,
            "fence": fence,
            "expires_at": super::document::time(expires_at),
        }),
        now,
    )?;
    let stack = rows::by_pk(conn, stack.pk)?.ok_or(diesel::result::Error::NotFound)?;
    Ok(Granted {
        stack,
        lease,
        token,
    })
}

/// The stack `name` and its open lease, if `token` holds it. A lease that
/// lapsed is ended here (the job may not have run yet), so its holder is
/// told `LeaseExpired` whatever the timing; a token of an ended lease of
/// this stack is `LeaseExpired`, any other `WrongLease`.
fn held(
    conn: &mut DbConnection,
    key: &str,
    name: &str,
    token: &LeaseToken,
    now: NaiveDateTime,
    max_attempts: i32,
) -> diesel::QueryResult<Refusable<(Stack, Lease)>> {
    let Some(stack) = rows::by_name(conn, key, name)? else {
        return Ok(Err(StackError::NotFound(name.to_owned())));
    };
    let open = rows::open_lease(conn, stack.pk)?;
    if let Some(open) = open.filter(|l| token.matches(&l.token_hash)) {
        if open.expires_at <= now {
            changes::expire(conn, &open, now, max_attempts)?;
            return Ok(Err(StackError::LeaseExpired {
                name: stack.name,
                how: "expired".to_owned(),
            }));
        }
        return Ok(Ok((stack, open)));
    }
    Ok(Err(
        match rows::lease_by_hash(conn, key, name, &token.hash())? {
            Some(old) => StackError::LeaseExpired {
                name: stack.name,
                how: old.end_reason.unwrap_or_else(|| "ended".to_owned()),
            },
            None => StackError::WrongLease(stack.name),
        },
    ))
}

fn chrono_of(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

// ------------------------------------------------------------- the choice

/// What `choose` needs to know of a stack.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub number: i64,
    /// The branch it was last leased to.
    pub branch: &'a str,
    pub is_available: bool,
    pub last_requested_at: NaiveDateTime,
}

impl<'a> Candidate<'a> {
    fn of(stack: &'a Stack) -> Self {
        Self {
            number: stack.number,
            branch: &stack.branch,
            is_available: stack.is_available,
            last_requested_at: stack.last_requested_at,
        }
    }
}

/// Which stack a request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// This stack (by number).
    Existing(i64),
    /// A new stack with this number.
    New(i64),
    /// None: wait in the queue.
    Wait,
}

/// The seed's rule, with a queue: (1) the stack the same branch used
/// last, if it is available; (2) else the available stack requested least
/// recently; (3) else a new stack numbered one past the highest, unless
/// `max_stacks` is reached; (4) else wait. A request with `ahead` waiters
/// before it waits unless there are stacks enough (available or yet to
/// create) for them all and for it: first come, first served.
pub fn choose(
    stacks: &[Candidate<'_>],
    branch: &str,
    ahead: i64,
    max_stacks: Option<u32>,
) -> Choice {
    let available = stacks.iter().filter(|s| s.is_available).count() as i64;
    let creatable = max_stacks.map_or(i64::MAX, |max| {
        (i64::from(max) - stacks.len() as i64).max(0)
    });
    if available.saturating_add(creatable) <= ahead {
        return Choice::Wait;
    }
    let branch_last = stacks
        .iter()
        .filter(|s| s.branch == branch)
        .max_by_key(|s| (s.last_requested_at, s.number));
    if let Some(own) = branch_last.filter(|s| s.is_available) {
        return Choice::Existing(own.number);
    }
    if let Some(oldest) = stacks
        .iter()
        .filter(|s| s.is_available)
        .min_by_key(|s| (s.last_requested_at, s.number))
    {
        return Choice::Existing(oldest.number);
    }
    if creatable > 0 {
        let next = stacks.iter().map(|s| s.number).max().unwrap_or(0) + 1;
        return Choice::New(next);
    }
    Choice::Wait
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: u32) -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 12, 4)
            .unwrap()
            .and_hms_opt(10, minute, 0)
            .unwrap()
    }

    fn stack(
        number: i64,
        branch: &'static str,
        is_available: bool,
        minute: u32,
    ) -> Candidate<'static> {
        Candidate {
            number,
            branch,
            is_available,
            last_requested_at: at(minute),
        }
    }

    #[test]
    fn the_same_branch_gets_its_stack_back_when_available() {
        let stacks = [
            stack(1, "main", true, 1),
            stack(2, "feature/a", true, 5),
            stack(3, "feature/b", true, 3),
        ];
        assert_eq!(choose(&stacks, "feature/a", 0, None), Choice::Existing(2));
    }

    #[test]
    fn else_the_available_stack_requested_least_recently() {
        let stacks = [
            stack(1, "main", false, 1),
            stack(2, "feature/a", true, 5),
            stack(3, "feature/b", true, 3),
        ];
        assert_eq!(choose(&stacks, "feature/c", 0, None), Choice::Existing(3));
        // The branch's own stack is leased (another run of it): the oldest.
        assert_eq!(choose(&stacks, "main", 0, None), Choice::Existing(3));
        // Ties go to the lower number.
        let tied = [stack(2, "x", true, 4), stack(1, "y", true, 4)];
        assert_eq!(choose(&tied, "z", 0, None), Choice::Existing(1));
    }

    #[test]
    fn the_branch_last_stack_counts_not_an_older_one() {
        // feature/a used 1, then 2 (still leased): 1 is not "its" stack.
        let stacks = [
            stack(1, "feature/a", true, 1),
            stack(2, "feature/a", false, 6),
            stack(3, "main", true, 0),
        ];
        assert_eq!(choose(&stacks, "feature/a", 0, None), Choice::Existing(3));
    }

    #[test]
    fn else_a_new_stack_one_past_the_highest() {
        assert_eq!(choose(&[], "main", 0, None), Choice::New(1));
        let stacks = [stack(1, "a", false, 1), stack(3, "b", false, 2)];
        assert_eq!(choose(&stacks, "c", 0, None), Choice::New(4));
        assert_eq!(choose(&stacks, "c", 0, Some(3)), Choice::New(4));
    }

    #[test]
    fn else_wait_when_max_stacks_is_reached() {
        let stacks = [stack(1, "a", false, 1), stack(2, "b", false, 2)];
        assert_eq!(choose(&stacks, "c", 0, Some(2)), Choice::Wait);
        assert_eq!(choose(&stacks, "a", 0, Some(1)), Choice::Wait);
    }

    #[test]
    fn a_newcomer_waits_behind_earlier_waiters() {
        // One stack free, one waiter ahead: it is the waiter's.
        let stacks = [stack(1, "a", true, 1), stack(2, "b", false, 2)];
        assert_eq!(choose(&stacks, "a", 1, Some(2)), Choice::Wait);
        // Two free for one waiter ahead: there is one for this request too.
        let stacks = [stack(1, "a", true, 1), stack(2, "b", true, 2)];
        assert_eq!(choose(&stacks, "b", 1, Some(2)), Choice::Existing(2));
        // Room to create counts as capacity.
        assert_eq!(
            choose(&[stack(1, "a", false, 1)], "b", 1, Some(3)),
            Choice::New(2)
        );
        assert_eq!(
            choose(&[stack(1, "a", false, 1)], "b", 2, Some(3)),
            Choice::Wait
        );
        // Unlimited: never waits.
        assert_eq!(choose(&[], "b", 5, None), Choice::New(1));
    }
}
