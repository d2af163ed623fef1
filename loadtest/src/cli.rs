//! The command line. Every flag also reads a `LOADTEST_*` environment variable,
//! and tests build an [`Opts`] with `Opts::parse_from` and call `run` in-process.

use std::{path::PathBuf, time::Duration};

use clap::{Parser, ValueEnum};
use serde::Serialize;

/// Load harness for Bookstream: REST vs unary gRPC, and gRPC stream vs NDJSON
/// stream, with every answer checked against the catalog.
#[derive(Debug, Clone, Parser)]
#[command(name = "loadtest", version)]
pub struct Opts {
    #[command(flatten)]
    pub log: bookstream::telemetry::LogArgs,

    /// gRPC endpoint of the server.
    #[arg(long, env = "LOADTEST_GRPC", default_value = "http://127.0.0.1:50051")]
    pub grpc: String,

    /// REST endpoint of the server.
    #[arg(long, env = "LOADTEST_REST", default_value = "http://127.0.0.1:8080")]
    pub rest: String,

    /// Start the `server` binary on free ports for the run, and stop it at the end.
    #[arg(long, env = "LOADTEST_SPAWN_SERVER")]
    pub spawn_server: bool,

    /// The server binary for --spawn-server [default: `server` next to this executable].
    #[arg(long, env = "LOADTEST_SERVER_BIN")]
    pub server_bin: Option<PathBuf>,

    /// Scenario to run; repeat for several. They run one after another on the same settings.
    #[arg(long = "scenario", env = "LOADTEST_SCENARIO", value_delimiter = ',',
          default_values_t = ScenarioName::ALL)]
    pub scenarios: Vec<ScenarioName>,

    /// Closed model: concurrent users, each sending request after request.
    /// Open model: most requests in flight at once.
    #[arg(long, env = "LOADTEST_USERS", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub users: u32,

    /// Closed model: users started per second until all run.
    #[arg(long, env = "LOADTEST_SPAWN_RATE", default_value_t = 2.0, value_parser = positive)]
    pub spawn_rate: f64,

    /// Open model: requests started per second, on a fixed schedule whatever the
    /// latency; without it the closed model runs.
    #[arg(long, env = "LOADTEST_RATE", value_parser = positive)]
    pub rate: Option<f64>,

    /// How long each scenario is measured (after the warm-up), e.g. 30s, 5m.
    #[arg(long, env = "LOADTEST_RUN_TIME", default_value = "30s", value_parser = duration)]
    pub run_time: Duration,

    /// Load before the measurement starts, excluded from the figures.
    #[arg(long, env = "LOADTEST_WARMUP", default_value = "0s", value_parser = duration)]
    pub warmup: Duration,

    /// Books per request.
    #[arg(long, env = "LOADTEST_MAX_RESULTS", default_value_t = 100_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_results: u64,

    /// Whose recommendations to ask for.
    #[arg(long, env = "LOADTEST_USER_ID", default_value_t = 0)]
    pub user_id: u64,

    /// HTTP/2 connections for gRPC (users share them round-robin), and the
    /// size of the REST keep-alive pool, which never opens more (users wait
    /// for a free connection) [default: one per user].
    #[arg(long, env = "LOADTEST_CONNECTIONS",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub connections: Option<u32>,

    /// Threads that drive the users [default: one per core]. Small requests
    /// on a small machine measure the server better with 1: a thread that
    /// never hands its users to another leaves the server more CPU (on 2
    /// cores, 19,000 against 17,500 requests/s of 10 books); streams of many
    /// books are faster with one per core, which share their checking.
    #[arg(long, env = "LOADTEST_THREADS",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,

    /// The servers' shared secret (their `--token`), sent as `authorization:
    /// Bearer <token>`. Read from `BOOKSTREAM_TOKEN`, like the services, so a
    /// server started with `--spawn-server` and the harness agree.
    #[arg(long, env = "BOOKSTREAM_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// A request without its complete answer after this long is a timeout failure.
    #[arg(long, env = "LOADTEST_TIMEOUT", default_value = "30s", value_parser = duration)]
    pub timeout: Duration,

    /// Write every figure as JSON to this file.
    #[arg(long, env = "LOADTEST_JSON")]
    pub json: Option<PathBuf>,

    /// Write one CSV row per scenario to this file.
    #[arg(long, env = "LOADTEST_CSV")]
    pub csv: Option<PathBuf>,

    /// Draw requests/s and latency percentiles side by side into this SVG file.
    #[arg(long, env = "LOADTEST_CHART")]
    pub chart: Option<PathBuf>,
}

