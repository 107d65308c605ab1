//! Greenlight: a release approval gate for CI/CD pipelines.

pub mod admin;
pub mod api_key;
pub mod approvers;
pub mod cause;
pub mod config;
pub mod db;
pub mod domain;
pub mod github;
pub mod http;
pub mod ids;
pub mod jobs;
pub mod lifecycle;
pub mod mailer;
pub mod metrics;
pub mod notifier;
pub mod redact;
pub mod startup;
pub mod token;

pub use ids::random_id;
