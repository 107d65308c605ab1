//! The environments wing: an environment is a thing with a policy (who
//! approves, how many, how long) resolved from the most specific table to
//! the least; its variables come next.

pub mod policies;

pub use policies::{Policies, PolicyError};
