//! The deployments wing's use cases. Each write is one transaction that
//! takes the deployment's row lock before reading it, checks the caller's
//! project and the state rule, writes, and appends its audit event; a
//! refusal writes nothing.

use std::sync::Arc;

use chrono::NaiveDateTime;
use serde_json::json;
use tokio::sync::{mpsc, Notify};

use super::follow::{self, FollowEvent, LogHub};
use super::jobs::SendDeploymentWebhook;
use crate::environments::Policies;
use crate::queue::{self, RunAt};
use crate::releases::{ReleaseView, Releases};

use crate::db::deployments::{
    self as rows, Deployment, ListFilter, NewDeploymentRow, NewStatusRow, StatusRow,
};
use crate::db::events::{self, EventRow, ProjectFilter};
use crate::db::{self, Db, DbConnection, DbError};
use crate::domain::deployment::InvalidTransition;
use crate::domain::policy::ReleaseStatus;
use crate::domain::{
    ClaimToken, DeploymentState, EventKind, NewDeployment, NewRelease, ReleaseKey, StatusUpdate,
};

use super::runners::{check_claim, Runners};

/// Who acts: the name the audit trail gives them (`key 3`; none when keys
/// are off) and the one project they may touch (a project key's, folded;
/// none for an admin key or when keys are off).
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub name: Option<String>,
    pub project: Option<String>,
}

impl Actor {
    fn may_touch(&self, team_project_key: &str) -> bool {
        self.project
            .as_deref()
            .is_none_or(|p| p == team_project_key)
    }
}

/// A deployment with its statuses, oldest first.
#[derive(Debug, Clone)]
pub struct DeploymentView {
    pub deployment: Deployment,
    pub statuses: Vec<StatusRow>,
    /// The release that gates it, as of the read.
    pub release: Option<ReleaseView>,
}

/// What a log append kept: the log's size and what was dropped past the
/// limit, in bytes, so far.
#[derive(Debug, Clone, Copy)]
pub struct LogTotals {
    pub log_bytes: i64,
    pub dropped_bytes: i64,
}

/// An environment of a project: what runs there and what happened last.
#[derive(Debug, Clone)]
pub struct EnvironmentView {
    pub environment: String,
    pub latest_success: Option<DeploymentView>,
    pub latest: DeploymentView,
}

