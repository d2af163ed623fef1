//! The server's command line; every flag also reads an environment variable.

use std::{ffi::OsStr, net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand, builder::TypedValueParser, error::ErrorKind};

use crate::{
    ingest::records::{ColumnMap, Format, Input},
    source::{
        CatalogSpec, StoreOptions,
        load::{LoadRequest, UserRange},
    },
};

/// Bookstream recommendations server: streams books over gRPC and answers the
/// same books in one response over unary gRPC and REST/JSON. Books come from
/// the generated catalog, or from a store filled by `server load`.
#[derive(Debug, Clone, Parser)]
#[command(name = "server", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub serve: ServerConfig,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Fill a store: with the generated catalog (for every user in --users,
    /// the books of rank 0..--books), or with a team's file (--from), replacing
    /// the lists of the users loaded (or, with --append, adding to them).
    Load(LoadArgs),
}

/// `server load`'s options.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// The store to fill: `sqlite:PATH` (created if missing) or `postgres://USER@HOST:PORT/DB`.
    #[arg(long, env = "BOOKSTREAM_CATALOG", hide_env_values = true, value_parser = CatalogParser)]
    pub catalog: CatalogSpec,

    #[command(flatten)]
    pub log: bookstream::telemetry::LogArgs,

    /// Users to load, inclusive: `7` or `1-3`.
    #[arg(long, default_value = "0-9", conflicts_with = "from")]
    pub users: UserRange,

    /// Books per user (ranks 0..N).
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..),
          conflicts_with = "from")]
    pub books: u64,

    #[command(flatten)]
    pub file: FileArgs,
}

/// `server load --from`: a team's own file instead of the generated catalog.
#[derive(Debug, Clone, Args)]
pub struct FileArgs {
    /// Load this file (`-` for standard input) instead of the generated
    /// catalog. Columns: user_id, title, author, isbn13 (optional), year,
    /// genre, score and optionally rank (see docs/stores.md).
    #[arg(long, value_name = "PATH")]
    pub from: Option<Input>,

    /// The file's format; by default from its extension (.csv, .jsonl or
    /// .ndjson, .parquet). Standard input needs it.
    #[arg(long, requires = "from")]
    pub format: Option<Format>,

    /// Other names for the columns: `user_id=customer,title=name,…`.
    #[arg(long, requires = "from", default_value = "")]
    pub columns: ColumnMap,

    /// Add each user's books after their current last rank, instead of
    /// replacing their list.
    #[arg(long, requires = "from")]
    pub append: bool,

    /// Bad rows to skip (each reported with its row, column and reason);
    /// one more and nothing is loaded.
    #[arg(long, requires = "from", default_value_t = 0)]
    pub max_errors: u64,

    /// Where bad rows are written, as CSV (row, column, reason); by default
    /// `PATH.rejects.csv` beside the input (stderr only for standard input).
    #[arg(long, requires = "from", value_name = "PATH")]
    pub rejects: Option<PathBuf>,
}

impl LoadArgs {
    pub fn request(&self) -> LoadRequest {
        LoadRequest {
            users: self.users,
            books: self.books,
        }
    }
}

/// How the server serves: listeners, limits, catalog.
#[derive(Debug, Clone, Parser)]
#[command(name = "server", version)]
pub struct ServerConfig {
    /// Address of the gRPC listener (Recommend, RecommendBatch, Append, health, reflection).
    #[arg(long, env = "BOOKSTREAM_GRPC_ADDR", default_value = "127.0.0.1:50051")]
    pub grpc_addr: SocketAddr,

    /// Address of the REST/JSON listener (/recommendations, /recommendations/stream, /health).
    #[arg(long, env = "BOOKSTREAM_REST_ADDR", default_value = "127.0.0.1:8080")]
    pub rest_addr: SocketAddr,

    /// Most books one request may ask for, streamed or not.
    #[arg(long, env = "BOOKSTREAM_MAX_RESULTS", default_value_t = 10_000_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_results: u64,

