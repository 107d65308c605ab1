//! Work that must wait for a write's commit: counting a decision in the
//! metrics, say. A transaction that is retried or rolled back must not
//! count twice, or at all; `Db::write` runs these hooks only once its
//! transaction (on SQLite, the writer's batch) is committed.

use std::cell::RefCell;

type Hook = Box<dyn FnOnce() + Send>;

thread_local! {
    /// Hooks of the write running on this thread.
    static HOOKS: RefCell<Vec<Hook>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` once the write that calls this commits; never if it does not.
/// Outside a `Db::write` the hook is dropped unrun.
pub fn after_commit(f: impl FnOnce() + Send + 'static) {
    HOOKS.with(|hooks| hooks.borrow_mut().push(Box::new(f)));
}

/// The hooks of one write: `f`'s result, and what it asked to run after
/// its commit.
pub(super) fn collect<T>(f: impl FnOnce() -> T) -> (T, Hooks) {
    let outer = HOOKS.with(|hooks| hooks.take());
    let result = f();
    let mine = HOOKS.with(|hooks| hooks.replace(outer));
    (result, Hooks(mine))
}

/// Hooks waiting for a commit.
pub(super) struct Hooks(Vec<Hook>);

impl Hooks {
    /// The write committed: run them.
    pub(super) fn run(self) {
        for hook in self.0 {
            hook();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    #[test]
    fn hooks_run_only_when_asked_and_stay_with_their_write() {
        let ran = Arc::new(AtomicUsize::new(0));
        let count = |ran: &Arc<AtomicUsize>| {
            let ran = ran.clone();
            move || {
                ran.fetch_add(1, Ordering::SeqCst);
            }
        };
        let ((), outer) = collect(|| {
            after_commit(count(&ran));
            // A write inside keeps its own hooks apart.
            let ((), inner) = collect(|| after_commit(count(&ran)));
            drop(inner); // rolled back: never run
        });
        assert_eq!(
            ran.load(Ordering::SeqCst),
            0,
            "nothing runs before the commit"
        );
        outer.run();
        assert_eq!(ran.load(Ordering::SeqCst), 1);
    }
}