#[derive(Debug, thiserror::Error)]
pub enum DeploymentError {
    #[error("no deployment {0}")]
    NotFound(String),
    #[error("this API key belongs to another project")]
    Forbidden,
    #[error(transparent)]
    InvalidTransition(#[from] InvalidTransition),
    /// A log append to a final deployment.
    #[error("deployment {id} is {state}: its log is closed")]
    Finished { id: String, state: DeploymentState },
    /// A `Greenlight-Claim` that is not this deployment's.
    #[error("this claim token is not deployment {0}'s: another runner holds it, or none does")]
    ClaimMismatch(String),
    /// The right token, too late: the claim lapsed or the deployment
    /// finished.
    #[error("the claim on deployment {id} is over: {why}")]
    ClaimExpired { id: String, why: String },
    /// A claimed deployment's variables could not be opened (a secret
    /// sealed under a key this process does not have): the claim is
    /// undone, the deployment stays `queued`.
    #[error("the variables of {project}/{environment} cannot be opened: {why}")]
    Variables {
        project: String,
        environment: String,
        why: String,
    },
    /// The gate's release exists with another value of this field.
    #[error("the release that gates this deployment exists with another {0}")]
    ReleaseDiffers(&'static str),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<crate::releases::CreateError> for DeploymentError {
    fn from(e: crate::releases::CreateError) -> Self {
        match e {
            crate::releases::CreateError::Differs(field) => Self::ReleaseDiffers(field),
            crate::releases::CreateError::Db(e) => Self::Db(e),
        }
    }
}

/// What a committed change tells others: the followers of its log (the
/// hub, and on PostgreSQL the other replicas), the project's webhook (one
/// job per event) and the metrics. Shared by the service and the gate.
#[derive(Clone, Default)]
pub struct Effects {
    pub hub: LogHub,
    /// Which projects have a webhook; none: no deliveries.
    pub policies: Option<Arc<Policies>>,
    /// Attempts given to a webhook delivery.
    pub max_attempts: i32,
    /// Wakes this process's job runner when a delivery is queued.
    pub wake: Option<Arc<Notify>>,
    /// Wakes the runners' claims waiting on this process when a
    /// deployment becomes `queued` (created, or let through by its
    /// approval); other replicas' claims find it by looking again.
    pub queued: Arc<Notify>,
}

impl Effects {
    /// Whether `d`'s project and environment have a webhook.
    fn webhook_of(&self, d: &Deployment) -> bool {
        let Some(policies) = &self.policies else {
            return false;
        };
        // Webhooks resolve by project and environment; any release id does.
        ReleaseKey::parse(&d.team_project, Some(&d.environment), "deployment")
            .is_ok_and(|key| policies.webhook_url(&key).is_some())
    }

    /// A status (now `state`) was appended to `d` in this transaction: the
    /// first one (`created`) or a later one.
    pub(super) fn status_appended(
        &self,
        conn: &mut DbConnection,
        d: &Deployment,
        state: DeploymentState,
        created: bool,
    ) -> diesel::QueryResult<()> {
        if self.webhook_of(d) {
            let status_id = rows::last_status_id(conn, d.pk)?;
            let types: &[&str] = if created {
                &["deployment.created"]
            } else if state.is_final() && state != DeploymentState::Inactive {
                &["deployment.status", "deployment.finished"]
            } else {
                &["deployment.status"]
            };
            for r#type in types {
                let job = SendDeploymentWebhook {
                    deployment_pk: d.pk,
                    status_id,
                    r#type: (*r#type).to_owned(),
                    delivery_id: crate::ids::random_id(),
                };
                queue::enqueue(conn, &job, self.max_attempts.max(1), RunAt::Now)?;
            }
            if let Some(wake) = self.wake.clone() {
                db::after_commit(move || wake.notify_one());
            }
        }
        // GitHub hears of each status of a deployment it sent.
        super::jobs::status_appended(conn, d.pk)?;
        if state == DeploymentState::Queued {
            let queued = self.queued.clone();
            db::after_commit(move || queued.notify_waiters());
        }
        db::after_commit(move || crate::metrics::deployment_transition(state));
        self.changed(conn, d.pk)
    }

    /// `pk`'s log or state changed: its followers read again, here once
    /// committed and on the other replicas by PostgreSQL's NOTIFY (sent
    /// at the commit).
    fn changed(&self, conn: &mut DbConnection, pk: i64) -> diesel::QueryResult<()> {
        db::notify::notify(conn, follow::CHANNEL, &pk.to_string())?;
        let hub = self.hub.clone();
        db::after_commit(move || hub.changed(pk));
        Ok(())
    }
}

pub(super) type Refusable<T> = Result<T, DeploymentError>;

/// The deployments wing, as its callers hold it.
#[derive(Clone)]
pub struct Deployments {
    db: Db,
    /// The most a deployment's log keeps (`GREENLIGHT_DEPLOYMENT_LOG_LIMIT`).
    log_limit: u64,
    /// Runners' claims: their lease, and who waits for work.
    pub(super) runners: Runners,
    pub(super) effects: Effects,
    /// The approval gate's releases and the policies that say which
    /// deployments wait (`deploy_requires_approval`); none: none waits.
    gate: Option<(Releases, Arc<Policies>)>,
}

impl Deployments {
    pub fn new(db: Db, log_limit: u64) -> Self {
        Self {
            db,
            log_limit,
            runners: Runners::default(),
            effects: Effects::default(),
            gate: None,
        }
    }

