//! SQLite's one writer, with group commit.
//!
//! SQLite takes one write transaction at a time, and with
//! `synchronous=FULL` every commit waits for the disk. A process that lets
//! each request and each job commit on its own is bounded by commits per
//! second, and every release costs several (its creation, its claim, its
//! approvers, each email sent). Here one thread owns the write connection
//! and runs whatever writes are waiting as one transaction, each in its
//! own savepoint: one disk wait for the whole batch, and a failing write
//! rolls back alone. Nobody is told their write succeeded before the batch
//! is committed. Writers of the process queue here in order instead of
//! sleeping in SQLite's busy handler.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use diesel::Connection;

use super::{DbConnection, DbError, Manager};

/// Told after the batch: `Ok` once it is committed, or why it was not.
type Done = Box<dyn FnOnce(Result<(), String>) + Send>;

/// One write. Called with the connection inside the batch's transaction,
/// or with `None` if its caller's deadline passed before its turn.
type Work = Box<dyn FnOnce(Option<&mut DbConnection>) -> Done + Send>;

struct Item {
    deadline: Instant,
    work: Work,
}

/// Writes at most this many per transaction, so that one batch never holds
/// the lock for long.
const MAX_BATCH: usize = 128;

pub struct Writer {
    queue: mpsc::Sender<Item>,
}

impl Writer {
    /// Starts the writer thread; it ends when the last `Writer` is dropped.
    pub fn start(manager: Manager) -> std::io::Result<Self> {
        let (queue, items) = mpsc::channel();
        std::thread::Builder::new()
            .name("greenlight-sqlite-writer".to_owned())
            .spawn(move || run(&manager, &items))?;
        Ok(Self { queue })
    }

    /// Runs `f` in the next batch; answers once the batch is committed.
    /// A write still waiting after `wait` is not run: `WriterBusy`.
    pub async fn write<T, F>(&self, wait: Duration, f: F) -> Result<T, DbError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        let (tell, told) = tokio::sync::oneshot::channel::<Result<T, DbError>>();
        let work: Work = Box::new(move |conn| -> Done {
            let Some(conn) = conn else {
                // Not run: too late, or no connection for the batch.
                return Box::new(move |why: Result<(), String>| {
                    let _ = tell.send(Err(match why {
                        Ok(()) => DbError::WriterBusy(wait.as_millis()),
                        Err(why) => DbError::Commit(why),
                    }));
                });
            };
            // A savepoint of its own inside the batch's transaction.
            let (result, hooks) = super::after_commit::collect(|| conn.transaction(f));
            Box::new(move |committed| {
                let _ = tell.send(match committed {
                    Ok(()) => {
                        if result.is_ok() {
                            hooks.run();
                        }
                        result
                    }
                    Err(e) => Err(DbError::Commit(e)),
                });
            })
        });
        self.queue
            .send(Item {
                deadline: Instant::now() + wait,
                work,
            })
            .map_err(|_| DbError::Task)?;
        told.await.map_err(|_| DbError::Task)?
    }
}

fn run(manager: &Manager, items: &mpsc::Receiver<Item>) {
    let mut conn: Option<DbConnection> = None;
    while let Ok(first) = items.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match items.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        let now = Instant::now();
        let (live, late): (Vec<Item>, Vec<Item>) =
            batch.into_iter().partition(|item| item.deadline > now);
        for item in late {
            (item.work)(None)(Ok(()));
        }
        if live.is_empty() {
            continue;
        }
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match manager.establish() {
                Ok(c) => conn.insert(c),
                Err(e) => {
                    let why = e.to_string();
                    for item in live {
                        (item.work)(None)(Err(why.clone()));
                    }
                    continue;
                }
            },
        };
        let mut done = Vec::with_capacity(live.len());
        let committed = c
            .transaction::<(), diesel::result::Error, _>(|c| {
                for item in live {
                    done.push((item.work)(Some(c)));
                }
                Ok(())
            })
            .map_err(|e| format!("the batch's commit failed: {e}"));
        if committed.is_err() {
            // Start the next batch on a fresh connection.
            conn = None;
        }
        for tell in done {
            tell(committed.clone());
        }
    }
}
