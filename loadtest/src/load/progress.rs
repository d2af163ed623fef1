//! The live display while a scenario runs: elapsed time, requests, the
//! current rate and errors, redrawn a few times a second on a terminal and
//! silent otherwise (pipes, CI, tests).

use std::{
    io::IsTerminal,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::{task::JoinHandle, time::Instant};

const REDRAW_EVERY: Duration = Duration::from_millis(250);

/// Counters the workers bump after each request. Relaxed atomics: the display
/// only needs a recent value, not an exact one.
#[derive(Debug, Default)]
pub struct Counters {
    ok: AtomicU64,
    failed: AtomicU64,
}

impl Counters {
    pub fn count(&self, ok: bool) {
        let counter = if ok { &self.ok } else { &self.failed };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn read(&self) -> (u64, u64) {
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

/// A running display; [`Display::finish`] clears it.
#[derive(Debug)]
pub(super) struct Display {
    bar: ProgressBar,
    ticker: Option<JoinHandle<()>>,
}

impl Display {
    /// Starts redrawing `counters` for a scenario expected to last `total`.
    pub(super) fn start(label: &str, total: Duration, counters: Arc<Counters>) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self {
                bar: ProgressBar::hidden(),
                ticker: None,
            };
        }
        let bar = ProgressBar::with_draw_target(
            Some(total.as_millis().try_into().unwrap_or(u64::MAX)),
            ProgressDrawTarget::stderr(),
        );
        bar.set_style(
            ProgressStyle::with_template("{prefix:>12} [{elapsed_precise}] {wide_bar} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(label.to_owned());
        let ticker = tokio::spawn(redraw(bar.clone(), counters));
        Self {
            bar,
            ticker: Some(ticker),
        }
    }

    pub(super) fn finish(self) {
        if let Some(ticker) = self.ticker {
            ticker.abort();
        }
        self.bar.finish_and_clear();
    }
}

async fn redraw(bar: ProgressBar, counters: Arc<Counters>) {
    let started = Instant::now();
    let mut interval = tokio::time::interval(REDRAW_EVERY);
    let mut previous = (0u64, Instant::now());
    loop {
        interval.tick().await;
        let (ok, failed) = counters.read();
        let done = ok + failed;
        let now = Instant::now();
        let seconds = now.duration_since(previous.1).as_secs_f64();
        let rate = if seconds > 0.0 {
            (done - previous.0) as f64 / seconds
        } else {
            0.0
        };
        previous = (done, now);
        bar.set_position(
            now.duration_since(started)
                .as_millis()
                .try_into()
                .unwrap_or(u64::MAX),
        );
        bar.set_message(format!("{done} requests, {rate:.0}/s now, {failed} errors"));
    }
}