    /// With runners' claims lasting `lease` (`GREENLIGHT_RUNNER_LEASE`) and
    /// the jobs they schedule given `max_attempts`.
    pub fn with_runners(
        mut self,
        lease: std::time::Duration,
        max_attempts: i32,
        sealer: crate::sealed::Sealer,
    ) -> Self {
        self.runners = Runners::new(lease, max_attempts, sealer);
        self
    }

    /// With what its changes tell (followers, webhooks, metrics).
    pub fn with_effects(mut self, effects: Effects) -> Self {
        self.effects = effects;
        self
    }

    /// With the approval gate (`deploy_requires_approval`).
    pub fn with_gate(mut self, releases: Releases, policies: Arc<Policies>) -> Self {
        self.gate = Some((releases, policies));
        self
    }

    pub(super) fn hub(&self) -> LogHub {
        self.effects.hub.clone()
    }

    pub(super) fn db(&self) -> &Db {
        &self.db
    }

    pub(super) fn log_limit(&self) -> u64 {
        self.log_limit
    }

    /// The release a new deployment waits for, if its environment's policy
    /// gates deployments: ReleaseId its `release_id` or else its commit,
    /// ReleaseName `<repository path>@<short sha>`.
    fn gate_of(&self, new: &NewDeployment) -> Option<(Releases, NewRelease)> {
        let (releases, policies) = self.gate.as_ref()?;
        let release_id = new
            .release_id
            .clone()
            .unwrap_or_else(|| new.commit_sha.as_str().to_owned());
        let key = ReleaseKey::parse(&new.team_project, Some(&new.environment), &release_id).ok()?;
        if !policies.deploy_requires_approval(&key) {
            return None;
        }
        let sha = new.commit_sha.as_str();
        let name: String = format!("{}@{}", new.repository.path(), &sha[..sha.len().min(7)])
            .chars()
            .take(crate::domain::release::MAX_RELEASE_NAME)
            .collect();
        Some((
            releases.clone(),
            NewRelease {
                key,
                name,
                requested_for: None,
            },
        ))
    }

    /// Records a new deployment, `queued`, with its first status and its
    /// `deployment.created` event; `original_request` is the body as
    /// received. With an idempotency key its project has seen, answers
    /// that deployment instead. True if it was created.
    pub async fn create(
        &self,
        new: NewDeployment,
        original_request: String,
        idempotency_key: Option<String>,
        actor: Actor,
    ) -> Refusable<(bool, DeploymentView)> {
        self.create_with(new, original_request, idempotency_key, actor, |_, _| Ok(()))
            .await
    }

