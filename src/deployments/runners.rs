//! Runners pull work (DESIGN "Runners"): a claim takes the oldest `queued`
//! deployment it may, for one runner only across runners and replicas; the
//! runner's posts renew the claim; a claim not renewed in time ends the
//! deployment `error` ("runner lost"), never retried behind anyone's back.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, TimeDelta};
use serde_json::json;

use super::jobs::RunnerLost;
use super::service::{
    find, move_to, record, view, Actor, DeploymentError, DeploymentView, Deployments, Effects,
    Refusable,
};
use crate::db::deployments::{self as rows, Deployment, NewStatusRow};
use crate::db::{self, DbConnection};
use crate::domain::{ClaimRequest, ClaimToken, DeploymentState, EventKind, StatusUpdate};
use crate::environments::released_to_runner;
use crate::environments::variables::VariableError;
use crate::queue::{self, RunAt};
use crate::sealed::Sealer;

/// How often a waiting claim looks again for deployments queued on
/// another replica (this replica's wake its waiters at once).
const RECHECK: Duration = Duration::from_millis(500);

/// Candidates a claim tries in one transaction: on PostgreSQL the rows
/// other claims hold are skipped, so a few are enough.
const CANDIDATES: i64 = 8;

/// What the deployments wing knows of runners.
#[derive(Clone)]
pub struct Runners {
    /// How long a claim lasts after its last renewal.
    lease: TimeDelta,
    /// Attempts given to the runner-lost job.
    max_attempts: i32,
    /// Opens the secrets among a claimed deployment's variables.
    sealer: Sealer,
}

impl Default for Runners {
    fn default() -> Self {
        Self::new(Duration::from_secs(60), 5, Sealer::new(None, None))
    }
}

impl Runners {
    pub fn new(lease: Duration, max_attempts: i32, sealer: Sealer) -> Self {
        Self {
            lease: TimeDelta::from_std(lease).unwrap_or(TimeDelta::seconds(60)),
            max_attempts,
            sealer,
        }
    }

    pub(super) fn lease(&self) -> TimeDelta {
        self.lease
    }
}

/// A deployment a runner now holds.
#[derive(Debug)]
pub struct Claimed {
    pub view: DeploymentView,
    /// Shown once, in the claim's answer.
    pub token: ClaimToken,
    pub expires_at: NaiveDateTime,
    /// The deployment's variables, secrets included.
    pub variables: BTreeMap<String, String>,
}

