//! `greenlight runner`: pulls deployments from a Greenlight and runs the
//! user's command for each (DESIGN "`greenlight runner`"). It claims with a
//! long poll, runs the command (no shell) with the deployment's facts and
//! variables in its environment, streams its output as the log, renews
//! its claim, and posts `success` or `failure` from its exit status.
//! SIGTERM or SIGINT: no more claims (an idle runner exits at once); a
//! running command is let finish, or stopped after `--grace` (`error`).
//!
//! - `api`: the calls to Greenlight.
//! - `command`: one deployment's run.

mod api;
mod command;

use std::time::Duration;

use secrecy::SecretString;
use tokio::sync::watch;

use api::{Api, CallError};

/// What `greenlight runner` was told.
pub struct RunnerOptions {
    pub url: String,
    pub key: Option<SecretString>,
    pub environments: Vec<String>,
    pub team_projects: Vec<String>,
    /// Seconds each claim long-polls.
    pub wait: u64,
    /// How long a running command may take to finish after SIGTERM.
    pub grace: Duration,
    /// The program and its arguments.
    pub command: Vec<String>,
}

/// The longest pause between claims after Greenlight did not answer.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Claims and runs deployments until SIGTERM or SIGINT. An error only
/// for what retrying cannot fix (a wrong key, a refused filter).
pub async fn run(options: RunnerOptions) -> anyhow::Result<()> {
    anyhow::ensure!(
        !options.command.is_empty(),
        "no command to run: add it after --"
    );
    let api = Api::new(&options.url, options.key.as_ref())?;
    let mut stop = stop_on_signals()?;
    tracing::info!(
        environments = ?options.environments,
        team_projects = ?options.team_projects,
        "runner started: waiting for deployments"
    );
    let mut backoff = Duration::from_secs(1);
    loop {
        if *stop.borrow() {
            break;
        }
        let claimed = tokio::select! {
            claimed = api.claim(&options.environments, &options.team_projects, options.wait) => claimed,
            _ = stop.wait_for(|s| *s) => break,
        };
        match claimed {
            Ok(Some(assignment)) => {
                backoff = Duration::from_secs(1);
                command::run(&api, &options, assignment, stop.clone()).await;
            }
            Ok(None) => backoff = Duration::from_secs(1),
            Err(CallError::Transient(why)) => {
                tracing::warn!(retry_in = ?backoff, "claim failed: {why}");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    _ = stop.wait_for(|s| *s) => break,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Err(e @ (CallError::Refused(_) | CallError::ClaimOver(_))) => {
                anyhow::bail!("Greenlight refused the claim: {e}");
            }
        }
    }
    tracing::info!("runner stopped");
    Ok(())
}

/// Becomes true at the first SIGTERM or SIGINT.
fn stop_on_signals() -> anyhow::Result<watch::Receiver<bool>> {
    use tokio::signal::unix::{signal, SignalKind};
    let (tx, rx) = watch::channel(false);
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("stopping: no more claims");
        let _ = tx.send(true);
        // Later signals are already answered: keep them from killing us.
        loop {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
    });
    Ok(rx)
}
