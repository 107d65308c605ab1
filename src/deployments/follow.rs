//! Following a deployment's log as it grows (`GET
//! /deployments/{id}/logs?follow=true`), on any replica.
//!
//! The `LogHub` is the process's: every commit that appends a chunk or a
//! status says "deployment N changed" on it (`db::after_commit`), and on
//! PostgreSQL the same news comes from the other replicas through one
//! LISTEN connection (`db::notify`, started in `startup.rs`). On SQLite
//! other processes on the same file cannot tell us, so a follower also
//! reads again on a short beat. News carries no data: a follower reads the
//! chunks after the last one it sent, by id, so nothing is lost, repeated
//! or reordered whatever news it missed or got twice.

use std::time::Duration;

use tokio::sync::{broadcast, mpsc, watch};

use super::service::{dropped_marker, Deployments};
use crate::db::deployments as rows;
use crate::domain::DeploymentState;

/// The PostgreSQL channel the news goes by (payload: the deployment's pk).
pub const CHANNEL: &str = "greenlight_deployments";

/// "Read again, whichever deployment you follow": a listening connection
/// that was lost may have missed news.
const EVERYONE: i64 = 0;

/// How many news a follower may be behind before it just reads again.
const BACKLOG: usize = 1024;

/// What a follower is sent.
#[derive(Debug)]
pub enum FollowEvent {
    /// Log bytes, in order.
    Chunk(Vec<u8>),
    /// The deployment is final and its whole log was sent.
    End(DeploymentState),
}

/// The process's news of deployments that changed, and its stop signal.
#[derive(Clone)]
pub struct LogHub {
    news: broadcast::Sender<i64>,
    stopping: watch::Sender<bool>,
    /// How long a follower waits without news before it reads again.
    beat: Duration,
}

impl LogHub {
    /// `beat`: short on SQLite (other processes' appends are only seen by
    /// reading), a safety net on PostgreSQL (whose news is LISTENed to).
    pub fn new(beat: Duration) -> Self {
        Self {
            news: broadcast::channel(BACKLOG).0,
            stopping: watch::channel(false).0,
            beat,
        }
    }

    /// Deployment `pk` changed (called once its change is committed).
    pub fn changed(&self, pk: i64) {
        let _ = self.news.send(pk);
    }

    /// A payload from `db::notify`: a pk, or "" when news may be lost.
    pub fn heard(&self, payload: &str) {
        self.changed(payload.parse().unwrap_or(EVERYONE));
    }

    /// Ends every follower's stream (shutdown must not wait for them).
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }
}

impl Default for LogHub {
    fn default() -> Self {
        Self::new(Duration::from_millis(100))
    }
}

/// Counts followers in the metrics while it lives.
struct Counted;

impl Counted {
    fn new() -> Self {
        crate::metrics::deployment_followers(1.0);
        Self
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        crate::metrics::deployment_followers(-1.0);
    }
}

/// Sends deployment `pk`'s log to `to`: what is stored, then each chunk
/// as it is appended, then `End` once the deployment is final. Ends early
/// when the receiver is gone or the process stops.
pub(super) async fn follow(deployments: Deployments, pk: i64, to: mpsc::Sender<FollowEvent>) {
    let hub = deployments.hub();
    // Subscribed before the first read: news of a chunk committed after
    // that read waits in the receiver.
    let mut news = hub.news.subscribe();
    let mut stopping = hub.stopping.subscribe();
    let _counted = Counted::new();
    let (mut after, mut ends_in_newline) = (0, true);
    loop {
        if *stopping.borrow_and_update() {
            return;
        }
        // The state first: a final deployment takes no more chunks, so the
        // chunks read next are all of them.
        let read = deployments
            .db()
            .read(move |conn| {
                let d = rows::by_pk(conn, pk)?;
                let chunks = rows::chunks_after(conn, pk, after)?;
                Ok((d.status, d.log_dropped, chunks))
            })
            .await;
        let (state, dropped, chunks) = match read {
            Ok(read) => read,
            Err(e) => {
                tracing::warn!(error = %e, "following a log: the read failed");
                return;
            }
        };
        for (id, data) in chunks {
            after = id;
            ends_in_newline = data.ends_with(b"\n");
            if to.send(FollowEvent::Chunk(data)).await.is_err() {
                return;
            }
        }
        if state.is_final() {
            if dropped > 0 {
                let mut marker = if ends_in_newline {
                    Vec::new()
                } else {
                    b"\n".to_vec()
                };
                marker
                    .extend_from_slice(dropped_marker(dropped, deployments.log_limit()).as_bytes());
                let _ = to.send(FollowEvent::Chunk(marker)).await;
            }
            let _ = to.send(FollowEvent::End(state)).await;
            return;
        }
        // Until news of this deployment, the beat, or the end.
        loop {
            tokio::select! {
                () = to.closed() => return,
                stop = stopping.changed() => {
                    if stop.is_err() || *stopping.borrow() {
                        return;
                    }
                }
                heard = news.recv() => match heard {
                    Ok(changed) if changed == pk || changed == EVERYONE => break,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                () = tokio::time::sleep(hub.beat) => break,
            }
        }
    }
}