    /// `create`, with `also` run in the creating transaction (a provider
    /// records what it knows of the new deployment).
    pub(super) async fn create_with(
        &self,
        new: NewDeployment,
        original_request: String,
        idempotency_key: Option<String>,
        actor: Actor,
        also: impl FnOnce(&mut DbConnection, &Deployment) -> diesel::QueryResult<()> + Send + 'static,
    ) -> Refusable<(bool, DeploymentView)> {
        let project_key = new.team_project_key();
        let (read_key, read_project) = (idempotency_key.clone(), project_key.clone());
        // Gated: the release first (created or joined by the releases
        // wing's one use case), unless the idempotency key answers.
        let mut release_pk = None;
        if let Some((releases, release)) = self.gate_of(&new) {
            if let Some(key) = idempotency_key.clone() {
                let project = project_key.clone();
                let existing = self
                    .db
                    .read(move |conn| {
                        Ok(match rows::by_idempotency_key(conn, &project, &key)? {
                            Some(d) => Some(view(conn, d)?),
                            None => None,
                        })
                    })
                    .await?;
                if let Some(existing) = existing {
                    return Ok((false, existing));
                }
            }
            let (_, release) = releases.create_or_join(release, None).await?;
            release_pk = Some(release.release.id);
        }
        let effects = self.effects.clone();
        let first_state = if release_pk.is_some() {
            DeploymentState::Waiting
        } else {
            DeploymentState::Queued
        };
        let found = self
            .db
            .read_or_write(
                move |conn| {
                    let Some(key) = read_key else {
                        return Ok(None);
                    };
                    match rows::by_idempotency_key(conn, &read_project, &key)? {
                        Some(d) => Ok(Some((false, view(conn, d)?))),
                        None => Ok(None),
                    }
                },
                move |conn| {
                    let now = db::now();
                    let id = format!("dpl_{}", crate::ids::sortable_id());
                    let (environment_key, repository_key) =
                        (new.environment_key(), new.repository.key());
                    let row = NewDeploymentRow {
                        id: &id,
                        team_project: &new.team_project,
                        team_project_key: &project_key,
                        environment: &new.environment,
                        environment_key: &environment_key,
                        repository_url: new.repository.as_str(),
                        repository_key: &repository_key,
                        commit_sha: new.commit_sha.as_str(),
                        git_ref: new.git_ref.as_deref(),
                        stack_name: new.stack_name.as_deref(),
                        version: new.version.as_deref(),
                        status: first_state,
                        original_request: &original_request,
                        idempotency_key: idempotency_key.as_deref(),
                        created_at: now,
                        updated_at: now,
                    };
                    let Some(created) = rows::insert(conn, &row)? else {
                        // Another request with this key got there first.
                        let key = idempotency_key.as_deref().unwrap_or_default();
                        let existing = rows::by_idempotency_key(conn, &project_key, key)?
                            .ok_or(diesel::result::Error::NotFound)?;
                        return Ok((false, view(conn, existing)?));
                    };
                    rows::insert_status(
                        conn,
                        &NewStatusRow {
                            deployment_pk: created.pk,
                            state: first_state,
                            description: None,
                            log_url: None,
                            environment_url: None,
                            actor: actor.name.as_deref(),
                            at: now,
                        },
                    )?;
                    record(
                        conn,
                        &created,
                        EventKind::DeploymentCreated,
                        actor.name.as_deref(),
                        json!({
                            "repository_url": created.repository_url,
                            "commit_sha": created.commit_sha,
                            "ref": created.git_ref,
                            "stack_name": created.stack_name,
                            "version": created.version,
                        }),
                        now,
                    )?;
                    also(conn, &created)?;
                    effects.status_appended(conn, &created, first_state, true)?;
                    if let Some(release_pk) = release_pk {
                        rows::set_release(conn, created.pk, release_pk)?;
                        // Under the release's lock: decided already, it is
                        // applied now; else its settling runs after this
                        // commit and finds this deployment waiting.
                        let release = crate::releases::settled::lock_and_read(conn, release_pk)?;
                        let status = release.status();
                        if status.is_decided() {
                            let created = rows::by_pk(conn, created.pk)?;
                            follow_release(
                                conn,
                                &effects,
                                &created,
                                status,
                                &release.release_id,
                                release.reason.as_deref(),
                                now,
                            )?;
                        }
                    }
                    let created = rows::by_pk(conn, created.pk)?;
                    Ok((true, view(conn, created)?))
                },
            )
            .await?;
        Ok(found)
    }

    /// One deployment, if the caller may see it.
    pub async fn show(&self, id: String, actor: Actor) -> Refusable<DeploymentView> {
        self.db
            .read(move |conn| {
                Ok(match find(conn, &id, &actor)? {
                    Ok(found) => Ok(view(conn, found)?),
                    Err(refused) => Err(refused),
                })
            })
            .await?
    }

