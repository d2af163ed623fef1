//! A run while it runs: what the run loop reports (books so far, the count
//! announced, the first book, each attempt), what a person can do to it
//! (stop it), and what pages and event streams see of it (a snapshot,
//! refreshed every tick).
//!
//! The run loop only stores a counter every [`PROGRESS_EVERY`] books and
//! checks the stop flag as often: recording progress costs the hot path
//! nothing measurable.

use std::{
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{
    record::{AttemptRecord, Outcome, RunRecord},
    samples::{Samples, TICK_MS},
};

/// Books between two updates of the counter pages read: the run's pace.
pub use crate::run::PROGRESS_EVERY;
/// The rate shown live is taken over this many of the latest ticks.
const RATE_WINDOW_TICKS: usize = 10;
/// Not yet: no first book.
const NONE: u64 = u64::MAX;

/// What a page or an event stream shows of a run, now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    pub id: u64,
    pub received: u64,
    /// The books the run expects: n, or fewer when the server announced fewer.
    pub expected: u64,
    pub percent: f64,
    /// Over the last second.
    pub books_per_sec: f64,
    /// Until the expected books are in, at the current rate.
    pub eta_ms: Option<u64>,
    pub elapsed_ms: u64,
    pub outcome: Outcome,
    /// Since the books written last grew (a follow waits for appends).
    pub since_last_book_ms: Option<u64>,
    /// A follow's last lag, from a book's commit to it being in the file.
    pub lag_ms: Option<u64>,
}

impl Snapshot {
    /// An ended run, as its record says.
    pub fn ended(record: &RunRecord) -> Self {
        Self {
            id: record.id,
            received: record.received,
            expected: record.requested,
            percent: 100.0,
            books_per_sec: record.books_per_sec,
            eta_ms: None,
            since_last_book_ms: None,
            lag_ms: None,
            elapsed_ms: record.elapsed_ms,
            outcome: record.outcome,
        }
    }
}

/// A running run's shared state.
#[derive(Debug)]
pub struct Live {
    pub id: u64,
    started: Instant,
    received: AtomicU64,
    expected: AtomicU64,
    first_book_ms: AtomicU64,
    /// A follow's last lag in ms ([`NONE`]: none yet).
    lag_ms: AtomicU64,
    stop: CancellationToken,
    attempts: Mutex<Vec<AttemptRecord>>,
    /// The server of the attempt under way, until it ends.
    streaming_from: Mutex<Option<String>>,
    samples: Mutex<Sampling>,
    snapshots: watch::Sender<Snapshot>,
}

#[derive(Debug)]
struct Sampling {
    samples: Samples,
    ticks_in_last: u64,
    /// The counter at the last tick.
    seen: u64,
    /// The books of the latest ticks, for the live rate.
    recent: Vec<u64>,
    /// When the counter last grew.
    grew_at: Option<Instant>,
}

impl Live {
    pub fn new(id: u64, requested: u64) -> Self {
        let first = Snapshot {
            id,
            received: 0,
            expected: requested,
            percent: 0.0,
            books_per_sec: 0.0,
            eta_ms: None,
            elapsed_ms: 0,
            outcome: Outcome::Running,
            since_last_book_ms: None,
            lag_ms: None,
        };
        Self {
            id,
            started: Instant::now(),
            received: AtomicU64::new(0),
            expected: AtomicU64::new(requested),
            first_book_ms: AtomicU64::new(NONE),
            lag_ms: AtomicU64::new(NONE),
            stop: CancellationToken::new(),
            attempts: Mutex::new(Vec::new()),
            streaming_from: Mutex::new(None),
            samples: Mutex::new(Sampling {
                samples: Samples::new(),
                ticks_in_last: 0,
                seen: 0,
                recent: Vec::with_capacity(RATE_WINDOW_TICKS),
                grew_at: None,
            }),
            snapshots: watch::channel(first).0,
        }
    }

    // What the run loop reports.

    /// Books written so far (called every [`PROGRESS_EVERY`] books, and at each attempt's end).
    pub fn received(&self, books: u64) {
        self.received.store(books, Ordering::Relaxed);
    }

    /// The total the servers announced.
    pub fn expected(&self, books: u64) {
        self.expected.store(books, Ordering::Relaxed);
    }

