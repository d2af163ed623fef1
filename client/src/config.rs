//! The client's command line; every flag also reads an environment variable.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Parser;

use crate::{discovery::Target, sink::Format};

/// Bookstream trigger client: `GET /<n>` streams n book recommendations from
/// the server and writes every one of them to a file.
#[derive(Debug, Clone, Parser)]
#[command(name = "client", version)]
pub struct ClientConfig {
    /// Address of the HTTP trigger listener.
    #[arg(long, env = "BOOKSTREAM_LISTEN", default_value = "127.0.0.1:3333")]
    pub listen: SocketAddr,

    /// Shared secret that guards the trigger listener: every route that
    /// starts, stops or reads runs or files then needs `Authorization:
    /// Bearer <token>`, or (in a browser) signing in once at `/login`, which
    /// sets an HttpOnly, SameSite=Strict session cookie. `/health` and
    /// `/metrics` answer without it. Pass it through the environment, not the
    /// command line.
    #[arg(long, env = "BOOKSTREAM_LISTEN_TOKEN", hide_env_values = true)]
    pub listen_token: Option<String>,

    /// Host names the trigger listener answers to besides its IP addresses
    /// and `localhost` (comma-separated; `*` for any, behind a proxy that
    /// checks names itself). Requests naming any other host get 421, so a
    /// page on another site cannot reach this client through DNS rebinding.
    #[arg(long, env = "BOOKSTREAM_ALLOWED_HOST", value_delimiter = ',')]
    pub allowed_host: Vec<String>,

