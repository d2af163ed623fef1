//! The server's Prometheus metrics, served at `GET /metrics` on the REST
//! listener. The gRPC families carry the conventional names and labels
//! (`grpc_server_*`), so existing dashboards and alerts work unchanged.
//!
//! Counting happens where work finishes: once per request, per stream or
//! per page read, never per book.

pub mod grpc;
pub mod http;

use std::sync::Arc;

use bookstream::listener::{CLOSED_METRIC, ClosedCounters, ClosedLabels};

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

/// Latency buckets, in seconds: from a fast page read to a ten-million-book stream.
const SECONDS_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0,
];

/// An RPC: the labels of `grpc_server_started_total`, `grpc_server_msg_sent_total`
/// and `grpc_server_handling_seconds`.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GrpcMethod {
    pub grpc_type: &'static str,
    pub grpc_service: &'static str,
    pub grpc_method: &'static str,
}

/// An RPC and how it ended: the labels of `grpc_server_handled_total`.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GrpcOutcome {
    pub grpc_type: &'static str,
    pub grpc_service: &'static str,
    pub grpc_method: &'static str,
    pub grpc_code: &'static str,
}

/// A REST answer: the labels of `http_requests_total` and `http_request_duration_seconds`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpRoute {
    pub route: String,
    pub status: u16,
}

/// How books left the server.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Transport {
    pub transport: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn seconds_histogram() -> Histogram {
    Histogram::new(SECONDS_BUCKETS)
}

/// Every metric the server keeps, and the registry that renders them.
#[derive(Debug)]
pub struct ServerMetrics {
    registry: Registry,
    pub grpc_started: Family<GrpcMethod, Counter>,
    pub grpc_handled: Family<GrpcOutcome, Counter>,
    pub grpc_msg_sent: Family<GrpcMethod, Counter>,
    pub grpc_handling_seconds: HistogramFamily<GrpcMethod>,
    pub http_requests: Family<HttpRoute, Counter>,
    pub http_duration_seconds: HistogramFamily<HttpRoute>,
    pub books_sent: Family<Transport, Counter>,
    pub active_streams: Gauge,
    pub connections_closed: Family<ClosedLabels, Counter>,
    pub catalog_read_seconds: Histogram,
    pub books_appended: Family<Transport, Counter>,
    pub appends_duplicate: Family<Transport, Counter>,
    pub append_seconds: HistogramFamily<Transport>,
    pub followers: Gauge,
    pub follow_books: Counter,
    pub follow_lag_seconds: Histogram,
    pub books_expired: Counter,
}

/// The server's metrics, shared by its edges; `None` where they are switched off.
pub type Metrics = Option<Arc<ServerMetrics>>;

/// The counters of one listener's closed connections (unregistered when
/// metrics are off: the gate counts either way).
pub fn closed_counters(metrics: &Metrics, listener: &'static str) -> ClosedCounters {
    match metrics {
        Some(metrics) => ClosedCounters::in_family(&metrics.connections_closed, listener),
        None => ClosedCounters::default(),
    }
}

impl ServerMetrics {
    /// The metrics, with `active_streams` the server's own stream count and
    /// `followers` its followers now.
    pub fn new(active_streams: Gauge, followers: Gauge) -> Self {
        let mut registry = Registry::default();
        let metrics = Self {
            grpc_started: Family::default(),
            grpc_handled: Family::default(),
            grpc_msg_sent: Family::default(),
            grpc_handling_seconds: Family::new_with_constructor(seconds_histogram),
            http_requests: Family::default(),
            http_duration_seconds: Family::new_with_constructor(seconds_histogram),
            books_sent: Family::default(),
            active_streams,
            connections_closed: Family::default(),
            catalog_read_seconds: seconds_histogram(),
            books_appended: Family::default(),
            appends_duplicate: Family::default(),
            append_seconds: Family::new_with_constructor(seconds_histogram),
            followers,
            follow_books: Counter::default(),
            follow_lag_seconds: seconds_histogram(),
            books_expired: Counter::default(),
            registry: Registry::default(),
        };
        registry.register(
            "grpc_server_started",
            "RPCs started on the server, by type, service and method",
            metrics.grpc_started.clone(),
        );
        registry.register(
            "grpc_server_handled",
            "RPCs completed on the server, by type, service, method and status code \
             (Canceled: the caller left before the end)",
            metrics.grpc_handled.clone(),
        );
        registry.register(
            "grpc_server_msg_sent",
            "Messages sent by the server: one per book on Recommend, one per answer on unary RPCs",
            metrics.grpc_msg_sent.clone(),
        );
        registry.register(
            "grpc_server_handling_seconds",
            "Time from an RPC's start to its last message, in seconds",
            metrics.grpc_handling_seconds.clone(),
        );
        registry.register(
            "http_requests",
            "REST requests answered, by route and HTTP status",
            metrics.http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer a REST request (to its headers; NDJSON bodies stream on), by route and status",
            metrics.http_duration_seconds.clone(),
        );
        registry.register(
            "bookstream_books_sent",
            "Books sent, by transport: grpc (Recommend), batch (RecommendBatch), ndjson and json (the REST twins)",
            metrics.books_sent.clone(),
        );
        registry.register(
            "bookstream_active_streams",
            "Streams in flight right now (Recommend and NDJSON together)",
            metrics.active_streams.clone(),
        );
        registry.register(
            CLOSED_METRIC.0,
            CLOSED_METRIC.1,
            metrics.connections_closed.clone(),
        );
        registry.register(
            "bookstream_catalog_read_seconds",
            "Time to read one page of books from the catalog's store, in seconds",
            metrics.catalog_read_seconds.clone(),
        );
        registry.register(
            "bookstream_books_appended",
            "Books committed by appends, by transport: grpc (Append) and rest (POST /recommendations)",
            metrics.books_appended.clone(),
        );
        registry.register(
            "bookstream_append_duplicates",
            "Batches sent again after they were committed: acknowledged, not written twice, by transport",
            metrics.appends_duplicate.clone(),
        );
        registry.register(
            "bookstream_append_batch_seconds",
            "Time from a batch's arrival to its commit (or its earlier answer), in seconds, by transport",
            metrics.append_seconds.clone(),
        );
        registry.register(
            "bookstream_followers",
            "Streams following a list now (follow=true), waiting or sending",
            metrics.followers.clone(),
        );
        registry.register(
            "bookstream_follow_books",
            "Books sent to followers, those that existed when they came and those appended since",
            metrics.follow_books.clone(),
        );
        registry.register(
            "bookstream_follow_lag_seconds",
            "Delivery lag: from this server learning of a commit (its own append, a NOTIFY, a \
             changed SQLite file) to the first book of it being sent to a waiting follower",
            metrics.follow_lag_seconds.clone(),
        );
        registry.register(
            "bookstream_books_expired",
            "Books removed by retention (--retention-books, --retention-age)",
            metrics.books_expired.clone(),
        );
        Self {
            registry,
            ..metrics
        }
    }

    /// Every metric in Prometheus' text exposition format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }

    /// Counts books sent over `transport`.
    pub fn count_books(&self, transport: &'static str, books: u64) {
        self.books_sent
            .get_or_create(&Transport { transport })
            .inc_by(books);
        // The streaming RPC sends each book as its own message; the metering
        // layer sees only the response body, not the messages in it.
        if transport == "grpc" {
            self.grpc_msg_sent
                .get_or_create(&grpc::RECOMMEND)
                .inc_by(books);
        }
    }
}

/// The content type of [`ServerMetrics::render`]'s text (OpenMetrics, which
/// Prometheus reads natively).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
