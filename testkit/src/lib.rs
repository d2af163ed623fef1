//! Test support shared by Bookstream's test suites: the in-process test
//! server, client and stores; the launcher for real binaries; and the real
//! dependencies users run Bookstream with, started privately for the tests.

pub mod browser;
pub mod client;
pub mod hosts;
pub mod metrics;
pub mod net;
pub mod postgres;
pub mod process;
pub mod server;
pub mod slowloris;
pub mod store;

/// Whether a missing dependency fails the tests instead of skipping them:
/// under CI (`CI` set), or when asked for with `BOOKSTREAM_REQUIRE_<WHAT>`.
pub fn required(what: &str) -> bool {
    std::env::var_os("CI").is_some()
        || std::env::var_os(format!("BOOKSTREAM_REQUIRE_{what}")).is_some()
}
