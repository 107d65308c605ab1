//! Greenlight: a release approval gate for CI/CD pipelines.

pub mod approvers;
pub mod config;
pub mod db;
pub mod domain;
pub mod http;
pub mod mailer;
pub mod startup;
pub mod token;
pub mod worker;
