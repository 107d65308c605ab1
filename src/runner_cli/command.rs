//! One deployment's run: the command with the deployment's facts and
//! variables in its environment, its output shipped as the log in
//! batches, its claim kept alive, and its outcome posted.

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::api::{Api, Assignment, CallError};
use super::RunnerOptions;

/// Output is shipped at least this often while it comes...
const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// ...or as soon as this much is waiting.
const FLUSH_BYTES: usize = 16 * 1024;
/// Below the server's limit of a chunk (1 MiB).
const MAX_CHUNK: usize = 512 * 1024;
/// After the command exits, how long its output may take to drain (a
/// process it left behind may hold the pipes open).
const DRAIN: Duration = Duration::from_secs(2);
/// Attempts at posting a chunk or the final status when Greenlight does
/// not answer.
const ATTEMPTS: u32 = 5;

/// How the command ended.
enum Ended {
    Exited(ExitStatus),
    /// Still running when `--grace` ran out after SIGTERM.
    Stopped,
    /// The claim is over: nothing more is posted.
    ClaimLost,
}

/// Runs the command for `a` and reports it; never fails (what goes wrong
/// is posted as the deployment's state, or logged).
pub async fn run(
    api: &Api,
    options: &RunnerOptions,
    a: Assignment,
    mut stop: watch::Receiver<bool>,
) {
    let id = a.id.clone();
    let token = a.claim.token.clone();
    tracing::info!(
        deployment = %id,
        team_project = %a.team_project,
        environment = %a.environment,
        "deployment claimed: running the command"
    );
    let mut command = tokio::process::Command::new(&options.command[0]);
    command
        .args(&options.command[1..])
        // The command gets the deployment's variables, never the key.
        .env_remove("GREENLIGHT_RUNNER_KEY")
        .envs(&a.variables)
        .env("GREENLIGHT_DEPLOYMENT_ID", &a.id)
        .env("REPOSITORY_URL", &a.repository_url)
        .env("COMMIT_SHA", &a.commit_sha)
        .env("REF", a.git_ref.as_deref().unwrap_or_default())
        .env("ENVIRONMENT", &a.environment)
        .env("STACK_NAME", a.stack_name.as_deref().unwrap_or_default())
        .env("VERSION", a.version.as_deref().unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: a Ctrl-C at the terminal reaches the
        // runner only (which lets the command finish), and a stop after
        // the grace period reaches whatever the command started.
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            let why = format!("could not start {}: {e}", options.command[0]);
            tracing::error!(deployment = %id, "{why}");
            report(api, &id, &token, "error", &why).await;
            return;
        }
    };
    let (lost_tx, mut lost) = watch::channel(false);
    let (chunks, received) = mpsc::channel::<Vec<u8>>(64);
    let readers = [
        child
            .stdout
            .take()
            .map(|out| read_into(out, chunks.clone())),
        child
            .stderr
            .take()
            .map(|err| read_into(err, chunks.clone())),
    ];
    drop(chunks);
    let shipper = tokio::spawn(ship(
        api.clone(),
        id.clone(),
        token.clone(),
        received,
        lost_tx.clone(),
    ));
    let keeper = tokio::spawn(keep_claim(
        api.clone(),
        id.clone(),
        token.clone(),
        a.claim.expires_at,
        lost_tx,
    ));
    let pid = child.id();
    let mut grace_ends: Option<tokio::time::Instant> = None;
    let ended = loop {
        let grace = async {
            match grace_ends {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            status = child.wait() => match status {
                Ok(status) => break Ended::Exited(status),
                Err(e) => {
                    tracing::error!(deployment = %id, "waiting for the command: {e}");
                    kill_group(pid);
                    break Ended::Stopped;
                }
            },
            _ = stop.wait_for(|s| *s), if grace_ends.is_none() => {
                tracing::info!(deployment = %id, grace = ?options.grace, "letting the running command finish");
                grace_ends = Some(tokio::time::Instant::now() + options.grace);
            }
            () = grace => {
                tracing::warn!(deployment = %id, "the command outlived --grace: stopping it");
                kill_group(pid);
                let _ = child.wait().await;
                break Ended::Stopped;
            }
            _ = lost.wait_for(|l| *l) => {
                tracing::error!(deployment = %id, "the claim is over: stopping the command");
                kill_group(pid);
                let _ = child.wait().await;
                break Ended::ClaimLost;
            }
        }
    };
    // The log first, then the state: a final deployment's log is closed.
    drain(readers, shipper).await;
    keeper.abort();
    if *lost.borrow() {
        return;
    }
    let (state, description) = match ended {
        Ended::Exited(status) => outcome(status),
        Ended::Stopped => (
            "error",
            format!(
                "stopped: the runner was shutting down and the command outlived --grace ({})",
                humantime::format_duration(options.grace)
            ),
        ),
        Ended::ClaimLost => return,
    };
    tracing::info!(deployment = %id, state, "{description}");
    report(api, &id, &token, state, &description).await;
}

/// `success` for exit code 0, else `failure` with the code or signal.
fn outcome(status: ExitStatus) -> (&'static str, String) {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(0), _) => ("success", "exit code 0".to_owned()),
        (Some(code), _) => ("failure", format!("exit code {code}")),
        (None, Some(signal)) => ("failure", format!("killed by signal {signal}")),
        (None, None) => ("failure", "ended without an exit code".to_owned()),
    }
}

