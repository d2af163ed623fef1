//! Bookstream's end-to-end benchmark: the real `server` and `client` binaries
//! against the floor, with peak memory and CPU, in one run so the figures
//! compare; stores beside the generated catalog.

pub mod cli;
pub mod floor;
pub mod follow;
pub mod instructions;
pub mod pair;
pub mod processes;
pub mod report;
pub mod store;
pub mod verify;

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context, ensure};
use bookstream_client::sink::Format;
use bookstream_server::source::CatalogSpec;

pub use cli::BenchOpts;
use pair::{Pair, Run, USER_ID};
use report::{BenchReport, SizeFigures, StoreFigures, StoreKind, SweepFigures};

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
    ensure!(
        !opts.catalog.contains(&CatalogSpec::Generated),
        "the generated catalog is always measured; --catalog names stores"
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
    let bench = Bench {
        format: opts.format,
        bin_dir,
        work_dir,
    };
    let largest = opts.sizes.last().copied().unwrap_or_default();

    let generated = bench
        .pair(&CatalogSpec::Generated, None, "generated")
        .await?;
    // The sweep reads its own book count, which may exceed the largest size.
    let needed = largest.max(if opts.page_sizes.is_empty() {
        0
    } else {
        opts.sweep_books
    });
    let mut stores = Vec::new();
    for (index, spec) in opts.catalog.iter().enumerate() {
        // A server will not start on a missing file: make it first.
        if let CatalogSpec::Sqlite(path) = spec
            && !path.exists()
        {
            store::load(&bench.bin_dir, spec, needed).await?;
        }
        let pair = bench.pair(spec, None, &format!("store-{index}")).await?;
        if !pair.holds(needed).await? {
            store::load(&bench.bin_dir, spec, needed).await?;
        }
        stores.push((spec, pair));
    }

    let baseline = bench.baseline(opts).await?;

    // Connections, allocator pools and page caches warmed before anything counts.
    bench.floor(1000)?;
    for pair in std::iter::once(&generated)
        .chain(&baseline)
        .chain(stores.iter().map(|(_, pair)| pair))
    {
        bench.timed(pair, 1000).await?;
    }

    let mut sizes = Vec::new();
    let mut store_figures = Vec::new();
    for &books in &opts.sizes {
        let mut floor = Duration::MAX;
        let mut reference = Best::default();
        let mut against = Best::default();
        let mut best: Vec<Best> = vec![Best::default(); stores.len()];
        let mut backend_cpu: Vec<Option<f64>> = vec![None; stores.len()];
        let mut exports: Vec<Option<Duration>> = vec![None; stores.len()];
        for _ in 0..opts.repeat {
            floor = floor.min(bench.floor(books)?);
            reference.add(bench.timed(&generated, books).await?);
            if let Some(baseline) = &baseline {
                against.add(bench.timed(baseline, books).await?);
            }
            for (index, (spec, pair)) in stores.iter().enumerate() {
                let backends_before = store::backend_cpu(spec).await;
                best[index].add(bench.timed(pair, books).await?);
                if let (Some(before), Some(after)) =
                    (backends_before, store::backend_cpu(spec).await)
                {
                    let spent = after.spent_since(&before);
                    backend_cpu[index] =
                        Some(backend_cpu[index].map_or(spent, |least| least.min(spent)));
                }
                if let Some(export) = store::export_time(spec, books).await {
                    exports[index] = Some(exports[index].map_or(export, |best| best.min(export)));
                }
            }
        }
        let figures = SizeFigures::new(
            books,
            floor,
            reference.elapsed,
            (
                generated.server.peak_rss_kib()?,
                generated.client.peak_rss_kib()?,
            ),
            (reference.server_cpu, reference.client_cpu),
        )
        .with_baseline(baseline.as_ref().map(|_| against.elapsed));
        tracing::info!(books, ratio = figures.ratio(), "measured");
        sizes.push(figures);
        for (index, (spec, pair)) in stores.iter().enumerate() {
            store_figures.push(StoreFigures {
                catalog: spec.to_string(),
                kind: kind(spec),
                books,
                trigger_seconds: best[index].elapsed.as_secs_f64(),
                generated_seconds: reference.elapsed.as_secs_f64(),
                export_seconds: exports[index].map(|export| export.as_secs_f64()),
                server_cpu_seconds: best[index].server_cpu,
                backend_cpu_seconds: backend_cpu[index],
                server_peak_kib: pair.server.peak_rss_kib()?,
                backend_peak_kib: store::backend_peak_kib(spec).await,
            });
        }
    }
    drop(stores);

    let mut sweep = Vec::new();
    for spec in &opts.catalog {
        for &page_size in &opts.page_sizes {
            let pair = bench.pair(spec, Some(page_size), "sweep").await?;
            bench.timed(&pair, 1000).await?;
            let mut best = Best::default();
            for _ in 0..opts.repeat {
                best.add(bench.timed(&pair, opts.sweep_books).await?);
            }
            sweep.push(SweepFigures {
                catalog: spec.to_string(),
                page_size,
                books: opts.sweep_books,
                trigger_seconds: best.elapsed.as_secs_f64(),
                server_peak_kib: pair.server.peak_rss_kib()?,
                backend_peak_kib: store::backend_peak_kib(spec).await,
            });
        }
    }
    let mut counted = Vec::new();
    if opts.instructions_books > 0 {
        let dir = bench.work_dir.join("callgrind");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for spec in std::iter::once(&CatalogSpec::Generated).chain(&opts.catalog) {
            let pair = Pair::start_under(
                &instructions::callgrind(&dir),
                &bench.bin_dir,
                spec,
                None,
                &[],
                &bench.output("callgrind"),
                bench.format,
            )
            .await
            .with_context(|| format!("starting a pair on {spec} under callgrind"))?;
            counted.push(instructions::count(&pair, &dir, spec, opts.instructions_books).await?);
            checked_and_removed(pair.output(), bench.format, opts.instructions_books)?;
        }
    }
    Ok(
        BenchReport::new(opts.format.name(), opts.repeat, sizes, store_figures, sweep)
            .with_instructions(counted)
            .with_baseline_limit(opts.baseline_max_ratio),
    )
}

