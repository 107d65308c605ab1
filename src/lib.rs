//! Greenlight: a release approval gate for CI/CD pipelines.

pub mod admin;
pub mod api_key;
pub mod cause;
pub mod config;
pub mod db;
pub mod deployments;
pub mod domain;
pub mod environments;
pub mod http;
pub mod ids;
pub mod integrations;
pub mod inventory;
pub mod logs;
pub mod mailer;
pub mod metrics;
pub mod queue;
pub mod redact;
pub mod releases;
pub mod runner_cli;
pub mod sealed;
pub mod stacks;
pub mod startup;
pub mod token;

pub use ids::random_id;
