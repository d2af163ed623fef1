//! Throughput over time, for a run's chart, in bounded memory: one sample
//! per tenth of a second (books received in it), at most [`MAX_SAMPLES`];
//! beyond that, neighbouring samples are merged two by two, so a run of any
//! length keeps an even picture of itself.

use serde::{Deserialize, Serialize};

/// The most samples a run keeps.
pub const MAX_SAMPLES: usize = 3_600;
/// How often a running run is sampled, in milliseconds.
pub const TICK_MS: u64 = 100;

/// Books received per interval of `interval_ms`, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Samples {
    pub interval_ms: u64,
    pub books: Vec<u64>,
}

impl Samples {
    pub fn new() -> Self {
        Self {
            interval_ms: TICK_MS,
            books: Vec::new(),
        }
    }

    /// Records the books received in the last tick. Past [`MAX_SAMPLES`],
    /// the samples are merged pairwise and the interval doubles; ticks then
    /// add into the last sample until it covers a whole interval.
    pub fn push(&mut self, books: u64, ticks_in_last: &mut u64) {
        let ticks_per_sample = self.interval_ms / TICK_MS;
        match self.books.last_mut() {
            Some(last) if *ticks_in_last < ticks_per_sample => {
                *last += books;
                *ticks_in_last += 1;
            }
            _ => {
                self.books.push(books);
                *ticks_in_last = 1;
            }
        }
        if self.books.len() > MAX_SAMPLES {
            // One past the bound is an odd count: the newest sample stays
            // alone, keeps its ticks, and fills up to the doubled interval.
            self.books = self.books.chunks(2).map(|pair| pair.iter().sum()).collect();
            self.interval_ms *= 2;
        }
    }

    /// Books per second in each sample.
    pub fn rates(&self) -> impl Iterator<Item = f64> + '_ {
        let seconds = self.interval_ms.max(1) as f64 / 1000.0;
        self.books.iter().map(move |&books| books as f64 / seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_run_keeps_one_sample_per_tick() {
        let mut samples = Samples::new();
        let mut ticks = 0;
        for books in [10, 20, 30] {
            samples.push(books, &mut ticks);
        }
        assert_eq!(samples.books, [10, 20, 30]);
        assert_eq!(samples.rates().collect::<Vec<_>>(), [100.0, 200.0, 300.0]);
    }

    #[test]
    fn a_long_run_stays_within_the_bound_and_loses_no_book() {
        let mut samples = Samples::new();
        let mut ticks = 0;
        let total_ticks = 100_000u64;
        for _ in 0..total_ticks {
            samples.push(7, &mut ticks);
            assert!(samples.books.len() <= MAX_SAMPLES);
        }
        assert_eq!(samples.books.iter().sum::<u64>(), 7 * total_ticks);
        assert!(
            samples.books.len() > MAX_SAMPLES / 2,
            "{}",
            samples.books.len()
        );
        // Evenly thinned: every full sample covers the same time, so the same books.
        let full = &samples.books[..samples.books.len() - 1];
        assert!(
            full.iter().all(|&books| books == full[0]),
            "{:?}",
            &full[..4]
        );
        assert_eq!(samples.interval_ms / TICK_MS * 7, full[0]);
    }
}