impl Deployments {
    /// Waits up to `request.wait` for a `queued` deployment of its
    /// environments and projects, and takes the oldest: `in_progress`
    /// under a new claim, with its event and the job that ends it if the
    /// claim lapses, in one transaction. `None` if none came in time, or
    /// once `still_waiting` says the runner went away.
    pub async fn claim(
        &self,
        request: ClaimRequest,
        actor: Actor,
        still_waiting: impl Fn() -> bool + Send,
    ) -> Refusable<Option<Claimed>> {
        let deadline = Instant::now() + request.wait;
        loop {
            // Listening before looking: a deployment queued between the
            // look and the wait still wakes us.
            let woken = self.effects.queued.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if !still_waiting() {
                return Ok(None);
            }
            if let Some(claimed) = self.try_claim(&request, &actor).await? {
                return Ok(Some(claimed));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            tokio::select! {
                () = &mut woken => {}
                () = tokio::time::sleep(left.min(RECHECK)) => {}
            }
        }
    }

    async fn try_claim(&self, request: &ClaimRequest, actor: &Actor) -> Refusable<Option<Claimed>> {
        let (environments, projects) = (
            request.environment_keys.clone(),
            request.team_project_keys.clone(),
        );
        // A read first: a waiting runner costs no write while nothing is
        // queued.
        let (e, p) = (environments.clone(), projects.clone());
        let any = self
            .db()
            .read(move |c| Ok(rows::queued_for(c, &e, p.as_deref(), 1, false)?))
            .await?;
        if any.is_empty() {
            return Ok(None);
        }
        let token = ClaimToken::generate();
        let hash = token.hash();
        let (lease, max_attempts) = (self.runners.lease, self.runners.max_attempts);
        let sealer = self.runners.sealer.clone();
        let effects = self.effects.clone();
        let name = actor.name.clone();
        // Set when the variables cannot be opened: the transaction is
        // rolled back (the deployment stays `queued`) and the runner told.
        let unopenable = Arc::new(std::sync::Mutex::new(None));
        let unopenable_ = unopenable.clone();
        let taken = self
            .db()
            .write(move |conn| {
                let now = db::now();
                let expires_at = now + lease;
                let candidates =
                    rows::queued_for(conn, &environments, projects.as_deref(), CANDIDATES, true)?;
                for pk in candidates {
                    if !rows::take(conn, pk, &hash, expires_at, now)? {
                        continue;
                    }
                    let taken = rows::by_pk(conn, pk)?;
                    // Released here and only here: to the runner that holds
                    // the deployment, which is `queued` only once its
                    // release (if its environment needs one) was approved.
                    let variables = match released_to_runner(
                        conn,
                        &sealer,
                        &taken.team_project_key,
                        &taken.environment_key,
                    ) {
                        Ok(variables) => variables,
                        Err(VariableError::Db(e)) => return Err(e),
                        Err(e) => {
                            *unopenable_.lock().expect("unopenable") =
                                Some(DeploymentError::Variables {
                                    project: taken.team_project.clone(),
                                    environment: taken.environment.clone(),
                                    why: e.to_string(),
                                });
                            return Err(diesel::result::Error::RollbackTransaction.into());
                        }
                    };
                    rows::insert_status(
                        conn,
                        &NewStatusRow {
                            deployment_pk: pk,
                            state: DeploymentState::InProgress,
                            description: Some("claimed by a runner"),
                            log_url: None,
                            environment_url: None,
                            actor: name.as_deref(),
                            at: now,
                        },
                    )?;
                    effects.status_appended(conn, &taken, DeploymentState::InProgress, false)?;
                    record(
                        conn,
                        &taken,
                        EventKind::DeploymentClaimed,
                        name.as_deref(),
                        json!({
                            "state": DeploymentState::InProgress.as_str(),
                            "previous_state": DeploymentState::Queued.as_str(),
                            "claim_expires_at": crate::releases::document::rfc3339(expires_at),
                        }),
                        now,
                    )?;
                    queue::enqueue(
                        conn,
                        &RunnerLost { deployment_pk: pk },
                        max_attempts,
                        RunAt::At(expires_at),
                    )?;
                    return Ok(Some((view(conn, taken)?, expires_at, variables)));
                }
                Ok(None)
            })
            .await;
        if let Some(refused) = unopenable.lock().expect("unopenable").take() {
            return Err(refused);
        }
        let Some((view, expires_at, variables)) = taken? else {
            return Ok(None);
        };
        Ok(Some(Claimed {
            view,
            token,
            expires_at,
            variables,
        }))
    }

    /// Renews a claim (`POST /deployments/{id}/heartbeat`): its new expiry.
    pub async fn heartbeat(
        &self,
        id: String,
        token: ClaimToken,
        actor: Actor,
    ) -> Refusable<NaiveDateTime> {
        let lease = self.runners.lease;
        self.db()
            .write(move |conn| {
                let now = db::now();
                let found = match find(conn, &id, &actor)? {
                    Ok(found) => found,
                    Err(refused) => return Ok(Err(refused)),
                };
                rows::lock(conn, found.pk)?;
                let current = rows::by_pk(conn, found.pk)?;
                if let Err(refused) = check_claim(&current, &token, now) {
                    return Ok(Err(refused));
                }
                let expires_at = now + lease;
                rows::renew_claim(conn, current.pk, expires_at)?;
                Ok(Ok(expires_at))
            })
            .await?
    }
}

/// Whether `token` holds `deployment` now: its own token (else
/// `ClaimMismatch`), on a deployment still `in_progress` whose claim has
/// not lapsed (else `ClaimExpired`).
pub(super) fn check_claim(
    deployment: &Deployment,
    token: &ClaimToken,
    now: NaiveDateTime,
) -> Result<(), DeploymentError> {
    let ours = deployment
        .claim_token_hash
        .as_deref()
        .is_some_and(|stored| token.matches(stored));
    if !ours {
        return Err(DeploymentError::ClaimMismatch(deployment.id.clone()));
    }
    let why = if deployment.status != DeploymentState::InProgress {
        format!("the deployment is {}", deployment.status)
    } else if deployment.claim_expires_at.is_none_or(|at| at <= now) {
        "it was not renewed within GREENLIGHT_RUNNER_LEASE".to_owned()
    } else {
        return Ok(());
    };
    Err(DeploymentError::ClaimExpired {
        id: deployment.id.clone(),
        why,
    })
}

/// What the runner-lost job found.
#[derive(Debug, PartialEq, Eq)]
pub enum Lapse {
    /// The claim was renewed: look again at this time.
    Renewed(NaiveDateTime),
    /// The claim lapsed: the deployment is now `error`.
    Lost,
    /// The deployment finished (or was never claimed): nothing to do.
    Over,
}

/// The runner-lost job's step, in the caller's transaction: if the claim
/// on `pk` lapsed, ends the deployment `error` ("runner lost") with its
/// event; if it was renewed, queues the job again for the new expiry.
pub fn lapse(
    conn: &mut DbConnection,
    effects: &Effects,
    pk: i64,
    max_attempts: i32,
) -> diesel::QueryResult<Lapse> {
    let now = db::now();
    rows::lock(conn, pk)?;
    let current = rows::by_pk(conn, pk)?;
    let Some(expires_at) = current.claim_expires_at else {
        return Ok(Lapse::Over);
    };
    if current.status != DeploymentState::InProgress {
        return Ok(Lapse::Over);
    }
    if expires_at > now {
        queue::enqueue(
            conn,
            &RunnerLost { deployment_pk: pk },
            max_attempts,
            RunAt::At(expires_at),
        )?;
        return Ok(Lapse::Renewed(expires_at));
    }
    let update = StatusUpdate {
        state: DeploymentState::Error,
        description: Some("runner lost".to_owned()),
        log_url: None,
        environment_url: None,
    };
    move_to(
        conn,
        effects,
        &current,
        &update,
        EventKind::DeploymentRunnerLost,
        None,
        now,
    )?;
    Ok(Lapse::Lost)
}
