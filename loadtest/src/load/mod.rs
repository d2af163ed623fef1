//! Load models: how many requests to send and when. They call a
//! [`Requester`] and count what it returns; they know nothing of transports.

mod closed;
mod open;
pub mod pacing;
mod progress;
pub mod ramp;

use std::{future::Future, sync::Arc, time::Duration};

use serde::Serialize;
use tokio::time::Instant;

pub use pacing::Pacing;
pub use progress::Counters;
pub use ramp::Ramp;

use crate::{outcome::Outcome, stats::Stats};

/// Something that makes one request and says how it went: a scenario, or a
/// stand-in in tests.
pub trait Requester: Send + Sync + 'static {
    /// One request on behalf of `user` (which picks its connection).
    fn request(&self, user: usize) -> impl Future<Output = Outcome> + Send;
}

/// How load is applied.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "model", rename_all = "lowercase")]
pub enum LoadModel {
    /// `users` loop request after request, started at `spawn_rate` per second.
    Closed { users: u32, spawn_rate: f64 },
    /// `rate` requests per second on a fixed schedule, at most `workers` in flight.
    Open { rate: f64, workers: u32 },
}

/// The phases of one scenario's run.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub warmup: Duration,
    pub run_time: Duration,
    pub timeout: Duration,
}

/// The same phases, pinned to the clock when the run starts.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    measure_from: Instant,
    end: Instant,
    timeout: Duration,
}

impl Window {
    fn starting_now(plan: Plan) -> Self {
        let start = Instant::now();
        let measure_from = start + plan.warmup;
        Self {
            start,
            measure_from,
            end: measure_from + plan.run_time,
            timeout: plan.timeout,
        }
    }

    fn warmup(&self) -> Duration {
        self.measure_from - self.start
    }

    fn run_time(&self) -> Duration {
        self.end - self.measure_from
    }
}

/// What one scenario's run measured.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    pub stats: Stats,
    /// The measured window's length (the warm-up excluded).
    pub elapsed: Duration,
    /// Closed model: requests still in flight when the run ended, abandoned uncounted.
    pub cut_at_end: u64,
    /// Open model: requests sent whose due time fell in the window.
    pub sent: u64,
    /// Open model: requests due in the window that were never sent.
    pub not_sent: u64,
}

impl Measured {
    fn merge(&mut self, other: &Measured) {
        self.stats.merge(&other.stats);
        self.cut_at_end += other.cut_at_end;
        self.sent += other.sent;
        self.not_sent += other.not_sent;
    }
}

