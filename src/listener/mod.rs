//! Every listener of Bookstream (the server's gRPC and REST ones, the
//! client's trigger listener) admits connections through a [`Gate`]: at most
//! `max_connections` are open at once, and a connection must deliver its
//! first request head within `header_read_timeout` or it is closed.
//!
//! A flood of slow connections (slowloris) must not lock out the callers who
//! send a request at once. So when the cap is reached, a new connection takes
//! the place of the oldest one that has not yet sent a complete request head;
//! only when every open connection has sent one is the new connection closed.
//! A connection that sends its head in time is left alone from then on.

mod closed;
mod gate;
mod guarded;
pub mod head;
mod limits;

pub use closed::{CLOSED_METRIC, ClosedCounters, ClosedLabels};
pub use gate::{Admission, Gate};
pub use guarded::{Guarded, GuardedListener};
pub use limits::{ConnectionLimits, descriptor_limit, fit_to_descriptors};

#[cfg(test)]
mod tests;
