//! The `bookstream_connections_closed` counters: why a listener closed a
//! connection itself.

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family},
};

/// Why a listener closed a connection itself; one counter each, so an
/// operator sees a flood in `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct ClosedCounters {
    /// Closed on accept: the cap was reached and every open connection had
    /// sent a request.
    pub limit: Counter,
    /// Closed to make room for a new connection while it still had not sent
    /// a complete request head.
    pub shed: Counter,
    /// Closed because its first request head did not arrive in time.
    pub header_timeout: Counter,
}

/// The labels of `bookstream_connections_closed`: which listener, and why.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClosedLabels {
    pub listener: &'static str,
    pub reason: &'static str,
}

/// The metric's name and help, the same in every binary.
pub const CLOSED_METRIC: (&str, &str) = (
    "bookstream_connections_closed",
    "Connections a listener closed itself, by listener and reason: limit (refused at the \
     connection cap), shed (gave way to a new connection before sending a request), \
     header_timeout (no complete request head within the header read timeout)",
);

impl ClosedCounters {
    /// The counters of one listener, taken from the metric's family.
    pub fn in_family(family: &Family<ClosedLabels, Counter>, listener: &'static str) -> Self {
        let counter = |reason| {
            family
                .get_or_create(&ClosedLabels { listener, reason })
                .clone()
        };
        Self {
            limit: counter("limit"),
            shed: counter("shed"),
            header_timeout: counter("header_timeout"),
        }
    }
}
