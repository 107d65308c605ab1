//! The releases wing: the approval gate. A release is created (or joined)
//! by a pipeline, its approvers fetched and emailed, their decisions
//! recorded and the release settled by its policy; whoever waits is told.
//!
//! - `service`: the use cases the HTTP edge (and other wings) call.
//! - `lifecycle`: each step as one transaction (queries in `db`, the
//!   decisions in `domain::policy`).
//! - `document`: the status document pipelines read.
//! - `subscriber`: who is told of a decision.
//! - `jobs`: the wing's job kinds on the generic queue.
//! - `settled`: the listeners other wings register to act, in the same
//!   transaction, when a release is settled.

pub mod document;
pub mod jobs;
pub mod lifecycle;
pub mod service;
pub mod settled;
pub mod subscriber;

pub use document::StatusDocument;
pub use lifecycle::{ReleaseView, Subscription};
pub use service::{CreateError, Releases, Waiter};
