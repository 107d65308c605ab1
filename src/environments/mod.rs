//! The environments wing: an environment is a thing with a policy (who
//! approves, how many, how long) resolved from the most specific table to
//! the least, and variables (a project's level and each environment's,
//! merged; secrets sealed and released only to runners).

pub mod policies;
pub mod variables;

pub use policies::{Policies, PolicyError};
pub use variables::{released_to_runner, Variables};
