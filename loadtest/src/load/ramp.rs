//! The closed model's ramp: users start one after another at `--spawn-rate`
//! per second, as locust spawns them, so the server is not hit by all users
//! in the same millisecond.

use std::time::Duration;

/// When each user starts, relative to the start of the run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ramp {
    users: u32,
    spawn_rate: f64,
}

impl Ramp {
    /// `spawn_rate` must be positive (the command line guarantees it); a
    /// non-positive rate starts everyone at once rather than never.
    pub fn new(users: u32, spawn_rate: f64) -> Self {
        Self { users, spawn_rate }
    }

    pub fn users(&self) -> u32 {
        self.users
    }

    /// User `index` (from 0) starts `index / spawn_rate` seconds in: the first at once.
    pub fn start_of(&self, index: u32) -> Duration {
        if !(self.spawn_rate.is_finite() && self.spawn_rate > 0.0) {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(f64::from(index) / self.spawn_rate)
    }

    /// How long until every user is running.
    pub fn duration(&self) -> Duration {
        self.start_of(self.users.saturating_sub(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_start_at_the_spawn_rate_the_first_at_once() {
        let ramp = Ramp::new(10, 2.0);
        let starts: Vec<Duration> = (0..4).map(|user| ramp.start_of(user)).collect();
        assert_eq!(
            starts,
            [0, 500, 1000, 1500].map(Duration::from_millis).to_vec()
        );
        assert_eq!(ramp.duration(), Duration::from_millis(4500));
    }

    #[test]
    fn a_spawn_rate_above_the_user_count_starts_everyone_within_a_second() {
        let ramp = Ramp::new(10, 1000.0);
        assert!(ramp.duration() < Duration::from_millis(10));
    }

    #[test]
    fn a_single_user_needs_no_ramp() {
        assert_eq!(Ramp::new(1, 0.5).duration(), Duration::ZERO);
    }
}
