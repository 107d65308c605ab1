//! Black-box tests of Greenlight: the real app over HTTP, on SQLite and on
//! PostgreSQL, with a real SMTP server and a stubbed approvers API.

mod approval_input;
mod at_rest;
mod azure;
mod bare_machine;
mod browser;
mod deployment_gate;
mod deployment_logs;
mod deployment_runners;
mod deployments;
mod driver;
mod environments;
mod events;
mod files_on_disk;
mod flow;
mod github;
mod github_deployments;
mod github_redelivery;
mod inventory;
mod list;
mod logs;
mod metrics;
mod non_ascii;
mod notify;
mod openapi;
// Shared with the chaos suite, which uses parts these tests do not.
#[allow(dead_code)]
mod helpers;
mod outage;
mod policy;
mod process;
mod queue;
mod recipes;
mod release_input;
mod request_guard;
mod runner;
mod secrets;
mod security;
mod slack;
mod smtp_tls;
mod stacks;
mod ui;
mod variables;
mod webhooks;
