//! The open model, as wrk2 and k6's constant-arrival-rate run it: requests
//! are due on a fixed schedule whatever the server does, latency counts from
//! the due time, and requests the workers could not send on time are counted.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use tokio::time::Instant;

use super::{Counters, Measured, Requester, Window, pacing::Pacing};
use crate::outcome::{Failure, FailureKind};

/// Runs the schedule with at most `workers` requests in flight.
pub(super) async fn run<R: Requester>(
    requester: Arc<R>,
    pacing: Pacing,
    workers: u32,
    window: Window,
    counters: Arc<Counters>,
) -> Measured {
    let next = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..workers)
        .map(|worker| {
            tokio::spawn(worker_loop(
                Arc::clone(&requester),
                worker as usize,
                pacing,
                Arc::clone(&next),
                window,
                Arc::clone(&counters),
            ))
        })
        .collect();
    let mut measured = Measured::default();
    for task in tasks {
        match task.await {
            Ok(worker) => measured.merge(&worker),
            Err(error) => tracing::error!("a load worker failed: {error}"),
        }
    }
    // Requests due in the window that no worker was free to send before it
    // ended: the clearest sign the server (or the harness) could not keep up.
    let due = pacing.due_between(window.warmup(), window.warmup() + window.run_time());
    measured.not_sent = due.saturating_sub(measured.sent);
    measured
}

/// Takes the next due request, waits for its time, sends it; until the
/// schedule passes the end of the window.
async fn worker_loop<R: Requester>(
    requester: Arc<R>,
    worker: usize,
    pacing: Pacing,
    next: Arc<AtomicU64>,
    window: Window,
    counters: Arc<Counters>,
) -> Measured {
    let mut measured = Measured::default();
    loop {
        let index = next.fetch_add(1, Ordering::Relaxed);
        let due_offset = pacing.due(index);
        let due = window.start + due_offset;
        if due >= window.end {
            break;
        }
        tokio::time::sleep_until(due).await;
        let sent = Instant::now();
        if sent >= window.end {
            // Due in time but no worker was free before the end: counted as not sent.
            break;
        }
        let in_window = due >= window.measure_from;
        let late = Pacing::is_late(due_offset, sent - window.start);
        // In-flight requests run to their timeout after the end: their
        // latency is exactly the tail an open model must not drop.
        let outcome = match tokio::time::timeout(window.timeout, requester.request(worker)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Failure::new(
                FailureKind::Timeout,
                format!("no complete answer within {:?}", window.timeout),
            )),
        };
        let done = Instant::now();
        counters.count(outcome.is_ok());
        // Requests belong to the window they were due in.
        if in_window {
            measured.sent += 1;
            if late {
                measured.stats.record_late();
            }
            measured.stats.record(done - due, outcome);
        }
    }
    measured
}
