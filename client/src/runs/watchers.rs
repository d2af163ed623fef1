//! A cap on event streams (`/runs/{id}/events`), per run and in all. Each
//! open stream is a connection, a task and a wake-up every tick; without a
//! cap 2,000 watchers of one run slowed the run 2-3× and kept 50 MB. Past the
//! cap a watcher gets 429 and can still reload the page, which works without
//! events. A watcher costs no buffer: a `watch` channel keeps only the
//! latest progress, so a slow one skips ticks instead of queueing them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// How many event streams may be open.
#[derive(Debug, Clone, Copy)]
pub struct WatchLimits {
    /// Over all runs.
    pub total: usize,
    /// On one run.
    pub per_run: usize,
}

impl Default for WatchLimits {
    fn default() -> Self {
        Self {
            total: 256,
            per_run: 32,
        }
    }
}

/// Why a watcher was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WatchRefused {
    #[error("run {run} already has its limit of {limit} live views open; reload the page instead")]
    Run { run: u64, limit: usize },
    #[error(
        "this client already has its limit of {limit} live views open; reload the page instead"
    )]
    Total { limit: usize },
}

/// The event streams open now.
#[derive(Debug)]
pub struct Watchers {
    limits: WatchLimits,
    /// Open streams by run; the total is their sum.
    open: Mutex<(usize, HashMap<u64, usize>)>,
}

impl Watchers {
    pub fn new(limits: WatchLimits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            open: Mutex::new((0, HashMap::new())),
        })
    }

    /// A place for one more watcher of `run`, held until it is dropped.
    pub fn admit(self: &Arc<Self>, run: u64) -> Result<Watching, WatchRefused> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.0 >= self.limits.total {
            return Err(WatchRefused::Total {
                limit: self.limits.total,
            });
        }
        let of_run = open.1.entry(run).or_insert(0);
        if *of_run >= self.limits.per_run {
            return Err(WatchRefused::Run {
                run,
                limit: self.limits.per_run,
            });
        }
        *of_run += 1;
        open.0 += 1;
        Ok(Watching {
            watchers: self.clone(),
            run,
        })
    }
}

/// One open event stream.
#[derive(Debug)]
pub struct Watching {
    watchers: Arc<Watchers>,
    run: u64,
}

impl Drop for Watching {
    fn drop(&mut self) {
        let mut open = self
            .watchers
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        open.0 -= 1;
        if let Some(of_run) = open.1.get_mut(&self.run) {
            *of_run -= 1;
            if *of_run == 0 {
                // The map holds only runs being watched.
                open.1.remove(&self.run);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchers_past_either_cap_are_refused_and_places_come_back() {
        let watchers = Watchers::new(WatchLimits {
            total: 3,
            per_run: 2,
        });
        let a = watchers.admit(1).unwrap();
        let _b = watchers.admit(1).unwrap();
        assert_eq!(
            watchers.admit(1).unwrap_err(),
            WatchRefused::Run { run: 1, limit: 2 }
        );
        let _c = watchers.admit(2).unwrap();
        assert_eq!(
            watchers.admit(3).unwrap_err(),
            WatchRefused::Total { limit: 3 }
        );
        drop(a);
        assert!(watchers.admit(1).is_ok());
        drop(_b);
        drop(_c);
        assert!(watchers.open.lock().unwrap().1.is_empty());
    }
}
