//! The benchmark's figures, the table people read and the targets they are held to.

use std::{fmt::Write, time::Duration};

use bookstream::display::thousands;
use serde::Serialize;

/// The trigger may take at most this multiple of the floor's time at 1,000,000 books.
pub const MAX_TRIGGER_OVER_FLOOR: f64 = 1.5;
/// Peak memory at the largest size may exceed that at the smallest by at most this factor.
pub const MAX_PEAK_GROWTH: f64 = 1.10;
/// And stays below this many KiB (16 MB).
pub const MAX_PEAK_KIB: u64 = 16 * 1000 * 1000 / 1024;
/// The size the speed target is judged at.
pub const SPEED_TARGET_BOOKS: u64 = 1_000_000;

/// The figures of one book count.
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
}

impl SizeFigures {
    pub fn new(
        books: u64,
        floor: Duration,
        trigger: Duration,
        server_peak_kib: u64,
        client_peak_kib: u64,
    ) -> Self {
        Self {
            books,
            floor_seconds: floor.as_secs_f64(),
            trigger_seconds: trigger.as_secs_f64(),
            server_peak_kib,
            client_peak_kib,
        }
    }

    pub fn ratio(&self) -> f64 {
        self.trigger_seconds / self.floor_seconds
    }

    pub fn trigger_books_per_second(&self) -> f64 {
        self.books as f64 / self.trigger_seconds
    }
}

/// One target, judged.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub target: String,
    pub measured: String,
    pub met: bool,
}

/// Everything one benchmark run measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub format: String,
    pub repeat: u32,
    pub sizes: Vec<SizeFigures>,
    pub verdicts: Vec<Verdict>,
}

impl BenchReport {
    pub fn new(format: &str, repeat: u32, sizes: Vec<SizeFigures>) -> Self {
        let verdicts = judge(&sizes);
        Self {
            format: format.to_owned(),
            repeat,
            sizes,
            verdicts,
        }
    }

    pub fn all_met(&self) -> bool {
        self.verdicts.iter().all(|verdict| verdict.met)
    }

    /// The table, as printed to the terminal and pasted into the README.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "| books | floor s | trigger s | trigger / floor | trigger books/s | server peak MB | client peak MB |"
        );
        let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|");
        for size in &self.sizes {
            let _ = writeln!(
                out,
                "| {} | {:.3} | {:.3} | {:.2} | {} | {:.1} | {:.1} |",
                thousands(size.books),
                size.floor_seconds,
                size.trigger_seconds,
                size.ratio(),
                thousands(size.trigger_books_per_second() as u64),
                megabytes(size.server_peak_kib),
                megabytes(size.client_peak_kib),
            );
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

fn judge(sizes: &[SizeFigures]) -> Vec<Verdict> {
    let mut verdicts = Vec::new();
    if let Some(size) = sizes.iter().find(|size| size.books == SPEED_TARGET_BOOKS) {
        verdicts.push(Verdict {
            target: format!(
                "GET /{} within {MAX_TRIGGER_OVER_FLOOR}x of the floor",
                size.books
            ),
            measured: format!("{:.2}x", size.ratio()),
            met: size.ratio() <= MAX_TRIGGER_OVER_FLOOR,
        });
    }
    if let (Some(smallest), Some(largest)) = (sizes.first(), sizes.last())
        && largest.books > smallest.books
    {
        for (name, small, large) in [
            ("server", smallest.server_peak_kib, largest.server_peak_kib),
            ("client", smallest.client_peak_kib, largest.client_peak_kib),
        ] {
            let growth = large as f64 / small.max(1) as f64;
            verdicts.push(Verdict {
                    target: format!(
                        "{name} peak memory at {} books within {:.0}% of its peak at {} and under 16 MB",
                        thousands(largest.books),
                        (MAX_PEAK_GROWTH - 1.0) * 100.0,
                        thousands(smallest.books)
                    ),
                    measured: format!("{:.1} MB -> {:.1} MB, {growth:.2}x", megabytes(small), megabytes(large)),
                    met: growth <= MAX_PEAK_GROWTH && large < MAX_PEAK_KIB,
                });
        }
    }
    verdicts
}

fn megabytes(kib: u64) -> f64 {
    kib as f64 * 1024.0 / 1_000_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(books: u64, floor: f64, trigger: f64, server: u64, client: u64) -> SizeFigures {
        SizeFigures::new(
            books,
            Duration::from_secs_f64(floor),
            Duration::from_secs_f64(trigger),
            server,
            client,
        )
    }

    #[test]
    fn targets_are_met_when_fast_and_flat() {
        let report = BenchReport::new(
            "txt",
            3,
            vec![
                size(10_000, 0.01, 0.02, 8000, 8000),
                size(1_000_000, 1.0, 1.4, 8100, 8200),
                size(10_000_000, 10.0, 14.0, 8500, 8700),
            ],
        );
        assert_eq!(report.verdicts.len(), 3);
        assert!(report.all_met(), "{}", report.render());
    }

    #[test]
    fn a_slow_trigger_or_growing_memory_misses_its_target() {
        let report = BenchReport::new(
            "txt",
            1,
            vec![
                size(10_000, 0.01, 0.02, 8000, 8000),
                size(1_000_000, 1.0, 1.6, 8000, 8000),
                size(10_000_000, 10.0, 14.0, 9000, 8000),
            ],
        );
        let missed: Vec<_> = report
            .verdicts
            .iter()
            .filter(|verdict| !verdict.met)
            .map(|verdict| &verdict.target)
            .collect();
        assert_eq!(missed.len(), 2, "{missed:?}");
        assert!(report.render().contains("MISSED"));
    }

    #[test]
    fn the_table_has_a_row_per_size_with_the_ratio() {
        let report = BenchReport::new("txt", 1, vec![size(1_000_000, 1.0, 1.25, 8000, 9000)]);
        let table = report.render();
        assert!(
            table.contains("| 1,000,000 | 1.000 | 1.250 | 1.25 | 800,000 | 8.2 | 9.2 |"),
            "{table}"
        );
    }
}
