//! The closed model, as locust runs it: a fixed number of users ramping up,
//! each sending its next request as soon as the previous one is answered.

use std::sync::Arc;

use tokio::time::Instant;

use super::{Counters, Measured, Requester, Window, ramp::Ramp};
use crate::outcome::{Failure, FailureKind};

/// Runs `ramp.users()` users until the window ends and merges their figures.
pub(super) async fn run<R: Requester>(
    requester: Arc<R>,
    ramp: Ramp,
    window: Window,
    counters: Arc<Counters>,
) -> Measured {
    let users: Vec<_> = (0..ramp.users())
        .map(|user| {
            let start = window.start + ramp.start_of(user);
            tokio::spawn(user_loop(
                Arc::clone(&requester),
                user as usize,
                start,
                window,
                Arc::clone(&counters),
            ))
        })
        .collect();
    let mut measured = Measured::default();
    for user in users {
        match user.await {
            Ok(user) => measured.merge(&user),
            // A panicking scenario is a bug in the harness; say so, do not hide it.
            Err(error) => tracing::error!("a user task failed: {error}"),
        }
    }
    measured
}

async fn user_loop<R: Requester>(
    requester: Arc<R>,
    user: usize,
    start: Instant,
    window: Window,
    counters: Arc<Counters>,
) -> Measured {
    let mut measured = Measured::default();
    tokio::time::sleep_until(start).await;
    loop {
        let sent = Instant::now();
        if sent >= window.end {
            break;
        }
        // One timer per request serves both the timeout and the end of the run.
        let timeout_at = sent + window.timeout;
        let outcome = match tokio::time::timeout_at(
            timeout_at.min(window.end),
            requester.request(user),
        )
        .await
        {
            Ok(outcome) => outcome,
            Err(_) if timeout_at > window.end => {
                // Cut by the end of the run, not failed: counted apart.
                measured.cut_at_end += 1;
                break;
            }
            Err(_) => Err(Failure::new(
                FailureKind::Timeout,
                format!("no complete answer within {:?}", window.timeout),
            )),
        };
        let done = Instant::now();
        counters.count(outcome.is_ok());
        // Requests belong to the window they complete in; warm-up ones are dropped from the figures.
        if done >= window.measure_from {
            measured.stats.record(done - sent, outcome);
        }
    }
    measured
}