    /// Appends a status a pipeline or runner posted: forward only (see
    /// `DeploymentState::may_post`). A `success` turns the previous
    /// success of its project and environment `inactive`.
    /// With a runner's claim token, the claim must be this deployment's
    /// and current, and is renewed.
    pub async fn post_status(
        &self,
        id: String,
        update: StatusUpdate,
        claim: Option<ClaimToken>,
        actor: Actor,
    ) -> Refusable<DeploymentView> {
        let lease = self.runners.lease();
        let effects = self.effects.clone();
        self.db
            .write(move |conn| {
                let now = db::now();
                let found = match find(conn, &id, &actor)? {
                    Ok(found) => found,
                    Err(refused) => return Ok(Err(refused)),
                };
                if update.state == DeploymentState::Success {
                    // Two successes of one place at once would each wait
                    // for the other's row (superseding it): one at a time.
                    rows::lock_place(conn, &found.team_project_key, &found.environment_key)?;
                }
                rows::lock(conn, found.pk)?;
                let current = rows::by_pk(conn, found.pk)?;
                if let Some(token) = &claim {
                    if let Err(refused) = check_claim(&current, token, now) {
                        return Ok(Err(refused));
                    }
                }
                if let Err(refused) = current.status.may_post(update.state) {
                    return Ok(Err(refused.into()));
                }
                if claim.is_some() {
                    rows::renew_claim(conn, current.pk, now + lease)?;
                }
                let kind = if update.state == DeploymentState::Canceled {
                    EventKind::DeploymentCanceled
                } else {
                    EventKind::DeploymentStatus
                };
                move_to(
                    conn,
                    &effects,
                    &current,
                    &update,
                    kind,
                    actor.name.as_deref(),
                    now,
                )?;
                if update.state == DeploymentState::Success {
                    supersede(conn, &effects, &current, actor.name.as_deref(), now)?;
                }
                let after = rows::by_pk(conn, current.pk)?;
                Ok(Ok(view(conn, after)?))
            })
            .await?
    }

    /// Cancels a deployment that has not finished.
    pub async fn cancel(&self, id: String, actor: Actor) -> Refusable<DeploymentView> {
        let update = StatusUpdate {
            state: DeploymentState::Canceled,
            description: None,
            log_url: None,
            environment_url: None,
        };
        self.post_status(id, update, None, actor).await
    }

    /// Appends a chunk to a deployment's log, after the ones before it.
    /// What would take the log past the limit is dropped and counted (the
    /// log then ends with one line that says how much); the first drop
    /// is an audit event. A final deployment's log is closed.
    pub async fn append_log(
        &self,
        id: String,
        chunk: Vec<u8>,
        claim: Option<ClaimToken>,
        actor: Actor,
    ) -> Refusable<LogTotals> {
        let limit = i64::try_from(self.log_limit).unwrap_or(i64::MAX);
        let lease = self.runners.lease();
        let effects = self.effects.clone();
        self.db
            .write(move |conn| {
                let now = db::now();
                let found = match find(conn, &id, &actor)? {
                    Ok(found) => found,
                    Err(refused) => return Ok(Err(refused)),
                };
                rows::lock(conn, found.pk)?;
                let current = rows::by_pk(conn, found.pk)?;
                if let Some(token) = &claim {
                    if let Err(refused) = check_claim(&current, token, now) {
                        return Ok(Err(refused));
                    }
                    rows::renew_claim(conn, current.pk, now + lease)?;
                }
                if current.status.is_final() {
                    return Ok(Err(DeploymentError::Finished {
                        id: current.id,
                        state: current.status,
                    }));
                }
                let room =
                    usize::try_from((limit - current.log_bytes).max(0)).unwrap_or(usize::MAX);
                let kept = &chunk[..chunk.len().min(room)];
                let dropped = (chunk.len() - kept.len()) as i64;
                rows::append_log(conn, current.pk, kept, dropped, now)?;
                let appended = kept.len() as u64;
                db::after_commit(move || crate::metrics::deployment_log_appended(appended));
                effects.changed(conn, current.pk)?;
                if dropped > 0 && current.log_dropped == 0 {
                    record(
                        conn,
                        &current,
                        EventKind::DeploymentLogTruncated,
                        actor.name.as_deref(),
                        json!({"limit_bytes": limit}),
                        now,
                    )?;
                }
                Ok(Ok(LogTotals {
                    log_bytes: current.log_bytes + kept.len() as i64,
                    dropped_bytes: current.log_dropped + dropped,
                }))
            })
            .await?
    }

