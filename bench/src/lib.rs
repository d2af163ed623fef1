//! Bookstream's end-to-end benchmark: the real `server` and `client` binaries
//! against the floor, with peak memory, in one run so the figures compare.

pub mod cli;
pub mod floor;
pub mod processes;
pub mod report;
pub mod verify;

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context, bail, ensure};
use bookstream_client::sink::Format;

pub use cli::BenchOpts;
use processes::Process;
use report::{BenchReport, SizeFigures};

/// The user whose books every run asks for.
const USER_ID: u64 = 1;

/// Runs the whole benchmark and returns its figures.
pub async fn run(opts: &BenchOpts) -> anyhow::Result<BenchReport> {
    ensure!(
        !opts.sizes.is_empty(),
        "give at least one size with --sizes"
    );
    ensure!(
        opts.sizes.windows(2).all(|pair| pair[0] < pair[1]),
        "--sizes must increase: peak memory only grows"
    );
    let bin_dir = processes::bin_dir(opts.bin_dir.as_deref())?;
    let temp_dir;
    let work_dir = match &opts.work_dir {
        Some(dir) => dir.clone(),
        None => {
            temp_dir = tempfile::tempdir().context("creating a work directory")?;
            temp_dir.path().to_owned()
        }
    };
    let extension = opts.format.name();
    let trigger_output = work_dir.join(format!("trigger.{extension}"));
    let floor_output = work_dir.join(format!("floor.{extension}"));

    let (server, ready) = Process::start(
        &bin_dir,
        "server",
        &["--grpc-addr", "127.0.0.1:0", "--rest-addr", "127.0.0.1:0"],
        "bookstream server ready:",
    )
    .await?;
    let (grpc_addr, _) =
        bookstream_server::ready::parse_line(&ready).context("reading the server's addresses")?;
    let server_url = format!("http://{grpc_addr}");
    let output = trigger_output.to_string_lossy().into_owned();
    let (client, ready) = Process::start(
        &bin_dir,
        "client",
        &[
            "--listen",
            "127.0.0.1:0",
            "--server",
            &server_url,
            "--output",
            &output,
            "--format",
            extension,
        ],
        "bookstream client ready:",
    )
    .await?;
    let base_url = ready
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_owned();
    let http = reqwest::Client::new();

    // Connections, allocator pools and page cache warmed before anything counts.
    trigger(&http, &base_url, 1000).await?;
    floor::run(&floor_output, opts.format, USER_ID, 1000)?;

    let mut sizes = Vec::new();
    for &books in &opts.sizes {
        let mut best_floor = Duration::MAX;
        let mut best_trigger = Duration::MAX;
        for _ in 0..opts.repeat {
            best_floor = best_floor.min(floor::run(&floor_output, opts.format, USER_ID, books)?);
            checked_and_removed(&floor_output, opts.format, books)?;
            best_trigger = best_trigger.min(trigger(&http, &base_url, books).await?);
            checked_and_removed(&trigger_output, opts.format, books)?;
        }
        let figures = SizeFigures::new(
            books,
            best_floor,
            best_trigger,
            server.peak_rss_kib()?,
            client.peak_rss_kib()?,
        );
        tracing::info!(books, ratio = figures.ratio(), "measured");
        sizes.push(figures);
    }
    Ok(BenchReport::new(extension, opts.repeat, sizes))
}

/// Times one `GET /<books>` and checks the client says it wrote them all.
async fn trigger(http: &reqwest::Client, base_url: &str, books: u64) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let response = http
        .get(format!("{base_url}/{books}"))
        .send()
        .await
        .context("calling the trigger")?;
    let status = response.status();
    let body: serde_json::Value = response
        .json()
        .await
        .context("reading the trigger's answer")?;
    let elapsed = started.elapsed();
    if !status.is_success() || body["received"] != books {
        bail!("GET /{books} answered {status}: {body}");
    }
    Ok(elapsed)
}

fn checked_and_removed(path: &Path, format: Format, books: u64) -> anyhow::Result<()> {
    verify::check_file(path, format, USER_ID, books)?;
    std::fs::remove_file(path).with_context(|| format!("removing {}", path.display()))?;
    Ok(())
}

/// Writes the report as JSON.
pub fn write_json(report: &BenchReport, path: &PathBuf) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(report)?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}
