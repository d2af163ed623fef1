//! End-to-end tests of the trigger client against a real recommendations
//! server: one binary, a module per feature, everything on port 0.

// Test support panics on purpose: a failed setup step is a failed test.
#![allow(clippy::unwrap_used)]

mod access;
mod auth;
mod bad_input;
mod browser;
mod browser_runs;
mod cli;
mod concurrency;
mod crowd;
mod deploy;
mod discovery;
mod failover;
mod failures;
mod follow;
mod formats;
mod hostile;
mod malformed;
mod observability;
mod processes;
mod proxy;
mod resume;
mod runs;
mod stores;
mod support;
mod tls;
mod traces;
mod trigger;
