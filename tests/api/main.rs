//! Black-box tests of Greenlight: the real app over HTTP, on SQLite and on
//! PostgreSQL, with a real SMTP server and a stubbed approvers API.

mod approval_input;
mod flow;
mod helpers;
mod process;
mod queue;
mod release_input;
