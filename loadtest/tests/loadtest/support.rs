use std::net::SocketAddr;

use bookstream_loadtest::{Opts, Report, report::ScenarioReport};
use bookstream_server::{Server, ServerConfig};
use clap::Parser;
use tokio_util::sync::{CancellationToken, DropGuard};

/// Books per request in these tests: enough to split NDJSON lines across reads.
pub(crate) const BOOKS: u64 = 300;

/// A server (real or broken) running in this process; stops when dropped.
pub(crate) struct TestServer {
    pub(crate) grpc_addr: SocketAddr,
    pub(crate) rest_addr: SocketAddr,
    _stop: DropGuard,
}

impl TestServer {
    /// A server whose listeners stop when `stop` is cancelled, which dropping does.
    pub(crate) fn new(
        grpc_addr: SocketAddr,
        rest_addr: SocketAddr,
        stop: CancellationToken,
    ) -> Self {
        Self {
            grpc_addr,
            rest_addr,
            _stop: stop.drop_guard(),
        }
    }
}

pub(crate) fn config() -> ServerConfig {
    ServerConfig {
        grpc_addr: "127.0.0.1:0".parse().unwrap(),
        rest_addr: "127.0.0.1:0".parse().unwrap(),
        ..ServerConfig::defaults()
    }
}

/// The real Bookstream server on free ports.
pub(crate) async fn spawn_server_with(config: ServerConfig) -> TestServer {
    let server = Server::bind(config).await.expect("binding port 0 works");
    let (grpc_addr, rest_addr) = (server.grpc_addr(), server.rest_addr());
    let stop = CancellationToken::new();
    tokio::spawn(server.serve(stop.clone().cancelled_owned()));
    TestServer::new(grpc_addr, rest_addr, stop)
}

pub(crate) async fn spawn_server() -> TestServer {
    spawn_server_with(config()).await
}

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