    /// PEM certificate (chain) to serve the trigger over HTTPS; needs --tls-key.
    #[arg(long, env = "BOOKSTREAM_TRIGGER_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert.
    #[arg(long, env = "BOOKSTREAM_TRIGGER_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// The recommendation servers: gRPC URLs, or `dns:///NAME:PORT` for
    /// every address NAME resolves to (a headless Service's replicas, say);
    /// several, comma-separated, are taken in turn, and a stream broken on
    /// one resumes on another.
    #[arg(
        long,
        env = "BOOKSTREAM_SERVER",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:50051"
    )]
    pub server: Vec<Target>,

    /// How often `dns:///` names are resolved again: new addresses join,
    /// vanished ones leave.
    #[arg(long, env = "BOOKSTREAM_RESOLVE_INTERVAL", default_value = "10s",
          value_parser = humantime::parse_duration)]
    pub resolve_interval: Duration,

    /// How often every server's gRPC health service is asked; an unhealthy
    /// server is skipped until it answers SERVING again.
    #[arg(long, env = "BOOKSTREAM_HEALTH_INTERVAL", default_value = "2s",
          value_parser = humantime::parse_duration)]
    pub health_interval: Duration,

    // Its help is built by `output_help`: clap reads `{n}` in help text as a
    // line break, and `{n}` is one of the placeholders the help must show.
    #[arg(
        long,
        env = "BOOKSTREAM_OUTPUT",
        default_value = "recommend_books_from_server.txt",
        help = output_help()
    )]
    pub output: PathBuf,

    /// The run history, one JSON line per run start and end, kept across
    /// restarts [default: bookstream-runs.jsonl beside --output].
    #[arg(long, env = "BOOKSTREAM_HISTORY")]
    pub history: Option<PathBuf>,

    /// How many of the newest runs the history keeps.
    #[arg(long, env = "BOOKSTREAM_HISTORY_LIMIT", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub history_limit: u64,

    /// Layout of the output file.
    #[arg(long, env = "BOOKSTREAM_FORMAT", value_enum, default_value_t = Format::Txt)]
    pub format: Format,

    /// Most books one trigger may ask for.
    #[arg(long, env = "BOOKSTREAM_MAX_N", default_value_t = 10_000_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_n: u64,

    /// Most triggers running at once; more are answered 429 right away
    /// rather than slowing every run down.
    #[arg(long, env = "BOOKSTREAM_MAX_RUNS", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_runs: u32,

    /// Most live views (`/runs/{id}/events` streams) open at once, over all
    /// runs; more are answered 429 (the page then reloads itself instead).
    #[arg(long, env = "BOOKSTREAM_MAX_WATCHERS", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_watchers: u32,

    /// Most live views open at once on one run.
    #[arg(long, env = "BOOKSTREAM_MAX_WATCHERS_PER_RUN", default_value_t = 32,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_watchers_per_run: u32,

    /// Most open connections to the trigger listener; past it, the oldest
    /// connection that has not yet sent a request gives way, and if there is
    /// none the new one is closed at once. Lowered at start-up, with a
    /// warning, to what the file-descriptor limit leaves room for.
    #[arg(long, env = "BOOKSTREAM_MAX_CONNECTIONS", default_value_t = 512,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// How long a new connection has to send its first request head (TLS
    /// handshake included); a slower one is closed.
    #[arg(long, env = "BOOKSTREAM_HEADER_READ_TIMEOUT", default_value = "10s",
          value_parser = humantime::parse_duration)]
    pub header_read_timeout: Duration,

    /// Print every received book to stdout (slow for large runs).
    #[arg(long, env = "BOOKSTREAM_ECHO")]
    pub echo: bool,

    /// How many times a run resumes a broken stream (or retries an
    /// unreachable server) before it gives up and keeps a `.partial` file.
    #[arg(long, env = "BOOKSTREAM_RETRIES", default_value_t = 3)]
    pub retries: u32,

    /// Wait before the first retry; each next wait doubles, up to 5 s.
    #[arg(long, env = "BOOKSTREAM_RETRY_BACKOFF", default_value = "200ms",
          value_parser = humantime::parse_duration)]
    pub retry_backoff: Duration,

    /// Longest wait for the next book of a stream; a stream that stalls
    /// longer is treated as broken and resumed (or kept as `.partial`).
    #[arg(long, env = "BOOKSTREAM_IDLE_TIMEOUT", default_value = "30s",
          value_parser = humantime::parse_duration)]
    pub idle_timeout: Duration,

    /// Shared secret the servers require (their `--token`); sent as
    /// `authorization: Bearer <token>`. Pass it through the environment.
    #[arg(long, env = "BOOKSTREAM_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// PEM certificate of the CA that signed the servers' certificates; needed
    /// for `https://` servers (gRPC over TLS).
    #[arg(long, env = "BOOKSTREAM_CA")]
    pub ca: Option<PathBuf>,

    #[command(flatten)]
    pub log: bookstream::telemetry::LogArgs,

    /// Keep Prometheus metrics and serve them at GET /metrics on the
    /// trigger listener (`--metrics false` turns both off).
    #[arg(long, env = "BOOKSTREAM_METRICS", default_value_t = true, action = clap::ArgAction::Set)]
    pub metrics: bool,

    /// How long to wait for a TCP connection to the server, e.g. `5s`, `500ms`.
    #[arg(long, env = "BOOKSTREAM_CONNECT_TIMEOUT", default_value = "5s",
          value_parser = humantime::parse_duration)]
    pub connect_timeout: Duration,

    #[command(flatten)]
    pub keepalive: bookstream::keepalive::KeepaliveArgs,
}

impl ClientConfig {
    /// Every flag at its default (and its environment variable, if set):
    /// the starting point for a config built in code, such as a test's.
    pub fn defaults() -> Self {
        Self::parse_from(["client"])
    }

    /// Where the run history is kept: `--history`, or beside the output.
    pub fn history_path(&self) -> PathBuf {
        self.history.clone().unwrap_or_else(|| {
            let dir = self
                .output
                .parent()
                .unwrap_or_else(|| std::path::Path::new(""));
            dir.join("bookstream-runs.jsonl")
        })
    }
}

/// The help of `--output`. The ANSI reset inside `{n}` keeps clap from
/// turning the placeholder into a line break; it is invisible on a terminal
/// and stripped when the help goes to a pipe or a file.
fn output_help() -> clap::builder::StyledStr {
    let n = "{\x1b[0mn}";
    clap::builder::StyledStr::from(format!(
        "File that receives the books of each run (replaced atomically when a \
         run completes; a broken run leaves `<output>.partial`). The \
         placeholders `{{run}}`, `{{user}}` and `{n}` give every run its own \
         file, e.g. `books-{{run}}.txt`."
    ))
}
