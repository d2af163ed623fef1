//! The client's Prometheus metrics, served at `GET /metrics` on the trigger
//! listener. Runs are counted when they end, servers when their health is
//! checked: never per book.

use std::{sync::Arc, time::Duration};

use bookstream::listener::{CLOSED_METRIC, ClosedCounters, ClosedLabels};

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

/// How a run ended.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    pub outcome: &'static str,
}

/// One recommendation server.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Server {
    pub server: String,
}

/// Run durations, in seconds: from a handful of books to ten million.
const RUN_SECONDS_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Every metric the client keeps, and the registry that renders them.
#[derive(Debug)]
pub struct ClientMetrics {
    registry: Registry,
    runs: Family<Outcome, Counter>,
    run_seconds: Histogram,
    books_received: Counter,
    retries: Counter,
    upstream_healthy: Family<Server, Gauge>,
    connections_closed: Family<ClosedLabels, Counter>,
}

/// The client's metrics; `None` where they are switched off.
pub type Metrics = Option<Arc<ClientMetrics>>;

impl ClientMetrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let metrics = Self {
            registry: Registry::default(),
            runs: Family::default(),
            run_seconds: Histogram::new(RUN_SECONDS_BUCKETS),
            books_received: Counter::default(),
            retries: Counter::default(),
            upstream_healthy: Family::default(),
            connections_closed: Family::default(),
        };
        registry.register(
            CLOSED_METRIC.0,
            CLOSED_METRIC.1,
            metrics.connections_closed.clone(),
        );
        registry.register(
            "bookstream_runs",
            "Runs of GET /<n> that ended, by outcome: complete (every book written), partial \
             (the stream broke for good; what arrived kept as .partial) or failed (no stream)",
            metrics.runs.clone(),
        );
        registry.register(
            "bookstream_run_duration_seconds",
            "Time from a trigger to its file written, or to giving up, in seconds",
            metrics.run_seconds.clone(),
        );
        registry.register(
            "bookstream_books_received",
            "Books received from the servers and written, over every run",
            metrics.books_received.clone(),
        );
        registry.register(
            "bookstream_run_retries",
            "Times a run resumed a broken stream or retried an unreachable server",
            metrics.retries.clone(),
        );
        registry.register(
            "bookstream_upstream_healthy",
            "Whether each recommendation server answered its last health check SERVING (1) or not (0)",
            metrics.upstream_healthy.clone(),
        );
        Self {
            registry,
            ..metrics
        }
    }

    /// The counters of the trigger listener's closed connections.
    pub fn closed_counters(&self) -> ClosedCounters {
        ClosedCounters::in_family(&self.connections_closed, "trigger")
    }

    /// Counts one run that ended.
    pub fn run_ended(&self, outcome: &'static str, elapsed: Duration, received: u64, retries: u32) {
        self.runs.get_or_create(&Outcome { outcome }).inc();
        self.run_seconds.observe(elapsed.as_secs_f64());
        self.books_received.inc_by(received);
        self.retries.inc_by(u64::from(retries));
    }

    /// Records a server's health.
    pub fn server_health(&self, server: &str, healthy: bool) {
        self.upstream_healthy
            .get_or_create(&Server {
                server: server.to_owned(),
            })
            .set(i64::from(healthy));
    }

    /// A server left the set: its health is no longer reported.
    pub fn forget_server(&self, server: &str) {
        self.upstream_healthy.remove(&Server {
            server: server.to_owned(),
        });
    }

    /// Every metric in Prometheus' text exposition format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

impl Default for ClientMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The content type of [`ClientMetrics::render`]'s text (OpenMetrics, which
/// Prometheus reads natively).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
