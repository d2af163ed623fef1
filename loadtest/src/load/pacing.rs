//! The open model's schedule: request `i` is due `i / rate` seconds after the
//! start, whatever happened to the requests before it. Latency counts from
//! that intended time (so a stalled server cannot hide its stall by slowing
//! the harness down: coordinated omission), and a request sent too long after
//! it is counted as late.

use std::time::Duration;

/// Sending this long after the intended time counts as late. Tokio's timer
/// ticks every millisecond and a busy 2-core machine adds a few more; beyond
/// this the harness, not the clock, is behind.
pub const LATE_AFTER: Duration = Duration::from_millis(10);

/// A constant arrival rate, kept in whole nanoseconds so that every question
/// about the schedule is answered with integer arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    interval_ns: u64,
}

impl Pacing {
    /// The schedule for `rate` requests per second (positive; the command line checks).
    pub fn new(rate: f64) -> Self {
        let interval_ns = (1e9 / rate).round();
        // Above a billion requests per second the interval would round to 0.
        let interval_ns = if interval_ns.is_finite() && interval_ns >= 1.0 {
            interval_ns as u64
        } else {
            1
        };
        Self { interval_ns }
    }

    /// When request `index` is due, from the start of the run.
    pub fn due(&self, index: u64) -> Duration {
        Duration::from_nanos(index.saturating_mul(self.interval_ns))
    }

    /// How many requests are due strictly before `offset`.
    pub fn due_before(&self, offset: Duration) -> u64 {
        let offset_ns = u64::try_from(offset.as_nanos()).unwrap_or(u64::MAX);
        offset_ns.div_ceil(self.interval_ns)
    }

    /// How many requests are due within `[from, to)`.
    pub fn due_between(&self, from: Duration, to: Duration) -> u64 {
        self.due_before(to).saturating_sub(self.due_before(from))
    }

    /// Whether a request due at `due` and sent at `sent` was late.
    pub fn is_late(due: Duration, sent: Duration) -> bool {
        sent.saturating_sub(due) > LATE_AFTER
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_due_at_even_intervals_from_the_start() {
        let pacing = Pacing::new(4.0);
        let due: Vec<Duration> = (0..4).map(|index| pacing.due(index)).collect();
        assert_eq!(due, [0, 250, 500, 750].map(Duration::from_millis).to_vec());
    }

    #[test]
    fn the_number_due_in_a_window_is_rate_times_its_length() {
        let pacing = Pacing::new(100.0);
        assert_eq!(pacing.due_before(Duration::ZERO), 0);
        assert_eq!(pacing.due_before(Duration::from_secs(1)), 100);
        assert_eq!(
            pacing.due_between(Duration::from_secs(2), Duration::from_secs(5)),
            300
        );
        // The request due exactly at a window's start belongs to that window.
        assert_eq!(pacing.due_before(Duration::from_millis(5)), 1);
    }

    #[test]
    fn fractional_rates_are_kept() {
        let pacing = Pacing::new(0.5);
        assert_eq!(pacing.due(3), Duration::from_secs(6));
        assert_eq!(pacing.due_before(Duration::from_secs(10)), 5);
    }

    #[test]
    fn only_sends_beyond_the_tolerance_are_late() {
        let due = Duration::from_millis(100);
        assert!(!Pacing::is_late(due, due));
        assert!(!Pacing::is_late(due, due + LATE_AFTER));
        assert!(Pacing::is_late(
            due,
            due + LATE_AFTER + Duration::from_millis(1)
        ));
        assert!(
            !Pacing::is_late(due, Duration::from_millis(50)),
            "early is not late"
        );
    }
}
