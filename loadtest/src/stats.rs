//! What a scenario's requests added up to: HDR histograms for the timings and
//! counters for everything else, failures counted by kind.
//!
//! Each worker fills its own [`Stats`] without locks; the load model merges
//! them when the run ends.

use std::{collections::BTreeMap, time::Duration};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::outcome::{FailureKind, Outcome};

/// Three significant digits: 0.1% resolution at any scale, as wrk2 and oha keep.
const SIGNIFICANT_DIGITS: u8 = 3;

/// Counters and histograms of one scenario (or of one worker, before merging).
#[derive(Clone)]
pub struct Stats {
    /// Whole-request latency in microseconds (from the intended start in the open model).
    latency_us: Histogram<u64>,
    /// Streams only: request sent to first complete book, microseconds.
    first_book_us: Histogram<u64>,
    /// Streams only: books per second between a stream's first and last book.
    stream_books_per_s: Histogram<u64>,
    ok: u64,
    books: u64,
    bytes: u64,
    failures: BTreeMap<FailureKind, u64>,
    /// The first failure of each kind, worded, so a report says what went wrong.
    first_errors: BTreeMap<FailureKind, String>,
    /// Open model: requests that started later than their intended time.
    late: u64,
}

impl std::fmt::Debug for Stats {
    // The histograms' bucket arrays would drown everything else.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stats")
            .field("ok", &self.ok)
            .field("books", &self.books)
            .field("bytes", &self.bytes)
            .field("failures", &self.failures)
            .field("late", &self.late)
            .field("latency_ms", &self.latency_ms())
            .finish_non_exhaustive()
    }
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

impl Stats {
    pub fn new() -> Self {
        Self {
            latency_us: histogram(),
            first_book_us: histogram(),
            stream_books_per_s: histogram(),
            ok: 0,
            books: 0,
            bytes: 0,
            failures: BTreeMap::new(),
            first_errors: BTreeMap::new(),
            late: 0,
        }
    }

    /// Counts one request that took `latency` and ended with `outcome`.
    /// Failed requests are counted but not timed: a fast refusal must not
    /// flatter the latency figures.
    pub fn record(&mut self, latency: Duration, outcome: Outcome) {
        match outcome {
            Ok(measurement) => {
                self.ok += 1;
                self.books += measurement.books;
                self.bytes += measurement.bytes;
                record(&mut self.latency_us, micros(latency));
                if let Some(first_book) = measurement.first_book {
                    record(&mut self.first_book_us, micros(first_book));
                }
                if let Some(streaming) = measurement.streaming {
                    // A stream with one book (or within one timer tick) has no measurable rate.
                    if measurement.books > 1 && !streaming.is_zero() {
                        let rate = (measurement.books - 1) as f64 / streaming.as_secs_f64();
                        record(&mut self.stream_books_per_s, rate as u64);
                    }
                }
            }
            Err(failure) => {
                *self.failures.entry(failure.kind).or_default() += 1;
                self.first_errors
                    .entry(failure.kind)
                    .or_insert(failure.detail);
            }
        }
    }

    /// Counts one request that could not be sent at its intended time.
    pub fn record_late(&mut self) {
        self.late += 1;
    }

    /// Adds another worker's figures to these.
    pub fn merge(&mut self, other: &Stats) {
        // Both sides auto-resize, so adding cannot run out of range.
        let _ = self.latency_us.add(&other.latency_us);
        let _ = self.first_book_us.add(&other.first_book_us);
        let _ = self.stream_books_per_s.add(&other.stream_books_per_s);
        self.ok += other.ok;
        self.books += other.books;
        self.bytes += other.bytes;
        self.late += other.late;
        for (kind, count) in &other.failures {
            *self.failures.entry(*kind).or_default() += count;
        }
        for (kind, detail) in &other.first_errors {
            self.first_errors
                .entry(*kind)
                .or_insert_with(|| detail.clone());
        }
    }

    pub fn ok(&self) -> u64 {
        self.ok
    }

    pub fn failed(&self) -> u64 {
        self.failures.values().sum()
    }

    pub fn books(&self) -> u64 {
        self.books
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn late(&self) -> u64 {
        self.late
    }

    pub fn failures(&self) -> &BTreeMap<FailureKind, u64> {
        &self.failures
    }

    pub fn first_errors(&self) -> &BTreeMap<FailureKind, String> {
        &self.first_errors
    }

    /// Latency percentiles in milliseconds, if any request succeeded.
    pub fn latency_ms(&self) -> Option<Percentiles> {
        Percentiles::of(&self.latency_us, 1e-3)
    }

    /// Time-to-first-book percentiles in milliseconds, for streams.
    pub fn first_book_ms(&self) -> Option<Percentiles> {
        Percentiles::of(&self.first_book_us, 1e-3)
    }

    /// Books/s within a stream, per stream, for streams.
    pub fn stream_books_per_s(&self) -> Option<Percentiles> {
        Percentiles::of(&self.stream_books_per_s, 1.0)
    }
}

/// A distribution summarised the way load tools print it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p99_9: f64,
    pub max: f64,
}

