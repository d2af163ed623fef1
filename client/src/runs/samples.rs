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

    /// Each sample's end (seconds since the start) and books per second, for
    /// a run that lasted `elapsed_ms`: its last sample covers only the time
    /// from the one before to the run's end, so a 6 ms run is drawn at the
    /// rate it had, not as its books spread over a whole interval.
    pub fn points(&self, elapsed_ms: u64) -> Vec<(f64, f64)> {
        let interval = self.interval_ms.max(1);
        let count = self.books.len() as u64;
        self.books
            .iter()
            .enumerate()
            .map(|(index, &books)| {
                let start = index as u64 * interval;
                let mut end = start + interval;
                if index as u64 + 1 == count && elapsed_ms > start {
                    end = end.min(elapsed_ms);
                }
                let seconds = (end - start).max(1) as f64 / 1000.0;
                (end as f64 / 1000.0, books as f64 / seconds)
            })
            .collect()
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
        assert_eq!(
            samples.points(300),
            [(0.1, 100.0), (0.2, 200.0), (0.3, 300.0)]
        );
    }

    #[test]
    fn the_last_sample_is_drawn_over_the_time_it_covered() {
        let mut samples = Samples::new();
        let mut ticks = 0;
        // A 6 ms run: 900 books, all in its one, short, sample.
        samples.push(900, &mut ticks);
        assert_eq!(samples.points(6), [(0.006, 150_000.0)]);
        // A 250 ms run: two whole tenths, then half of one.
        samples.push(1000, &mut ticks);
        samples.push(500, &mut ticks);
        assert_eq!(
            samples.points(250),
            [(0.1, 9_000.0), (0.2, 10_000.0), (0.25, 10_000.0)]
        );
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