/// Applies `model` with `requester` for `plan`, showing progress under `label`.
pub async fn run<R: Requester>(
    requester: Arc<R>,
    model: LoadModel,
    plan: Plan,
    label: &str,
) -> Measured {
    let counters = Arc::new(Counters::default());
    let display =
        progress::Display::start(label, plan.warmup + plan.run_time, Arc::clone(&counters));
    let window = Window::starting_now(plan);
    let mut measured = match model {
        LoadModel::Closed { users, spawn_rate } => {
            closed::run(requester, Ramp::new(users, spawn_rate), window, counters).await
        }
        LoadModel::Open { rate, workers } => {
            open::run(
                requester,
                Pacing::new(rate),
                workers.max(1),
                window,
                counters,
            )
            .await
        }
    };
    display.finish();
    measured.elapsed = window.run_time();
    measured
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use crate::outcome::{Failure, Measurement};

    /// Answers after `delay` (paused clock: no real waiting), failing every `fail_every`th.
    struct Fake {
        delay: Duration,
        fail_every: u64,
        calls: AtomicU64,
    }

    impl Fake {
        fn new(delay: Duration, fail_every: u64) -> Arc<Self> {
            Arc::new(Self {
                delay,
                fail_every,
                calls: AtomicU64::new(0),
            })
        }
    }

    impl Requester for Fake {
        async fn request(&self, _user: usize) -> Outcome {
            let call = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
            tokio::time::sleep(self.delay).await;
            if call.is_multiple_of(self.fail_every) {
                Err(Failure::mismatch("every nth"))
            } else {
                Ok(Measurement {
                    books: 1,
                    ..Measurement::default()
                })
            }
        }
    }

    fn plan(warmup_ms: u64, run_ms: u64) -> Plan {
        Plan {
            warmup: Duration::from_millis(warmup_ms),
            run_time: Duration::from_millis(run_ms),
            timeout: Duration::from_secs(5),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn closed_users_loop_back_to_back_for_the_run_time() {
        let fake = Fake::new(Duration::from_millis(10), u64::MAX);
        let model = LoadModel::Closed {
            users: 2,
            spawn_rate: 1000.0,
        };
        let measured = run(fake, model, plan(0, 1000), "test").await;
        // Two users, 10 ms each, for one second: about 200, the last ones cut at the end.
        let total = measured.stats.ok() + measured.cut_at_end;
        assert!((195..=201).contains(&total), "{measured:?}");
        assert_eq!(measured.stats.failed(), 0);
        assert_eq!(measured.elapsed, Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn the_warmup_is_left_out_of_the_figures() {
        let fake = Fake::new(Duration::from_millis(10), u64::MAX);
        let model = LoadModel::Closed {
            users: 1,
            spawn_rate: 1.0,
        };
        let measured = run(Arc::clone(&fake), model, plan(500, 500), "test").await;
        assert!(fake.calls.load(Ordering::Relaxed) >= 99);
        assert!((49..=51).contains(&measured.stats.ok()), "{measured:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn failures_reach_the_figures_by_kind() {
        let fake = Fake::new(Duration::from_millis(10), 4);
        let model = LoadModel::Closed {
            users: 1,
            spawn_rate: 1.0,
        };
        let measured = run(fake, model, plan(0, 400), "test").await;
        assert!(measured.stats.failed() >= 9, "{measured:?}");
        assert_eq!(
            measured.stats.failures().keys().collect::<Vec<_>>(),
            [&crate::outcome::FailureKind::Mismatch]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_request_beyond_the_timeout_is_a_timeout_failure() {
        let fake = Fake::new(Duration::from_millis(300), u64::MAX);
        let model = LoadModel::Closed {
            users: 1,
            spawn_rate: 1.0,
        };
        let plan = Plan {
            timeout: Duration::from_millis(100),
            ..plan(0, 1000)
        };
        let measured = run(fake, model, plan, "test").await;
        assert_eq!(measured.stats.ok(), 0);
        assert_eq!(
            measured.stats.failures()[&crate::outcome::FailureKind::Timeout],
            10
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_open_model_sends_at_the_rate_whatever_the_latency() {
        let fake = Fake::new(Duration::from_millis(50), u64::MAX);
        let model = LoadModel::Open {
            rate: 100.0,
            workers: 10,
        };
        let measured = run(fake, model, plan(0, 1000), "test").await;
        // 100/s at 50 ms each needs 5 in flight: 10 workers keep up, nothing late.
        assert_eq!(measured.sent, 100);
        assert_eq!(measured.stats.ok(), 100);
        assert_eq!((measured.stats.late(), measured.not_sent), (0, 0));
        let latency = measured.stats.latency_ms().unwrap();
        assert!(latency.max < 52.0, "{latency:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_open_model_counts_latency_from_the_due_time_and_late_sends() {
        // 100/s at 50 ms each, but only 2 workers: at most 40/s get out.
        let fake = Fake::new(Duration::from_millis(50), u64::MAX);
        let model = LoadModel::Open {
            rate: 100.0,
            workers: 2,
        };
        let measured = run(fake, model, plan(0, 1000), "test").await;
        assert_eq!(measured.sent + measured.not_sent, 100);
        assert!((38..=42).contains(&measured.sent), "{measured:?}");
        assert!(measured.stats.late() >= measured.sent - 2, "{measured:?}");
        // The last sends waited hundreds of milliseconds for a worker: that is latency.
        let latency = measured.stats.latency_ms().unwrap();
        assert!(latency.max > 500.0, "{latency:?}");
    }
}
