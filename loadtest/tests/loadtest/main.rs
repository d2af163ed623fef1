//! The harness's integration tests: one binary, a module per feature, each
//! run against servers in this process on port 0, for about a second.

// Test support panics on purpose: a failed setup step is a failed test.
#![allow(clippy::unwrap_used)]

mod append;
mod broken_server;
mod failure_kinds;
mod open_model;
mod reports;
mod scenarios;
mod spawn_server;
mod support;
mod token;
