//! The releases wing's use cases, as the HTTP edge and other wings call
//! them: one way to create a release or join it, whoever asks (`POST
//! /release`, a GitHub deployment protection rule, a deployment gated on
//! approval).

use std::sync::Arc;

use tokio::sync::Notify;

use super::lifecycle::{self, ReleaseView, Subscription};
use super::subscriber::Subscriber;
use crate::db::models::Release;
use crate::db::{self, Db, DbError};
use crate::domain::approver::ApproverEmail;
use crate::domain::NewRelease;
use crate::environments::Policies;

/// Someone who waits for the decision and asks to be told of it (an Azure
/// DevOps task, a GitHub deployment), and how long it can wait.
#[derive(Debug, Clone)]
pub struct Waiter {
    pub subscription: Subscription,
    /// The release expires within this of the waiter's request (its
    /// credential dies then): set when the release is created, moved by a
    /// newer such waiter, never past the policy's `release_ttl`.
    pub ttl_cap: Option<chrono::Duration>,
}

/// Why a release could not be created or joined.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// The release exists with another value of this request field: a
    /// request may not rename a release or change its requester (else
    /// whoever posts first could hide the requester from the rule that
    /// they may not approve their own release). Nothing was changed.
    #[error("release exists with another {0}")]
    Differs(&'static str),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// What a request found: its release, created or existing, or one that
/// differs from what it says.
enum Found {
    Created(ReleaseView),
    Existing(ReleaseView),
    Differs(&'static str),
}

/// The request field (as pipelines name it) whose value differs from the
/// stored release, if any. Email addresses compare as addresses (case of
/// the domain aside); an absent requester differs from a present one.
fn differs(stored: &Release, new: &NewRelease) -> Option<&'static str> {
    if stored.release_name != new.name {
        return Some("ReleaseName");
    }
    let stored_requester = stored
        .requested_for
        .as_deref()
        .map(|email| ApproverEmail::parse(email).ok());
    let same_requester = match (&stored_requester, &new.requested_for) {
        (None, None) => true,
        (Some(Some(stored)), Some(new)) => stored == new,
        _ => false,
    };
    (!same_requester).then_some("RequestedForEmail")
}

/// The releases wing, as its callers hold it.
#[derive(Clone)]
pub struct Releases {
    db: Db,
    policies: Arc<Policies>,
    /// Attempts given to the jobs a release queues.
    max_attempts: i32,
    /// Wakes this process's job runner when a release queues work.
    wake: Arc<Notify>,
    /// Seals a waiter's credential before it is stored.
    sealer: crate::sealed::Sealer,
}

impl Releases {
    pub fn new(
        db: Db,
        policies: Arc<Policies>,
        max_attempts: i32,
        wake: Arc<Notify>,
        sealer: crate::sealed::Sealer,
    ) -> Self {
        Self {
            db,
            policies,
            max_attempts,
            wake,
            sealer,
        }
    }

    /// Creates the release with its policy (resolved now and stored with
    /// it), its jobs and the policy's webhook, or joins the existing one;
    /// `waiter`, if any, is subscribed either way (told at once if the
    /// release is decided already). True if it was created.
    ///
    /// Without a waiter this is a poll: it reads, and writes only if the
    /// release is new. A release that exists with another name or
    /// requester is `CreateError::Differs`, and nobody is subscribed.
    pub async fn create_or_join(
        &self,
        new: NewRelease,
        waiter: Option<Waiter>,
    ) -> Result<(bool, ReleaseView), CreateError> {
        let policy = self.policies.resolve(&new.key).0;
        let mut subscriptions = Vec::new();
        if let Some(url) = self.policies.webhook_url(&new.key) {
            subscriptions.push(Subscription {
                subscriber: Subscriber::Webhook {
                    url: url.to_owned(),
                },
                credential: None,
            });
        }
        // The credential (an Azure DevOps AuthToken) is stored sealed.
        let waiter = waiter.map(|mut waiter| {
            waiter.subscription.credential = waiter
                .subscription
                .credential
                .map(|plain| self.sealer.seal(&plain));
            waiter
        });
        let ttl_cap = waiter.as_ref().and_then(|w| w.ttl_cap);
        if let Some(waiter) = &waiter {
            subscriptions.push(waiter.subscription.clone());
        }
        let max_attempts = self.max_attempts;
        let polling = waiter.is_none();
        let asked = new.clone();
        let found = self
            .db
            .read_or_write(
                move |conn| {
                    if !polling {
                        return Ok(None);
                    }
                    Ok(lifecycle::find(conn, &asked.key, db::now())?.map(|view| {
                        match differs(&view.release, &asked) {
                            Some(field) => Found::Differs(field),
                            None => Found::Existing(view),
                        }
                    }))
                },
                move |conn| {
                    let now = db::now();
                    if let Some(created) = lifecycle::create(
                        conn,
                        &new,
                        &policy,
                        &subscriptions,
                        ttl_cap,
                        now,
                        max_attempts,
                    )? {
                        return Ok(Found::Created(created));
                    }
                    // It existed (or another request created it meanwhile).
                    let existing = lifecycle::find(conn, &new.key, now)?
                        .ok_or(diesel::result::Error::NotFound)?;
                    if let Some(field) = differs(&existing.release, &new) {
                        return Ok(Found::Differs(field));
                    }
                    if let Some(waiter) = &waiter {
                        lifecycle::subscribe(
                            conn,
                            &existing.release,
                            &waiter.subscription,
                            waiter.ttl_cap,
                            now,
                            max_attempts,
                        )?;
                        // As subscribing left it (its deadline may have moved).
                        let joined = lifecycle::find(conn, &new.key, now)?
                            .ok_or(diesel::result::Error::NotFound)?;
                        return Ok(Found::Existing(joined));
                    }
                    Ok(Found::Existing(existing))
                },
            )
            .await?;
        let (created, view) = match found {
            Found::Created(view) => (true, view),
            Found::Existing(view) => (false, view),
            Found::Differs(field) => return Err(CreateError::Differs(field)),
        };
        if created || !polling {
            // New jobs (or a notice for a release decided already).
            self.wake.notify_one();
        }
        if created {
            crate::metrics::release_created();
        }
        Ok((created, view))
    }
}