    /// The whole log, in order; past the limit, one last line says how
    /// many bytes were dropped.
    pub async fn read_log(&self, id: String, actor: Actor) -> Refusable<Vec<u8>> {
        let limit = self.log_limit;
        self.db
            .read(move |conn| {
                let found = match find(conn, &id, &actor)? {
                    Ok(found) => found,
                    Err(refused) => return Ok(Err(refused)),
                };
                let mut log = rows::log_of(conn, found.pk)?.concat();
                if found.log_dropped > 0 {
                    if !log.is_empty() && !log.ends_with(b"\n") {
                        log.push(b'\n');
                    }
                    log.extend_from_slice(dropped_marker(found.log_dropped, limit).as_bytes());
                }
                Ok(Ok(log))
            })
            .await?
    }

    /// Follows a deployment's log: what is stored, then each chunk as it
    /// is appended on any replica, then `End` once it is final. The
    /// receiver ends early when the process stops.
    pub async fn follow(&self, id: String, actor: Actor) -> Refusable<mpsc::Receiver<FollowEvent>> {
        let found = self.db.read(move |conn| find(conn, &id, &actor)).await??;
        let (to, from) = mpsc::channel(16);
        tokio::spawn(follow::follow(self.clone(), found.pk, to));
        Ok(from)
    }

    /// A deployment with the last `bytes` (about) of its log, and whether
    /// older log was left out (the dashboard's page).
    pub async fn show_with_tail(
        &self,
        id: String,
        bytes: usize,
        actor: Actor,
    ) -> Refusable<(DeploymentView, Vec<u8>, bool)> {
        self.db
            .read(move |conn| {
                let found = match find(conn, &id, &actor)? {
                    Ok(found) => found,
                    Err(refused) => return Ok(Err(refused)),
                };
                let (mut chunks, truncated) = rows::log_tail(conn, found.pk, bytes)?;
                chunks.reverse();
                Ok(Ok((view(conn, found)?, chunks.concat(), truncated)))
            })
            .await?
    }

    /// A page of deployments, newest first.
    pub async fn list(&self, filter: ListFilter) -> Result<Vec<DeploymentView>, DbError> {
        self.db
            .read(move |conn| {
                let page = rows::list(conn, &filter)?;
                Ok(views(conn, page)?)
            })
            .await
    }

    /// Each environment of a project (folded key) with its current
    /// success and its latest deployment, by environment name.
    pub async fn environments(
        &self,
        team_project_key: String,
    ) -> Result<Vec<EnvironmentView>, DbError> {
        self.db
            .read(move |conn| {
                let (latest, successes) = rows::latest_per_environment(
                    conn,
                    &team_project_key,
                    DeploymentState::Success,
                )?;
                let pks: Vec<i64> = latest
                    .iter()
                    .chain(&successes)
                    .filter_map(|(_, pk)| *pk)
                    .collect();
                let found = rows::by_pks(conn, &pks)?;
                let all = views(conn, found)?;
                let by_pk = |pk: Option<i64>| {
                    pk.and_then(|pk| all.iter().find(|v| v.deployment.pk == pk).cloned())
                };
                Ok(latest
                    .iter()
                    .filter_map(|(key, pk)| {
                        let latest = by_pk(*pk)?;
                        let success = successes
                            .iter()
                            .find(|(k, _)| k == key)
                            .and_then(|(_, pk)| by_pk(*pk));
                        Some(EnvironmentView {
                            environment: latest.deployment.environment.clone(),
                            latest_success: success,
                            latest,
                        })
                    })
                    .collect())
            })
            .await
    }

