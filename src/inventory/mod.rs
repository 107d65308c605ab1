//! The inventory wing: which version of a project's stack is provisioned
//! in which environment, with its instances (DESIGN "Inventory of
//! provisioned versions", seed 003). Kept current by deployments: one that
//! ends `success` records its version here (`service::record_deployed`,
//! inside the deployment's transaction).
//!
//! - `service`: the use cases, each write one transaction with its audit
//!   event (queries in `db::provisioning`, parsing in
//!   `domain::provisioning`).
//! - `document`: the seed's shapes, answers and errors.

pub mod document;
pub mod service;

pub use service::{record_deployed, Actor, Inventory, InventoryError, VersionView};
