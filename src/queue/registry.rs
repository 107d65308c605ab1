//! The job kinds a runner can run, by name, each with its context.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;

use super::{Claim, Job, JobError};
use crate::db::DbConnection;

/// One attempt of a stored job: its claim and payload in, its outcome out.
type RunFn = Box<dyn Fn(Claim, String) -> BoxFuture<'static, Result<(), JobError>> + Send + Sync>;
/// A kind's `give_up`, run on the stored payload.
type GiveUpFn = fn(&mut DbConnection, &str, &str, i32) -> diesel::QueryResult<()>;

pub(super) struct Kind {
    pub(super) run: RunFn,
    pub(super) give_up: GiveUpFn,
}

#[derive(Default)]
pub struct Registry {
    pub(super) kinds: HashMap<&'static str, Kind>,
}

impl Registry {
    /// Adds kind `J`, whose runs share `ctx`.
    pub fn register<J: Job>(mut self, ctx: Arc<J::Context>) -> Self {
        let run: RunFn = Box::new(move |claim, payload| {
            let ctx = ctx.clone();
            async move {
                let job: J = serde_json::from_str(&payload)
                    .map_err(|e| JobError::Permanent(format!("unreadable {} job: {e}", J::KIND)))?;
                job.run(&ctx, &claim).await
            }
            .boxed()
        });
        self.kinds.insert(
            J::KIND,
            Kind {
                run,
                give_up: give_up_erased::<J>,
            },
        );
        self
    }

    /// Every kind's name (the queue's gauges report each, zeros too).
    pub fn kinds(&self) -> Vec<&'static str> {
        let mut kinds: Vec<_> = self.kinds.keys().copied().collect();
        kinds.sort_unstable();
        kinds
    }

    /// The registered name for a stored kind, `unknown` if none: metric
    /// labels come from this fixed list, never from the database's text.
    pub(super) fn label(&self, kind: &str) -> &'static str {
        self.kinds.get_key_value(kind).map_or("unknown", |(k, _)| k)
    }
}

fn give_up_erased<J: Job>(
    conn: &mut DbConnection,
    payload: &str,
    error: &str,
    attempts: i32,
) -> diesel::QueryResult<()> {
    match serde_json::from_str::<J>(payload) {
        Ok(job) => job.give_up(conn, error, attempts),
        Err(_) => Ok(()),
    }
}
