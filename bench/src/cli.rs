//! The benchmark's command line; every flag also reads an environment variable.

use std::path::PathBuf;

use bookstream_client::sink::Format;
use bookstream_server::{config::CatalogParser, source::CatalogSpec};
use clap::Parser;

/// Times `GET /<n>` on the real client and server binaries against the floor
/// (the same books generated and written in one process, no network), and
/// reads both processes' peak memory. Run it from a release build.
#[derive(Debug, Clone, Parser)]
#[command(name = "trigger-bench", version)]
pub struct BenchOpts {
    /// Book counts to trigger, in increasing order (peak memory only grows).
    #[arg(
        long,
        env = "BOOKSTREAM_BENCH_SIZES",
        value_delimiter = ',',
        default_value = "10000,1000000,10000000"
    )]
    pub sizes: Vec<u64>,

    /// Output format of the client and the floor.
    #[arg(long, env = "BOOKSTREAM_BENCH_FORMAT", value_enum, default_value_t = Format::Txt)]
    pub format: Format,

    /// Runs per size and side; the fastest counts, since noise only adds time.
    #[arg(long, env = "BOOKSTREAM_BENCH_REPEAT", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: u32,

    /// Directory holding the `server` and `client` binaries (default: beside this one).
    #[arg(long, env = "BOOKSTREAM_BENCH_BIN_DIR")]
    pub bin_dir: Option<PathBuf>,

    /// Directory for the output files (default: a temporary directory, removed after).
    #[arg(long, env = "BOOKSTREAM_BENCH_WORK_DIR")]
    pub work_dir: Option<PathBuf>,

    /// Stores to stream from as well, beside the generated catalog:
    /// `sqlite:PATH` or `postgres://…`, comma-separated. A store holding
    /// fewer books for user 1 than the largest size is loaded first
    /// (`server load --users 1`). PostgreSQL's own export of the same rows
    /// (`psql \copy`) is timed too, where `psql` is on the PATH.
    #[arg(long, env = "BOOKSTREAM_BENCH_CATALOG", value_delimiter = ',',
          value_parser = CatalogParser, hide_env_values = true)]
    pub catalog: Vec<CatalogSpec>,

    /// Rows per database read to sweep on each store (e.g. 100,1000,10000),
    /// at --sweep-books books; none by default.
    #[arg(long, env = "BOOKSTREAM_BENCH_PAGE_SIZES", value_delimiter = ',')]
    pub page_sizes: Vec<u64>,

    /// Books per run of the page-size sweep.
    #[arg(
        long,
        env = "BOOKSTREAM_BENCH_SWEEP_BOOKS",
        default_value_t = 1_000_000
    )]
    pub sweep_books: u64,

    /// Also time a baseline pair on the generated catalog, interleaved with
    /// the main one: the binaries in this directory (another build) ...
    #[arg(long, env = "BOOKSTREAM_BENCH_BASELINE_BIN_DIR")]
    pub baseline_bin_dir: Option<PathBuf>,

    /// ... and/or these environment variables for both its binaries, e.g.
    /// `BOOKSTREAM_METRICS=false` to weigh what metrics cost.
    #[arg(long, env = "BOOKSTREAM_BENCH_BASELINE_ENV", value_delimiter = ',',
          value_parser = parse_env_pair)]
    pub baseline_env: Vec<(String, String)>,

    /// The most the main pair may take over the baseline at a million books.
    #[arg(
        long,
        env = "BOOKSTREAM_BENCH_BASELINE_MAX_RATIO",
        default_value_t = 1.03
    )]
    pub baseline_max_ratio: f64,

    /// Also count the instructions each side executes per book, at this
    /// many books on every catalog, under valgrind's callgrind: a figure that
    /// compares across machines. Slow (each process runs about fifty times
    /// slower); 0 skips it.
    #[arg(long, env = "BOOKSTREAM_BENCH_INSTRUCTIONS_BOOKS", default_value_t = 0)]
    pub instructions_books: u64,

    #[command(flatten)]
    pub log: bookstream::telemetry::LogArgs,

    /// Also write every figure as JSON to this file.
    #[arg(long, env = "BOOKSTREAM_BENCH_JSON")]
    pub json: Option<PathBuf>,
}

/// `NAME=VALUE`.
fn parse_env_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("'{text}' is not NAME=VALUE")),
    }
}