/// SIGKILL to the command's process group.
fn kill_group(pid: Option<u32>) {
    let Some(pid) = pid else { return };
    let _ = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Reads `from` into chunks until it ends.
fn read_into(
    mut from: impl AsyncRead + Unpin + Send + 'static,
    to: mpsc::Sender<Vec<u8>>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut buffer = vec![0u8; 8192];
        loop {
            match from.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if to.send(buffer[..n].to_vec()).await.is_err() {
                        return;
                    }
                }
            }
        }
    })
}

/// Lets the output drain for a moment, then gives up on what a leftover
/// process still holds open.
async fn drain(readers: [Option<JoinHandle<()>>; 2], shipper: JoinHandle<()>) {
    let aborts: Vec<_> = readers
        .iter()
        .flatten()
        .map(JoinHandle::abort_handle)
        .collect();
    let deadline = tokio::time::Instant::now() + DRAIN;
    for reader in readers.into_iter().flatten() {
        let _ = tokio::time::timeout_at(deadline, reader).await;
    }
    for abort in aborts {
        abort.abort();
    }
    // With the readers gone, the shipper flushes what is left and ends.
    let _ = shipper.await;
}

/// Ships output as log chunks: every `FLUSH_EVERY`, or at `FLUSH_BYTES`.
async fn ship(
    api: Api,
    id: String,
    token: String,
    mut received: mpsc::Receiver<Vec<u8>>,
    lost: watch::Sender<bool>,
) {
    let mut pending = Vec::new();
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    loop {
        tokio::select! {
            chunk = received.recv() => match chunk {
                Some(chunk) => {
                    pending.extend_from_slice(&chunk);
                    if pending.len() >= FLUSH_BYTES {
                        flush(&api, &id, &token, &mut pending, &lost).await;
                    }
                }
                None => {
                    flush(&api, &id, &token, &mut pending, &lost).await;
                    return;
                }
            },
            _ = tick.tick() => flush(&api, &id, &token, &mut pending, &lost).await,
        }
    }
}

async fn flush(
    api: &Api,
    id: &str,
    token: &str,
    pending: &mut Vec<u8>,
    lost: &watch::Sender<bool>,
) {
    if pending.is_empty() || *lost.borrow() {
        pending.clear();
        return;
    }
    while !pending.is_empty() {
        let n = pending.len().min(MAX_CHUNK);
        let chunk: Vec<u8> = pending.drain(..n).collect();
        let mut attempt = 1;
        loop {
            match api.append_log(id, token, chunk.clone()).await {
                Ok(()) => break,
                Err(CallError::ClaimOver(why)) => {
                    tracing::error!(deployment = %id, "log refused: {why}");
                    let _ = lost.send(true);
                    pending.clear();
                    return;
                }
                Err(e) if attempt < ATTEMPTS => {
                    tracing::warn!(deployment = %id, "log chunk not stored yet: {e}");
                    tokio::time::sleep(Duration::from_millis(250 * u64::from(attempt))).await;
                    attempt += 1;
                }
                Err(e) => {
                    tracing::error!(deployment = %id, bytes = chunk.len(), "log chunk dropped: {e}");
                    break;
                }
            }
        }
    }
}

/// Renews the claim at about a third of the time it has left, from the
/// expiry Greenlight gave (log posts renew it too, but a quiet command
/// posts none).
async fn keep_claim(
    api: Api,
    id: String,
    token: String,
    mut expires_at: chrono::DateTime<chrono::Utc>,
    lost: watch::Sender<bool>,
) {
    loop {
        let left = (expires_at - chrono::Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO);
        tokio::time::sleep((left / 3).clamp(Duration::from_millis(100), Duration::from_secs(20)))
            .await;
        match api.heartbeat(&id, &token).await {
            Ok(renewed) => expires_at = renewed,
            Err(CallError::ClaimOver(why)) => {
                tracing::error!(deployment = %id, "heartbeat refused: {why}");
                let _ = lost.send(true);
                return;
            }
            Err(CallError::Refused(why)) => {
                // A revoked key, say: retrying cannot help, and the
                // command's own log posts will say the same.
                tracing::error!(deployment = %id, "heartbeat refused: {why}");
                return;
            }
            Err(e) => {
                tracing::warn!(deployment = %id, "heartbeat failed, trying again: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// Posts the deployment's final state, trying again while Greenlight does
/// not answer.
async fn report(api: &Api, id: &str, token: &str, state: &str, description: &str) {
    // A status's description holds 140 characters.
    let description: String = description.chars().take(140).collect();
    let description = description.as_str();
    for attempt in 1..=ATTEMPTS {
        match api.post_status(id, token, state, description).await {
            Ok(()) => return,
            Err(e @ (CallError::ClaimOver(_) | CallError::Refused(_))) => {
                tracing::error!(deployment = %id, state, "status refused: {e}");
                return;
            }
            Err(e) => {
                tracing::warn!(deployment = %id, state, attempt, "status not posted yet: {e}");
                tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
            }
        }
    }
    tracing::error!(deployment = %id, state, "could not post the final state");
}
