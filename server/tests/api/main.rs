//! The server's integration tests: one binary, a module per feature, each
//! test against a real server bound to port 0.

// Test support panics on purpose: a failed setup step is a failed test.
#![allow(clippy::unwrap_used)]

mod append;
mod append_faults;
mod auth;
mod cli;
mod discovery;
mod follow;
mod follow_faults;
mod grpc;
mod import;
mod layouts;
mod metrics;
mod rest;
mod slowloris;
mod store_faults;
mod stores;
mod support;
mod twins;
mod wire;