    /// A page of a project's control-plane events, oldest first.
    pub async fn project_events(&self, filter: ProjectFilter) -> Result<Vec<EventRow>, DbError> {
        self.db
            .read(move |conn| Ok(events::of_project(conn, &filter)?))
            .await
    }
}

/// The deployment `id`, `NotFound` if there is none, `Forbidden` if the
/// caller's key is another project's.
pub(super) fn find(
    conn: &mut DbConnection,
    id: &str,
    actor: &Actor,
) -> Result<Refusable<Deployment>, DbError> {
    Ok(match rows::by_id(conn, id)? {
        None => Err(DeploymentError::NotFound(id.to_owned())),
        Some(d) if !actor.may_touch(&d.team_project_key) => Err(DeploymentError::Forbidden),
        Some(d) => Ok(d),
    })
}

pub(super) fn view(
    conn: &mut DbConnection,
    deployment: Deployment,
) -> diesel::QueryResult<DeploymentView> {
    let statuses = rows::statuses_of(conn, &[deployment.pk])?;
    let release = release_of(conn, &deployment)?;
    Ok(DeploymentView {
        deployment,
        statuses,
        release,
    })
}

/// The release that gates `d`, as of now.
fn release_of(conn: &mut DbConnection, d: &Deployment) -> diesel::QueryResult<Option<ReleaseView>> {
    d.release_pk
        .map(|pk| crate::releases::lifecycle::view_of(conn, pk, db::now()))
        .transpose()
}

/// The line that ends a log past its limit.
pub(super) fn dropped_marker(dropped: i64, limit: u64) -> String {
    format!(
        "[greenlight] {dropped} bytes of log dropped: a deployment's log keeps at most {limit} bytes (GREENLIGHT_DEPLOYMENT_LOG_LIMIT)\n"
    )
}

/// Deployments with their statuses, in the order given; one query for
/// all the statuses.
fn views(
    conn: &mut DbConnection,
    deployments: Vec<Deployment>,
) -> diesel::QueryResult<Vec<DeploymentView>> {
    let pks: Vec<i64> = deployments.iter().map(|d| d.pk).collect();
    let statuses = rows::statuses_of(conn, &pks)?;
    deployments
        .into_iter()
        .map(|deployment| {
            Ok(DeploymentView {
                statuses: statuses
                    .iter()
                    .filter(|s| s.deployment_pk == deployment.pk)
                    .cloned()
                    .collect(),
                release: release_of(conn, &deployment)?,
                deployment,
            })
        })
        .collect()
}

/// Moves a locked deployment to `update.state`: its row, its status and
/// its event, together.
pub(super) fn move_to(
    conn: &mut DbConnection,
    effects: &Effects,
    current: &Deployment,
    update: &StatusUpdate,
    kind: EventKind,
    actor: Option<&str>,
    now: NaiveDateTime,
) -> diesel::QueryResult<()> {
    let finished_at = update.state.is_final().then_some(now);
    let moved = rows::set_status(
        conn,
        current.pk,
        current.status,
        update.state,
        update.environment_url.as_deref(),
        finished_at,
        now,
    )?;
    if !moved {
        // Under the row lock nothing moves it: a broken invariant.
        return Err(diesel::result::Error::NotFound);
    }
    rows::insert_status(
        conn,
        &NewStatusRow {
            deployment_pk: current.pk,
            state: update.state,
            description: update.description.as_deref(),
            log_url: update.log_url.as_deref(),
            environment_url: update.environment_url.as_deref(),
            actor,
            at: now,
        },
    )?;
    effects.status_appended(conn, current, update.state, false)?;
    record(
        conn,
        current,
        kind,
        actor,
        json!({
            "state": update.state.as_str(),
            "previous_state": current.status.as_str(),
            "description": update.description,
        }),
        now,
    )?;
    if update.state == DeploymentState::Success {
        // What runs where, kept current in the inventory (seed 003).
        crate::inventory::record_deployed(conn, current, actor, now)?;
    }
    Ok(())
}

/// A new success replaces the previous ones of its project and
/// environment: they become `inactive` (GitHub's `auto_inactive`).
fn supersede(
    conn: &mut DbConnection,
    effects: &Effects,
    newer: &Deployment,
    actor: Option<&str>,
    now: NaiveDateTime,
) -> diesel::QueryResult<()> {
    let previous = rows::in_state_at(
        conn,
        &newer.team_project_key,
        &newer.environment_key,
        DeploymentState::Success,
        newer.pk,
    )?;
    for old in previous
        .into_iter()
        .filter(|d| d.status.superseded_by_a_success())
    {
        if !rows::set_status(
            conn,
            old.pk,
            old.status,
            DeploymentState::Inactive,
            None,
            None,
            now,
        )? {
            continue;
        }
        let description = format!("superseded by {}", newer.id);
        rows::insert_status(
            conn,
            &NewStatusRow {
                deployment_pk: old.pk,
                state: DeploymentState::Inactive,
                description: Some(&description),
                log_url: None,
                environment_url: None,
                actor,
                at: now,
            },
        )?;
        effects.status_appended(conn, &old, DeploymentState::Inactive, false)?;
        record(
            conn,
            &old,
            EventKind::DeploymentStatus,
            actor,
            json!({
                "state": DeploymentState::Inactive.as_str(),
                "previous_state": old.status.as_str(),
                "superseded_by": newer.id,
            }),
            now,
        )?;
    }
    Ok(())
}

/// Appends a control-plane event of the deployment's project, inside the
/// caller's transaction; every detail names the deployment and its
/// environment.
pub(super) fn record(
    conn: &mut DbConnection,
    deployment: &Deployment,
    kind: EventKind,
    actor: Option<&str>,
    mut detail: serde_json::Value,
    at: NaiveDateTime,
) -> diesel::QueryResult<()> {
    if let Some(fields) = detail.as_object_mut() {
        fields.insert("deployment_id".to_owned(), json!(deployment.id));
        fields.insert("environment".to_owned(), json!(deployment.environment));
    }
    events::append_to_project(
        conn,
        &deployment.team_project_key,
        kind.as_str(),
        actor,
        &detail,
        at,
    )
}

/// A waiting deployment follows its release's decision, inside the
/// transaction that settled it (or that created the deployment behind a
/// release decided already): approved, it is queued (`queue`); rejected,
/// expired or failed, canceled with the reason.
pub(super) fn follow_release(
    conn: &mut DbConnection,
    effects: &Effects,
    waiting: &Deployment,
    status: ReleaseStatus,
    release_id: &str,
    reason: Option<&str>,
    now: NaiveDateTime,
) -> diesel::QueryResult<()> {
    rows::lock(conn, waiting.pk)?;
    let current = rows::by_pk(conn, waiting.pk)?;
    if current.status != DeploymentState::Waiting {
        return Ok(());
    }
    if status == ReleaseStatus::Approved {
        return queue(
            conn,
            effects,
            &current,
            &format!("release {release_id} approved"),
            now,
        );
    }
    let why = match reason {
        Some(reason) => format!("release {release_id} {}: {reason}", status.as_str()),
        None => format!("release {release_id} {}", status.as_str()),
    };
    // A status's description is at most 140 characters, as GitHub's.
    let description: String = why
        .chars()
        .take(crate::domain::deployment::MAX_DESCRIPTION)
        .collect();
    move_to(
        conn,
        effects,
        &current,
        &StatusUpdate {
            state: DeploymentState::Canceled,
            description: Some(description),
            log_url: None,
            environment_url: None,
        },
        EventKind::DeploymentCanceled,
        None,
        now,
    )
}

/// The one way a waiting deployment becomes `queued` (its release was
/// approved): from then on a runner may claim it. Inside the caller's
/// transaction, with `current` locked.
pub fn queue(
    conn: &mut DbConnection,
    effects: &Effects,
    current: &Deployment,
    description: &str,
    now: NaiveDateTime,
) -> diesel::QueryResult<()> {
    let description: String = description
        .chars()
        .take(crate::domain::deployment::MAX_DESCRIPTION)
        .collect();
    move_to(
        conn,
        effects,
        current,
        &StatusUpdate {
            state: DeploymentState::Queued,
            description: Some(description),
            log_url: None,
            environment_url: None,
        },
        EventKind::DeploymentStatus,
        None,
        now,
    )
}
