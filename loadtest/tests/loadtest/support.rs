use bookstream_loadtest::{Opts, Report, report::ScenarioReport};
pub(crate) use bookstream_testkit::server::{
    TestServer, server_config as config, spawn_server, spawn_server_with,
};
use clap::Parser;

/// Books per request in these tests: enough to split NDJSON lines across reads.
pub(crate) const BOOKS: u64 = 300;

/// Options for a short closed run of `scenario` against `server`; `extra`
/// flags are added, and replace the defaults they name.
pub(crate) fn opts(server: &TestServer, scenario: &str, extra: &[&str]) -> Opts {
    let grpc = format!("http://{}", server.grpc_addr);
    let rest = format!("http://{}", server.rest_addr);
    let books = BOOKS.to_string();
    let defaults = [
        ("--grpc", grpc.as_str()),
        ("--rest", rest.as_str()),
        ("--scenario", scenario),
        ("--users", "2"),
        ("--spawn-rate", "100"),
        ("--run-time", "1s"),
        ("--max-results", books.as_str()),
    ];
    let mut args = vec!["loadtest"];
    for (flag, value) in defaults {
        if !extra.contains(&flag) {
            args.extend([flag, value]);
        }
    }
    args.extend_from_slice(extra);
    Opts::parse_from(args)
}

/// Runs the harness in-process and returns the one scenario's figures.
pub(crate) async fn run_one(opts: Opts) -> ScenarioReport {
    let Report { mut scenarios, .. } = bookstream_loadtest::run(opts).await.unwrap();
    assert_eq!(scenarios.len(), 1);
    scenarios.remove(0)
}
