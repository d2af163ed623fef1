//! The benchmark's figures, the tables people read and the targets they are held to.

pub mod targets;

use std::{fmt::Write, time::Duration};

use bookstream::display::thousands;
use serde::Serialize;

pub use targets::Verdict;

/// The figures of one book count on the generated catalog.
#[derive(Debug, Clone, Serialize)]
pub struct SizeFigures {
    pub books: u64,
    /// Fastest floor run: generate and write in one process.
    pub floor_seconds: f64,
    /// Fastest `GET /<books>` as the caller saw it.
    pub trigger_seconds: f64,
    /// Peak resident memory of each process after this size's runs.
    pub server_peak_kib: u64,
    pub client_peak_kib: u64,
    /// Least CPU time each process spent on one run of this size.
    pub server_cpu_seconds: f64,
    pub client_cpu_seconds: f64,
    /// The baseline pair's fastest run of the same size, when there is one.
    pub baseline_seconds: Option<f64>,
}

impl SizeFigures {
    pub fn ratio(&self) -> f64 {
        self.trigger_seconds / self.floor_seconds
    }

    /// The trigger's time over the baseline's, when there is one.
    pub fn over_baseline(&self) -> Option<f64> {
        self.baseline_seconds
            .map(|baseline| self.trigger_seconds / baseline)
    }

    pub fn with_baseline(mut self, baseline: Option<Duration>) -> Self {
        self.baseline_seconds = baseline.map(|baseline| baseline.as_secs_f64());
        self
    }

    pub fn trigger_books_per_second(&self) -> f64 {
        self.books as f64 / self.trigger_seconds
    }

    /// CPU seconds per million books: (server, client).
    pub fn cpu_per_million(&self) -> (f64, f64) {
        let millions = self.books as f64 / 1e6;
        (
            self.server_cpu_seconds / millions,
            self.client_cpu_seconds / millions,
        )
    }
}

/// One store at one book count, beside the generated catalog in the same run.
#[derive(Debug, Clone, Serialize)]
pub struct StoreFigures {
    /// The store's password-free name.
    pub catalog: String,
    pub kind: StoreKind,
    pub books: u64,
    pub trigger_seconds: f64,
    /// The generated catalog's fastest run of the same size.
    pub generated_seconds: f64,
    /// PostgreSQL's own export of the same rows, where it applies.
    pub export_seconds: Option<f64>,
    /// Least CPU the server spent on one run of this size.
    pub server_cpu_seconds: f64,
    /// Least CPU the server's PostgreSQL backends spent on one run, all together.
    pub backend_cpu_seconds: Option<f64>,
    pub server_peak_kib: u64,
    pub backend_peak_kib: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    Sqlite,
    Postgres,
}

impl StoreFigures {
    pub fn books_per_second(&self) -> f64 {
        self.books as f64 / self.trigger_seconds
    }

    /// Books/s as a share of the generated catalog's.
    pub fn of_generated(&self) -> f64 {
        self.generated_seconds / self.trigger_seconds
    }

    /// CPU seconds per million books: the server, and the database's backends.
    pub fn cpu_per_million(&self) -> (f64, Option<f64>) {
        let millions = self.books as f64 / 1e6;
        (
            self.server_cpu_seconds / millions,
            self.backend_cpu_seconds.map(|spent| spent / millions),
        )
    }

    /// Books/s as a share of the database's own export rate.
    pub fn of_export(&self) -> Option<f64> {
        self.export_seconds
            .map(|export| export / self.trigger_seconds)
    }
}

/// One run of the page-size sweep.
#[derive(Debug, Clone, Serialize)]
pub struct SweepFigures {
    pub catalog: String,
    pub page_size: u64,
    pub books: u64,
    pub trigger_seconds: f64,
    pub server_peak_kib: u64,
    pub backend_peak_kib: Option<u64>,
}

/// Everything one benchmark run measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub format: String,
    pub repeat: u32,
    pub sizes: Vec<SizeFigures>,
    pub stores: Vec<StoreFigures>,
    pub sweep: Vec<SweepFigures>,
    /// Instructions per book, where they were counted.
    pub instructions: Vec<crate::instructions::InstructionFigures>,
    pub verdicts: Vec<Verdict>,
}

impl BenchReport {
    pub fn new(
        format: &str,
        repeat: u32,
        sizes: Vec<SizeFigures>,
        stores: Vec<StoreFigures>,
        sweep: Vec<SweepFigures>,
    ) -> Self {
        let mut verdicts = targets::judge_generated(&sizes);
        verdicts.extend(targets::judge_stores(&stores));
        Self {
            format: format.to_owned(),
            repeat,
            sizes,
            stores,
            sweep,
            instructions: Vec::new(),
            verdicts,
        }
    }

    /// Adds the instruction counts to the report.
    pub fn with_instructions(
        mut self,
        instructions: Vec<crate::instructions::InstructionFigures>,
    ) -> Self {
        self.instructions = instructions;
        self
    }