    /// The first book arrived.
    pub fn first_book(&self) {
        let _ = self.first_book_ms.compare_exchange(
            NONE,
            super::record::millis(self.started.elapsed()),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    pub fn attempt_started(&self, server: &str) {
        *self
            .streaming_from
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(server.to_owned());
    }

    pub fn attempt_ended(&self, attempt: AttemptRecord) {
        self.streaming_from
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        self.attempts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(attempt);
    }

    /// Whether a person asked the run to stop.
    pub fn stop_requested(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// Completes once a person asks the run to stop.
    pub async fn stopped(&self) {
        self.stop.cancelled().await;
    }

    // What people do.

    /// Asks the run to stop; it keeps what arrived.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    // What pages see.

    pub fn subscribe(&self) -> watch::Receiver<Snapshot> {
        self.snapshots.subscribe()
    }

    pub fn snapshot(&self) -> Snapshot {
        self.snapshots.borrow().clone()
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn first_book_ms(&self) -> Option<u64> {
        Some(self.first_book_ms.load(Ordering::Relaxed)).filter(|&ms| ms != NONE)
    }

    /// Every server the run has streamed from so far, the current one last.
    pub fn servers(&self) -> Vec<String> {
        let mut servers: Vec<String> = self
            .attempts()
            .into_iter()
            .map(|attempt| attempt.server)
            .collect();
        servers.extend(
            self.streaming_from
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        );
        servers
    }

    pub fn attempts(&self) -> Vec<AttemptRecord> {
        self.attempts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Takes one sample of the books since the last tick and refreshes the snapshot.
    pub fn tick(&self) {
        let received = self.received.load(Ordering::Relaxed);
        let expected = self.expected.load(Ordering::Relaxed);
        let mut sampling = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        let books = received.saturating_sub(sampling.seen);
        sampling.seen = received;
        if books > 0 {
            sampling.grew_at = Some(Instant::now());
        }
        let since_last_book_ms = sampling
            .grew_at
            .map(|at| super::record::millis(at.elapsed()));
        let Sampling {
            samples,
            ticks_in_last,
            recent,
            ..
        } = &mut *sampling;
        samples.push(books, ticks_in_last);
        if recent.len() == RATE_WINDOW_TICKS {
            recent.remove(0);
        }
        recent.push(books);
        let window_seconds = (recent.len() as u64 * TICK_MS) as f64 / 1000.0;
        let books_per_sec = recent.iter().sum::<u64>() as f64 / window_seconds;
        let window_full = recent.len() == RATE_WINDOW_TICKS;
        drop(sampling);
        let remaining = expected.saturating_sub(received);
        // A rate over less than the whole window is mostly start-up: an
        // estimate from it would promise a minute for a seven-second run.
        let eta_ms = (window_full && books_per_sec > 0.0)
            .then(|| (remaining as f64 / books_per_sec * 1000.0) as u64);
        self.snapshots.send_replace(Snapshot {
            id: self.id,
            received,
            expected,
            percent: if expected == 0 {
                100.0
            } else {
                received as f64 * 100.0 / expected as f64
            },
            books_per_sec,
            eta_ms,
            elapsed_ms: super::record::millis(self.elapsed()),
            outcome: Outcome::Running,
            since_last_book_ms,
            lag_ms: match self.lag_ms.load(Ordering::Relaxed) {
                NONE => None,
                ms => Some(ms),
            },
        });
    }

    /// The chart's samples so far.
    pub fn samples(&self) -> Samples {
        self.samples
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .samples
            .clone()
    }

    /// The run ended as `record` says: the last snapshot is the record's
    /// (one source of truth for a page, an event stream and the history),
    /// and event streams close.
    pub fn finish(&self, record: &RunRecord) {
        self.snapshots.send_replace(Snapshot::ended(record));
    }
}

/// The live view hears the run through the run's own seam.
impl crate::run::Observer for Live {
    fn first_book(&self) {
        Live::first_book(self);
    }

    fn expected(&self, books: u64) {
        Live::expected(self, books);
    }

    fn received(&self, books: u64) {
        Live::received(self, books);
    }

    fn attempt_started(&self, server: &str) {
        Live::attempt_started(self, server);
    }

    fn attempt_ended(&self, attempt: AttemptRecord) {
        Live::attempt_ended(self, attempt);
    }

    fn lag(&self, ms: u64) {
        self.lag_ms.store(ms.min(NONE - 1), Ordering::Relaxed);
    }

    fn stop_requested(&self) -> bool {
        Live::stop_requested(self)
    }

    fn stopped(&self) -> impl std::future::Future<Output = ()> + Send {
        Live::stopped(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tick_turns_the_counter_into_a_sample_a_rate_and_a_snapshot() {
        let live = Live::new(7, 1000);
        live.received(300);
        live.tick();
        let snapshot = live.snapshot();
        assert_eq!((snapshot.received, snapshot.expected), (300, 1000));
        assert_eq!(snapshot.percent, 30.0);
        assert_eq!(snapshot.books_per_sec, 3000.0);
        // One tick of start-up makes no estimate.
        assert_eq!(snapshot.eta_ms, None);
        live.received(500);
        live.tick();
        assert_eq!(live.samples().books, [300, 200]);
        for ticks in 3..=RATE_WINDOW_TICKS as u64 {
            live.received(500 + 50 * (ticks - 2));
            live.tick();
        }
        // A second of samples: 900 books in 1 s, 100 to go.
        assert_eq!(live.snapshot().books_per_sec, 900.0);
        assert_eq!(live.snapshot().eta_ms, Some(111));

        let mut record = RunRecord::example(7, Outcome::Cancelled);
        record.received = 901;
        record.books_per_sec = 1234.5;
        record.elapsed_ms = 730;
        live.finish(&record);
        // The end is the record's, not a last tick's.
        let end = live.snapshot();
        assert_eq!(end, Snapshot::ended(&record));
        assert_eq!((end.outcome, end.received), (Outcome::Cancelled, 901));
        assert_eq!((end.books_per_sec, end.elapsed_ms), (1234.5, 730));
    }

    #[test]
    fn a_stop_is_seen_by_the_run() {
        let live = Live::new(1, 10);
        assert!(!live.stop_requested());
        live.stop();
        assert!(live.stop_requested());
    }
}
