//! The server's integration tests: one binary, a module per feature, each
//! test against a real server bound to port 0.

mod discovery;
mod grpc;
mod rest;
mod support;
mod twins;
