//! The request a piece of work descends from: its id is set around each
//! request and around each job run (the id stored with the job), and read
//! when a job is queued, so the jobs a request causes, and the jobs those
//! cause, log under the request's id. Database work runs on other threads
//! (tokio's blocking pool, SQLite's writer): `Db` takes the id along
//! (`enter`).

use std::cell::RefCell;
use std::future::Future;
use std::sync::Arc;

tokio::task_local! {
    static TASK: Option<Arc<str>>;
}

thread_local! {
    static THREAD: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
}

/// Runs `work` as caused by the request `id`.
pub async fn scope<F: Future>(id: Option<&str>, work: F) -> F::Output {
    TASK.scope(id.map(Arc::from), work).await
}

/// The id of the request the current work descends from, if any.
pub fn current() -> Option<Arc<str>> {
    TASK.try_with(Clone::clone)
        .ok()
        .flatten()
        .or_else(|| THREAD.with(|t| t.borrow().clone()))
}

/// Makes `id` the current request on this thread until the guard drops
/// (work handed to another thread: see `Db`).
pub fn enter(id: Option<Arc<str>>) -> Entered {
    Entered(THREAD.with(|t| t.replace(id)))
}

/// Gives the thread back its previous request when dropped.
pub struct Entered(Option<Arc<str>>);

impl Drop for Entered {
    fn drop(&mut self) {
        THREAD.with(|t| *t.borrow_mut() = self.0.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_on_another_thread_runs_as_caused_by_the_request() {
        assert!(current().is_none());
        let seen = scope(Some("req-1"), async {
            let id = current();
            std::thread::spawn(move || {
                let _entered = enter(id);
                current()
            })
            .join()
            .unwrap()
        })
        .await;
        assert_eq!(seen.as_deref(), Some("req-1"));
        assert!(current().is_none(), "nothing leaks out of the scope");
    }

    #[test]
    fn the_thread_gets_its_own_request_back() {
        let _outer = enter(Some(Arc::from("outer")));
        {
            let _inner = enter(Some(Arc::from("inner")));
            assert_eq!(current().as_deref(), Some("inner"));
        }
        assert_eq!(current().as_deref(), Some("outer"));
    }
}