impl Percentiles {
    /// The summary of `histogram` with every value multiplied by `scale`, or
    /// `None` for an empty histogram (no made-up zeros).
    fn of(histogram: &Histogram<u64>, scale: f64) -> Option<Self> {
        if histogram.is_empty() {
            return None;
        }
        let at = |quantile: f64| histogram.value_at_quantile(quantile) as f64 * scale;
        Some(Self {
            min: histogram.min() as f64 * scale,
            mean: histogram.mean() * scale,
            p50: at(0.50),
            p90: at(0.90),
            p95: at(0.95),
            p99: at(0.99),
            p99_9: at(0.999),
            max: histogram.max() as f64 * scale,
        })
    }
}

fn histogram() -> Histogram<u64> {
    // `new` auto-resizes: a worker's histogram stays small until it sees a large value.
    Histogram::new(SIGNIFICANT_DIGITS).expect("3 significant digits are within HDR's 0..=5")
}

/// Records `value`, growing the histogram as needed; only a value beyond
/// what any histogram can hold is clamped.
fn record(histogram: &mut Histogram<u64>, value: u64) {
    if histogram.record(value).is_err() {
        histogram.saturating_record(value);
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{Failure, Measurement};

    fn ok(books: u64) -> Outcome {
        Ok(Measurement {
            books,
            bytes: books * 100,
            ..Measurement::default()
        })
    }

    #[test]
    fn percentiles_of_a_uniform_run_land_where_expected() {
        let mut stats = Stats::new();
        for ms in 1..=1000 {
            stats.record(Duration::from_millis(ms), ok(10));
        }
        let latency = stats.latency_ms().unwrap();
        assert!((latency.min - 1.0).abs() < 0.01, "{latency:?}");
        assert!((latency.p50 - 500.0).abs() < 1.0, "{latency:?}");
        assert!((latency.p99 - 990.0).abs() < 1.0, "{latency:?}");
        assert!((latency.max - 1000.0).abs() < 1.0, "{latency:?}");
        assert!((latency.mean - 500.5).abs() < 1.0, "{latency:?}");
        assert_eq!(stats.ok(), 1000);
        assert_eq!(stats.books(), 10_000);
        assert_eq!(stats.bytes(), 1_000_000);
    }

    #[test]
    fn an_empty_histogram_has_no_summary() {
        let stats = Stats::new();
        assert_eq!(stats.latency_ms(), None);
        assert_eq!(stats.first_book_ms(), None);
    }

    #[test]
    fn failures_are_counted_by_kind_and_keep_their_first_detail() {
        let mut stats = Stats::new();
        stats.record(Duration::ZERO, Err(Failure::mismatch("first")));
        stats.record(Duration::ZERO, Err(Failure::mismatch("second")));
        stats.record(
            Duration::ZERO,
            Err(Failure::new(FailureKind::HttpStatus(503), "busy")),
        );
        assert_eq!(stats.failed(), 3);
        assert_eq!(stats.failures()[&FailureKind::Mismatch], 2);
        assert_eq!(stats.first_errors()[&FailureKind::Mismatch], "first");
        assert_eq!(stats.ok(), 0);
        assert_eq!(stats.latency_ms(), None, "failures are not timed");
    }

    #[test]
    fn merging_adds_counts_and_distributions() {
        let mut left = Stats::new();
        let mut right = Stats::new();
        left.record(Duration::from_millis(1), ok(5));
        right.record(Duration::from_millis(9), ok(5));
        right.record(
            Duration::ZERO,
            Err(Failure::new(FailureKind::Timeout, "slow")),
        );
        right.record_late();
        left.merge(&right);
        assert_eq!(
            (left.ok(), left.failed(), left.late(), left.books()),
            (2, 1, 1, 10)
        );
        let latency = left.latency_ms().unwrap();
        assert!(latency.max > 8.9 && latency.min < 1.1, "{latency:?}");
    }

    #[test]
    fn a_stream_rate_is_books_between_first_and_last_over_that_time() {
        let mut stats = Stats::new();
        stats.record(
            Duration::from_secs(2),
            Ok(Measurement {
                books: 1001,
                bytes: 0,
                first_book: Some(Duration::from_millis(5)),
                streaming: Some(Duration::from_millis(500)),
            }),
        );
        let rate = stats.stream_books_per_s().unwrap();
        assert!((rate.p50 - 2000.0).abs() < 5.0, "{rate:?}");
        let first = stats.first_book_ms().unwrap();
        assert!((first.p50 - 5.0).abs() < 0.01, "{first:?}");
    }
}
