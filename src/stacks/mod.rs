//! The stacks wing: test stacks leased per branch (DESIGN "Test stacks
//! leased per branch", seed 000).
//!
//! - `service`: the use cases (request, heartbeat, commit, release, list,
//!   delete the last), each one transaction under the project's lock with
//!   its audit event, and `choose`, the seed's rule of which stack a
//!   request gets (queries in `db::stacks`, parsed types in
//!   `domain::stack`, the policy from `environments`).
//! - `document`: the stack in the seed's shape.
//! - `jobs`: the lease expiry, scheduled at each lease's end.

mod changes;
pub mod document;
pub mod jobs;
pub mod service;

pub use document::StackDocument;
pub use service::{Granted, Project, StackError, Stacks};