    /// Judges the trigger against the baseline too: at most `limit` times its time.
    pub fn with_baseline_limit(mut self, limit: f64) -> Self {
        self.verdicts
            .extend(targets::judge_baseline(&self.sizes, limit));
        self
    }

    pub fn all_met(&self) -> bool {
        self.verdicts.iter().all(|verdict| verdict.met)
    }

    /// The tables, as printed to the terminal and pasted into the docs.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "| books | floor s | trigger s | trigger / floor | trigger books/s | server peak MB | client peak MB | server CPU-s/M | client CPU-s/M |"
        );
        let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for size in &self.sizes {
            let (server_cpu, client_cpu) = size.cpu_per_million();
            let _ = writeln!(
                out,
                "| {} | {:.3} | {:.3} | {:.2} | {} | {:.1} | {:.1} | {server_cpu:.2} | {client_cpu:.2} |",
                thousands(size.books),
                size.floor_seconds,
                size.trigger_seconds,
                size.ratio(),
                thousands(size.trigger_books_per_second() as u64),
                megabytes(size.server_peak_kib),
                megabytes(size.client_peak_kib),
            );
        }
        if self
            .sizes
            .iter()
            .any(|size| size.baseline_seconds.is_some())
        {
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "| books | trigger s | baseline s | trigger / baseline |"
            );
            let _ = writeln!(out, "|---:|---:|---:|---:|");
            for size in &self.sizes {
                if let (Some(baseline), Some(ratio)) = (size.baseline_seconds, size.over_baseline())
                {
                    let _ = writeln!(
                        out,
                        "| {} | {:.3} | {baseline:.3} | {ratio:.3} |",
                        thousands(size.books),
                        size.trigger_seconds
                    );
                }
            }
        }
        if !self.stores.is_empty() {
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "| catalog | books | trigger s | books/s | of generated | database export s | of export | server CPU-s/M | backend CPU-s/M | server peak MB | backend peak MB |"
            );
            let _ = writeln!(
                out,
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
            );
            for store in &self.stores {
                let (server_cpu, backend_cpu) = store.cpu_per_million();
                let _ = writeln!(
                    out,
                    "| {} | {} | {:.3} | {} | {:.2} | {} | {} | {server_cpu:.2} | {} | {:.1} | {} |",
                    store.catalog,
                    thousands(store.books),
                    store.trigger_seconds,
                    thousands(store.books_per_second() as u64),
                    store.of_generated(),
                    optional(store.export_seconds, |seconds| format!("{seconds:.3}")),
                    optional(store.of_export(), |share| format!("{share:.2}")),
                    optional(backend_cpu, |spent| format!("{spent:.2}")),
                    megabytes(store.server_peak_kib),
                    optional(store.backend_peak_kib, |kib| format!(
                        "{:.1}",
                        megabytes(kib)
                    )),
                );
            }
        }
        if !self.sweep.is_empty() {
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "| catalog | page size | books | trigger s | books/s | server peak MB | backend peak MB |"
            );
            let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
            for run in &self.sweep {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {:.3} | {} | {:.1} | {} |",
                    run.catalog,
                    thousands(run.page_size),
                    thousands(run.books),
                    run.trigger_seconds,
                    thousands((run.books as f64 / run.trigger_seconds) as u64),
                    megabytes(run.server_peak_kib),
                    optional(run.backend_peak_kib, |kib| format!("{:.1}", megabytes(kib))),
                );
            }
        }
        if !self.instructions.is_empty() {
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "| catalog | books | server instructions/book | client instructions/book |"
            );
            let _ = writeln!(out, "|---|---:|---:|---:|");
            for counted in &self.instructions {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} |",
                    counted.catalog,
                    thousands(counted.books),
                    thousands(counted.server_per_book.round() as u64),
                    thousands(counted.client_per_book.round() as u64),
                );
            }
        }
        let _ = writeln!(out);
        for verdict in &self.verdicts {
            let mark = if verdict.met { "met" } else { "MISSED" };
            let _ = writeln!(
                out,
                "- {mark}: {} (measured {})",
                verdict.target, verdict.measured
            );
        }
        out
    }
}

impl SizeFigures {
    pub fn new(
        books: u64,
        floor: Duration,
        trigger: Duration,
        peaks_kib: (u64, u64),
        cpu_seconds: (f64, f64),
    ) -> Self {
        Self {
            books,
            floor_seconds: floor.as_secs_f64(),
            trigger_seconds: trigger.as_secs_f64(),
            server_peak_kib: peaks_kib.0,
            client_peak_kib: peaks_kib.1,
            server_cpu_seconds: cpu_seconds.0,
            client_cpu_seconds: cpu_seconds.1,
            baseline_seconds: None,
        }
    }
}

fn optional<T>(value: Option<T>, show: impl FnOnce(T) -> String) -> String {
    value.map_or_else(|| "–".to_owned(), show)
}

pub(crate) fn megabytes(kib: u64) -> f64 {
    kib as f64 * 1024.0 / 1_000_000.0
}