/// Where the bench's binaries and files are.
struct Bench {
    format: Format,
    bin_dir: PathBuf,
    work_dir: PathBuf,
}

impl Bench {
    fn output(&self, name: &str) -> PathBuf {
        self.work_dir.join(format!("{name}.{}", self.format.name()))
    }

    /// A pair of the bench's own binaries, as they are configured.
    async fn pair(
        &self,
        spec: &CatalogSpec,
        page_size: Option<u64>,
        name: &str,
    ) -> anyhow::Result<Pair> {
        self.pair_of(&self.bin_dir, &[], spec, page_size, name)
            .await
    }

    /// A pair of the binaries in `bin_dir`, with `env` for both.
    async fn pair_of(
        &self,
        bin_dir: &Path,
        env: &[(String, String)],
        spec: &CatalogSpec,
        page_size: Option<u64>,
        name: &str,
    ) -> anyhow::Result<Pair> {
        Pair::start(
            bin_dir,
            spec,
            page_size,
            env,
            &self.output(name),
            self.format,
        )
        .await
    }

    /// The baseline pair on the generated catalog, if one is asked for.
    async fn baseline(&self, opts: &BenchOpts) -> anyhow::Result<Option<Pair>> {
        if opts.baseline_bin_dir.is_none() && opts.baseline_env.is_empty() {
            return Ok(None);
        }
        let bin_dir = opts.baseline_bin_dir.as_deref().unwrap_or(&self.bin_dir);
        let pair = self
            .pair_of(
                bin_dir,
                &opts.baseline_env,
                &CatalogSpec::Generated,
                None,
                "baseline",
            )
            .await?;
        Ok(Some(pair))
    }

    /// One floor run, its file checked and removed.
    fn floor(&self, books: u64) -> anyhow::Result<Duration> {
        let output = self.output("floor");
        let elapsed = floor::run(&output, self.format, USER_ID, books)?;
        checked_and_removed(&output, self.format, books)?;
        Ok(elapsed)
    }

    /// One trigger run, its file checked and removed.
    async fn timed(&self, pair: &Pair, books: u64) -> anyhow::Result<Run> {
        let run = pair.trigger(books).await?;
        checked_and_removed(pair.output(), self.format, books)?;
        Ok(run)
    }
}

/// The fastest run, and the least CPU each process spent on one: noise only adds.
#[derive(Debug, Clone, Copy)]
struct Best {
    elapsed: Duration,
    server_cpu: f64,
    client_cpu: f64,
}

impl Default for Best {
    fn default() -> Self {
        Self {
            elapsed: Duration::MAX,
            server_cpu: f64::MAX,
            client_cpu: f64::MAX,
        }
    }
}

impl Best {
    fn add(&mut self, run: Run) {
        self.elapsed = self.elapsed.min(run.elapsed);
        self.server_cpu = self.server_cpu.min(run.server_cpu_seconds);
        self.client_cpu = self.client_cpu.min(run.client_cpu_seconds);
    }
}

fn kind(spec: &CatalogSpec) -> StoreKind {
    match spec {
        CatalogSpec::Postgres(_) => StoreKind::Postgres,
        _ => StoreKind::Sqlite,
    }
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
