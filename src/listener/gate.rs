//! The gate: counts a listener's open connections, admits new ones, and
//! picks which connection gives way at the cap.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU8, Ordering},
    },
    task::Poll,
};

use futures::task::AtomicWaker;
use tokio::time::Instant;

use super::{ClosedCounters, ConnectionLimits};

/// Counts the open connections of one listener and picks which one gives way.
#[derive(Debug)]
pub struct Gate {
    state: Mutex<GateState>,
    limits: ConnectionLimits,
    closed: ClosedCounters,
}

#[derive(Debug, Default)]
struct GateState {
    open: usize,
    /// The most connections open since memory was last given back.
    peak: usize,
    /// Admitted connections in the order they arrived, some of which may
    /// since have sent their head or closed; those are skipped and pruned.
    waiting: VecDeque<Arc<Slot>>,
}

/// One admitted connection's standing.
#[derive(Debug, Default)]
struct Slot {
    state: AtomicU8,
    waker: AtomicWaker,
}

/// Open connections that count as a flood worth giving memory back after.
const FLOOD: usize = 256;

const WAITING: u8 = 0;
const PROVEN: u8 = 1;
const SHED: u8 = 2;
const CLOSED: u8 = 3;

impl Gate {
    pub fn new(limits: ConnectionLimits, closed: ClosedCounters) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(GateState::default()),
            limits: ConnectionLimits {
                max_connections: limits.max_connections.max(1),
                ..limits
            },
            closed,
        })
    }

    pub fn limits(&self) -> ConnectionLimits {
        self.limits
    }

    /// Admits a new connection, shedding the oldest slow one if the cap is
    /// reached; `None` if the connection must be closed.
    pub fn admit(self: &Arc<Self>) -> Option<Admission> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.open >= self.limits.max_connections && !state.shed_oldest() {
            self.closed.limit.inc();
            return None;
        }
        if state.open >= self.limits.max_connections {
            self.closed.shed.inc();
        } else {
            state.open += 1;
            state.peak = state.peak.max(state.open);
        }
        let slot = Arc::new(Slot::default());
        state.waiting.push_back(slot.clone());
        state.prune();
        Some(Admission {
            slot,
            gate: self.clone(),
            deadline: Instant::now() + self.limits.header_read_timeout,
        })
    }

    /// How many connections are open now.
    pub fn open(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .open
    }
}

impl Gate {
    /// How many entries the queue of connections awaiting a head holds.
    #[cfg(test)]
    pub(super) fn waiting(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .waiting
            .len()
    }
}

impl GateState {
    /// Drops the entries of connections that sent their head or closed,
    /// once they outnumber the open ones. Besides bounding the queue, this
    /// frees their slots promptly: a slot left behind pins the heap page it
    /// sits on (measured: after 2,000 connections, left-behind slots kept
    /// 16 MB of freed connection buffers from going back to the system).
    fn prune(&mut self) {
        if self.waiting.len() > 2 * self.open + 16 {
            self.waiting
                .retain(|slot| slot.state.load(Ordering::Acquire) == WAITING);
        }
    }

    /// Marks the oldest connection still waiting for its head as shed; its
    /// place goes to the caller. False if none is waiting.
    fn shed_oldest(&mut self) -> bool {
        while let Some(slot) = self.waiting.pop_front() {
            if slot
                .state
                .compare_exchange(WAITING, SHED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                slot.waker.wake();
                return true;
            }
        }
        false
    }
}

/// A connection's place under the cap, given back when it is dropped.
#[derive(Debug)]
pub struct Admission {
    slot: Arc<Slot>,
    gate: Arc<Gate>,
    deadline: Instant,
}

impl Admission {
    /// When the first request head must have arrived.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Resolves if this connection is shed to make room for another; lets a
    /// TLS handshake be abandoned as a plain connection would be.
    pub async fn shed(&self) {
        std::future::poll_fn(|cx| {
            self.slot.waker.register(cx.waker());
            if self.slot.state.load(Ordering::Acquire) == SHED {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }

    /// Whether this connection was shed; `waker` is woken if it is later.
    pub(super) fn is_shed(&self, waker: &std::task::Waker) -> bool {
        self.slot.waker.register(waker);
        self.slot.state.load(Ordering::Acquire) == SHED
    }

    /// The first request head arrived in time; false if the connection was
    /// shed meanwhile.
    pub(super) fn prove(&self) -> bool {
        self.slot
            .state
            .compare_exchange(WAITING, PROVEN, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Counts this connection as closed for a late head.
    pub(super) fn count_header_timeout(&self) {
        self.gate.closed.header_timeout.inc();
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let previous = self.slot.state.swap(CLOSED, Ordering::AcqRel);
        // A shed connection's place was handed over when it was shed.
        if previous != SHED {
            let mut state = self
                .gate
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            state.open = state.open.saturating_sub(1);
            state.prune();
            // A flood of connections has ebbed: their buffers were freed, but
            // malloc keeps freed pages cached, so give them back (measured:
            // 2,000 connections left a client at 73 MB instead of 8).
            if state.peak >= FLOOD && state.open <= state.peak / 4 {
                state.peak = state.open;
                drop(state);
                crate::memory::release_free_memory();
            }
        }
    }
}