impl Opts {
    /// The connection count actually used.
    pub fn connections(&self) -> u32 {
        self.connections.unwrap_or(self.users)
    }
}

/// The four ways of asking for the same books.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScenarioName {
    /// `GET /recommendations`: one JSON array.
    Rest,
    /// `RecommendBatch`: one protobuf message.
    GrpcUnary,
    /// `Recommend`: one message per book, every one consumed.
    GrpcStream,
    /// `GET /recommendations/stream`: NDJSON, every line consumed.
    RestStream,
    /// `Append`: each user a producer appending batches of --max-results
    /// books on one open call, each batch timed to its ack (needs a store
    /// and the server's write token as --token).
    GrpcAppend,
    /// `POST /recommendations`: the same batches as NDJSON bodies, each with
    /// its own Idempotency-Key.
    RestAppend,
}

impl ScenarioName {
    pub const ALL: [ScenarioName; 4] = [
        ScenarioName::Rest,
        ScenarioName::GrpcUnary,
        ScenarioName::GrpcStream,
        ScenarioName::RestStream,
    ];

    /// The name as typed on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            ScenarioName::Rest => "rest",
            ScenarioName::GrpcUnary => "grpc-unary",
            ScenarioName::GrpcStream => "grpc-stream",
            ScenarioName::RestStream => "rest-stream",
            ScenarioName::GrpcAppend => "grpc-append",
            ScenarioName::RestAppend => "rest-append",
        }
    }

    /// Whether the answer arrives as a stream of books.
    pub fn is_stream(self) -> bool {
        matches!(self, ScenarioName::GrpcStream | ScenarioName::RestStream)
    }
}

impl std::fmt::Display for ScenarioName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn duration(text: &str) -> Result<Duration, humantime::DurationError> {
    humantime::parse_duration(text)
}

fn positive(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() && value > 0.0 => Ok(value),
        Ok(_) => Err("must be a positive number".to_owned()),
        Err(error) => Err(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_run_all_four_scenarios_closed_against_the_default_ports() {
        let opts = Opts::parse_from(["loadtest"]);
        assert_eq!(opts.scenarios, ScenarioName::ALL);
        assert_eq!(opts.grpc, "http://127.0.0.1:50051");
        assert_eq!(opts.rest, "http://127.0.0.1:8080");
        assert_eq!(opts.max_results, 100_000);
        assert_eq!(opts.rate, None);
        assert_eq!(opts.connections(), opts.users);
        assert_eq!(opts.threads, None, "one thread per core unless told");
    }

    #[test]
    fn threads_are_a_positive_count() {
        assert_eq!(
            Opts::parse_from(["loadtest", "--threads", "1"]).threads,
            Some(1)
        );
        let refused = Opts::try_parse_from(["loadtest", "--threads", "0"]).unwrap_err();
        assert!(refused.to_string().contains("--threads"), "{refused}");
    }

    #[test]
    fn scenarios_can_be_repeated_and_durations_read_as_humans_write_them() {
        let opts = Opts::parse_from([
            "loadtest",
            "--scenario",
            "grpc-stream",
            "--scenario",
            "rest-stream",
            "--run-time",
            "1m 30s",
            "--warmup",
            "500ms",
        ]);
        assert_eq!(
            opts.scenarios,
            [ScenarioName::GrpcStream, ScenarioName::RestStream]
        );
        assert_eq!(opts.run_time, Duration::from_secs(90));
        assert_eq!(opts.warmup, Duration::from_millis(500));
    }

    #[test]
    fn a_zero_rate_or_unknown_scenario_is_refused() {
        assert!(Opts::try_parse_from(["loadtest", "--rate", "0"]).is_err());
        assert!(Opts::try_parse_from(["loadtest", "--scenario", "soap"]).is_err());
        assert!(Opts::try_parse_from(["loadtest", "--users", "0"]).is_err());
    }
}