    /// Largest one-shot answer in bytes: the RecommendBatch message and the
    /// /recommendations JSON body. Larger answers are refused with a pointer
    /// to the streaming calls, which have no size limit.
    #[arg(long, env = "BOOKSTREAM_MAX_MESSAGE_BYTES", default_value_t = 64 * 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(1024..=(u32::MAX as u64)))]
    pub max_message_bytes: u64,

    /// Most streams (gRPC Recommend and REST NDJSON together) served at
    /// once; more are refused with RESOURCE_EXHAUSTED / HTTP 429 rather than
    /// slowing every caller down.
    #[arg(long, env = "BOOKSTREAM_MAX_STREAMS", default_value_t = 256,
          value_parser = clap::value_parser!(u64).range(1..=(u32::MAX as u64)))]
    pub max_streams: u64,

    /// Most one-shot answers (RecommendBatch, /recommendations) built at
    /// once, across both listeners; each takes up to about three times
    /// --max-message-bytes while it is built. More are refused with
    /// RESOURCE_EXHAUSTED / HTTP 429 and Retry-After. Streams do not count.
    #[arg(long, env = "BOOKSTREAM_MAX_ONE_SHOT", default_value_t = 16,
          value_parser = clap::value_parser!(u64).range(1..=(u32::MAX as u64)))]
    pub max_one_shot: u64,

    /// Most open connections per listener (gRPC and REST each); a connection
    /// past the cap is closed as soon as it is accepted. Lowered at start-up,
    /// with a warning, to what the file-descriptor limit leaves room for.
    #[arg(long, env = "BOOKSTREAM_MAX_CONNECTIONS", default_value_t = 1024,
          value_parser = clap::value_parser!(u64).range(1..=(u32::MAX as u64)))]
    pub max_connections: u64,

    /// How long a new connection has to send its first request head (HTTP/1
    /// headers, or the HTTP/2 preface and first HEADERS frame; the TLS
    /// handshake included); a slower one is closed. When a listener is at
    /// its connection cap, the oldest connection still without a request
    /// head gives way to the newcomer.
    #[arg(long, env = "BOOKSTREAM_HEADER_READ_TIMEOUT", default_value = "10s",
          value_parser = humantime::parse_duration)]
    pub header_read_timeout: Duration,

    /// On Ctrl-C or SIGTERM the server stops accepting at once; streams in
    /// flight then have this long to finish before they are ended with
    /// UNAVAILABLE ("resume elsewhere"), which clients treat as retryable.
    #[arg(long, env = "BOOKSTREAM_SHUTDOWN_GRACE", default_value = "5s",
          value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,

    /// Shared secret: when set, every call and route that returns books
    /// (`Recommend`, `RecommendBatch`, `/recommendations`,
    /// `/recommendations/stream`), and gRPC reflection, need
    /// `authorization: Bearer <token>` and answer UNAUTHENTICATED / 401
    /// without it; the gRPC health service, `/health` and `/metrics` answer
    /// without it (probes and scrapers cannot send one). Pass it through the
    /// environment, not the command line.
    #[arg(long, env = "BOOKSTREAM_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// Secret that grants writes: without it the server takes no appends
    /// (`Append`, `POST /recommendations` answer PERMISSION_DENIED / 403);
    /// with it they need `authorization: Bearer <write token>` (the read
    /// token does not grant them; the write token also reads). An SQLite
    /// store is then opened read-write (created if missing, in WAL mode).
    /// Pass it through the environment, not the command line.
    #[arg(long, env = "BOOKSTREAM_WRITE_TOKEN", hide_env_values = true)]
    pub write_token: Option<String>,

    /// Most books in one appended batch (an `Append` message or a `POST
    /// /recommendations` body); larger batches are refused with
    /// RESOURCE_EXHAUSTED / 413 and nothing of them is written.
    #[arg(long, env = "BOOKSTREAM_MAX_APPEND_BOOKS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_append_books: u64,

    /// Where books come from: `generated` (the deterministic catalog, no
    /// setup), `sqlite:PATH` (a file, opened read-only) or
    /// `postgres://USER[:PASSWORD]@HOST:PORT/DB`. Fill a store with `server load`.
    /// Pass a password through the environment, not the command line.
    #[arg(
        long,
        env = "BOOKSTREAM_CATALOG",
        default_value = "generated",
        hide_env_values = true,
        value_parser = CatalogParser
    )]
    pub catalog: CatalogSpec,

    /// Rows per database read: a stream reads the next page while it sends this one.
    #[arg(long, env = "BOOKSTREAM_PAGE_SIZE", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub page_size: u64,

    /// Most connections to a PostgreSQL catalog (streams take one per page read).
    #[arg(long, env = "BOOKSTREAM_POOL_SIZE", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub pool_size: u32,

    /// How often a store's health is checked; the gRPC health service and
    /// /health report NOT_SERVING / 503 while it is unreachable or empty.
    #[arg(long, env = "BOOKSTREAM_CATALOG_CHECK_INTERVAL", default_value = "2s",
          value_parser = humantime::parse_duration)]
    pub catalog_check_interval: Duration,

    #[command(flatten)]
    pub follow: crate::follow::FollowArgs,

    #[command(flatten)]
    pub log: bookstream::telemetry::LogArgs,

    /// Keep Prometheus metrics and serve them at GET /metrics on the REST
    /// listener (`--metrics false` turns both off).
    #[arg(long, env = "BOOKSTREAM_METRICS", default_value_t = true, action = clap::ArgAction::Set)]
    pub metrics: bool,

    /// PEM certificate (chain) to serve gRPC over TLS; needs --tls-key.
    #[arg(long, env = "BOOKSTREAM_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert.
    #[arg(long, env = "BOOKSTREAM_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl ServerConfig {
    /// The configuration of `server` with no flags: the defaults, on the
    /// default addresses (tests and embedders override what they need).
    pub fn defaults() -> Self {
        Self::parse_from(["server"])
    }

    /// The defaults, listening on free loopback ports: a server for a test
    /// or an embedder, which reads the real ports from `RunningServer`.
    pub fn on_free_ports() -> Self {
        let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        Self {
            grpc_addr: loopback,
            rest_addr: loopback,
            ..Self::defaults()
        }
    }

    /// How the catalog's store is read.
    pub fn store_options(&self) -> StoreOptions {
        StoreOptions {
            page_size: self.page_size,
            pool_size: self.pool_size,
            max_streams: u32::try_from(self.max_streams).unwrap_or(u32::MAX),
        }
    }

    /// Largest `POST /recommendations` body: room for --max-append-books
    /// books at the contract's longest fields.
    pub fn max_append_body_bytes(&self) -> usize {
        usize::try_from(self.max_append_books)
            .unwrap_or(usize::MAX)
            .saturating_mul(APPEND_LINE_BYTES)
    }

    /// The limits that requests are checked against.
    pub fn limits(&self) -> crate::limits::Limits {
        crate::limits::Limits {
            max_results: self.max_results,
            max_message_bytes: self.max_message_bytes as usize,
        }
    }
}

/// The longest NDJSON line a book can take: its fields at their limits, escaped.
const APPEND_LINE_BYTES: usize = 2 * 1024;

/// Parses `--catalog`. clap's own errors quote the value given, and a
/// PostgreSQL URL may hold a password: these errors never quote it.
#[derive(Debug, Clone, Copy)]
pub struct CatalogParser;

impl TypedValueParser for CatalogParser {
    type Value = CatalogSpec;

    fn parse_ref(
        &self,
        _command: &clap::Command,
        _argument: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<CatalogSpec, clap::Error> {
        let text = value
            .to_str()
            .ok_or_else(|| clap::Error::raw(ErrorKind::InvalidUtf8, "--catalog is not UTF-8\n"))?;
        text.parse().map_err(|error| {
            clap::Error::raw(
                ErrorKind::ValueValidation,
                format!("invalid value for --catalog: {error}\n"),
            )
        })
    }
}
