//! `follow-bench`: the lag from an append's commit to the book in followers'
//! files, with 1 and with many followers; and many idle followers' memory
//! and wake-up time. See docs/follow.md for the figures.

use std::{path::PathBuf, time::Duration};

use anyhow::Context;
use bookstream_bench::{
    follow::{
        Lags, Watcher, active_streams, await_streams, idle_followers, lags, produce, slow_follower,
        start_client, start_server,
    },
    processes::{self, rss_kib},
    store,
};
use bookstream_server::{config::CatalogParser, source::CatalogSpec};
use clap::Parser;

/// What a follow costs: lag at a steady append rate, and idle followers.
#[derive(Debug, Parser)]
#[command(name = "follow-bench")]
struct Opts {
    /// Stores to measure on: `sqlite:PATH` (created) or a PostgreSQL URL.
    #[arg(long, value_delimiter = ',', value_parser = CatalogParser, required = true)]
    catalog: Vec<CatalogSpec>,
    /// Followers (client runs) per lag scenario.
    #[arg(long, value_delimiter = ',', default_value = "1,100")]
    followers: Vec<usize>,
    /// Books appended per second.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Books per appended batch.
    #[arg(long, default_value_t = 10)]
    batch: u64,
    /// How long the producer appends, per scenario.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Idle followers (straight over gRPC) in the memory scenario; 0 skips it.
    #[arg(long, default_value_t = 1000)]
    idle: usize,
    /// Books a producer appends as fast as it can while one follower reads
    /// them at `--slow-rate`: both in flat memory; 0 skips it.
    #[arg(long, default_value_t = 1_000_000)]
    slow_books: u64,
    /// Books/s the slow follower reads.
    #[arg(long, default_value_t = 100_000)]
    slow_rate: u64,
    /// Where the release binaries are [default: beside this one].
    #[arg(long)]
    bin_dir: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let opts = Opts::parse();
    let bin_dir = processes::bin_dir(opts.bin_dir.as_deref())?;
    let http = reqwest::Client::new();
    println!("| store | followers | batches | lag p50 | lag p99 | lag max | target p99 ≤ 50 ms |");
    println!("|---|---:|---:|---:|---:|---:|---|");
    let mut idle_rows = Vec::new();
    let mut slow_rows = Vec::new();
    for catalog in &opts.catalog {
        store::load(&bin_dir, catalog, 10).await?;
        let max_streams = (opts.idle + opts.followers.iter().max().unwrap_or(&1) + 16) as u64;
        let (server, grpc_url, rest_url) = start_server(&bin_dir, catalog, max_streams).await?;
        let dir = tempfile::tempdir()?;
        let most = *opts.followers.iter().max().unwrap_or(&1);
        let (_client, client_url) = start_client(&bin_dir, &grpc_url, dir.path(), most + 8).await?;
        for (round, &followers) in opts.followers.iter().enumerate() {
            let mut files = Vec::new();
            let mut runs = Vec::new();
            for _ in 0..followers {
                let answer: serde_json::Value = http
                    .get(format!("{client_url}/follow?user_id=1&from=latest"))
                    .send()
                    .await?
                    .json()
                    .await?;
                files.push(PathBuf::from(
                    answer["file"].as_str().context("a follow's file")?,
                ));
                runs.push(answer["run_id"].as_u64().context("a follow's run id")?);
            }
            await_streams(&http, &rest_url, followers as u64).await?;
            let batches = opts.rate * opts.duration.as_secs().max(1) / opts.batch;
            let every = Duration::from_secs_f64(opts.batch as f64 / opts.rate as f64);
            let watcher = Watcher::start(files, opts.batch);
            let producer = format!("follow-bench-{round}-{}", std::process::id());
            let acked = produce(&grpc_url, &producer, batches, opts.batch, every).await?;
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while (watcher.seen_everywhere() as u64) < batches
                && std::time::Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let lags = lags(&acked, &watcher.finish())?;
            print_lags(catalog, followers, batches, &lags);
            for run in runs {
                http.post(format!("{client_url}/runs/{run}/cancel"))
                    .send()
                    .await?;
            }
            await_streams_below(&http, &rest_url, 1).await?;
        }
        if opts.idle > 0 {
            let before = rss_kib(server.pid()?)?;
            let mut idle = idle_followers(&grpc_url, opts.idle, 10).await?;
            await_streams(&http, &rest_url, opts.idle as u64).await?;
            let rss = rss_kib(server.pid()?)?;
            let appends = 20;
            let producer = format!("follow-bench-idle-{}", std::process::id());
            let acked =
                produce(&grpc_url, &producer, appends, 1, Duration::from_millis(100)).await?;
            let mut delays = Vec::new();
            for receiver in &mut idle.arrivals {
                for sequence in 1..=appends {
                    let at = receiver
                        .recv()
                        .await
                        .context("a follower got every append")?;
                    delays.push(
                        at.saturating_duration_since(acked[&sequence]).as_secs_f64() * 1000.0,
                    );
                }
            }
            idle_rows.push((catalog.to_string(), before, rss, Lags::new(delays)));
            drop(idle);
            await_streams_below(&http, &rest_url, 1).await?;
        }
        if opts.slow_books > 0 {
            let pid = server.pid()?;
            let before = rss_kib(pid)?;
            let follower = slow_follower(&grpc_url, opts.slow_books, opts.slow_rate).await?;
            await_streams(&http, &rest_url, 1).await?;
            let started = std::time::Instant::now();
            let producer = format!("follow-bench-slow-{}", std::process::id());
            let size = 1_000;
            produce(
                &grpc_url,
                &producer,
                opts.slow_books / size,
                size,
                Duration::from_millis(1),
            )
            .await?;
            let produced = started.elapsed();
            let mut peak = rss_kib(pid)?;
            let done = loop {
                if follower.is_finished() {
                    break follower.await??;
                }
                peak = peak.max(rss_kib(pid)?);
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            slow_rows.push((
                catalog.to_string(),
                produced,
                done.duration_since(started),
                before,
                peak,
                processes::peak_rss_kib(std::process::id())?,
            ));
        }
        drop(server);
    }
    if !idle_rows.is_empty() {
        println!();
        println!(
            "| store | idle followers | server RSS before | with them | target ≤ 64 MB | wake-up p50 | p99 | target p99 ≤ 200 ms |"
        );
        println!("|---|---:|---:|---:|---|---:|---:|---|");
        for (catalog, before, rss, delays) in idle_rows {
            println!(
                "| {catalog} | {} | {:.1} MB | {:.1} MB | {} | {:.1} ms | {:.1} ms | {} |",
                opts.idle,
                before as f64 / 1024.0,
                rss as f64 / 1024.0,
                met(rss as f64 / 1024.0 <= 64.0),
                delays.quantile(0.5),
                delays.quantile(0.99),
                met(delays.quantile(0.99) <= 200.0),
            );
        }
    }
    if !slow_rows.is_empty() {
        println!();
        println!(
            "| store | books | producer done | slow follower done | server RSS before | server RSS peak while behind | this bench (the follower) peak |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|");
        for (catalog, produced, followed, before, peak, bench) in slow_rows {
            println!(
                "| {catalog} | {} | {:.1} s | {:.1} s | {:.1} MB | {:.1} MB | {:.1} MB |",
                opts.slow_books,
                produced.as_secs_f64(),
                followed.as_secs_f64(),
                before as f64 / 1024.0,
                peak as f64 / 1024.0,
                bench as f64 / 1024.0,
            );
        }
    }
    Ok(())
}

fn print_lags(catalog: &CatalogSpec, followers: usize, batches: u64, lags: &Lags) {
    println!(
        "| {catalog} | {followers} | {batches} | {:.1} ms | {:.1} ms | {:.1} ms | {} |",
        lags.quantile(0.5),
        lags.quantile(0.99),
        lags.quantile(1.0),
        met(lags.quantile(0.99) <= 50.0),
    );
}

fn met(yes: bool) -> &'static str {
    if yes { "met" } else { "missed" }
}

async fn await_streams_below(
    http: &reqwest::Client,
    rest_url: &str,
    count: u64,
) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while active_streams(http, rest_url).await? >= count {
        if std::time::Instant::now() > deadline {
            anyhow::bail!("the stopped follows never ended");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}
