//! Span export that says when it fails. The OTLP exporter alone drops a
//! batch it cannot send without a word in Bookstream's log, so a collector
//! that is down or misnamed looked the same as tracing switched off.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    trace::{SpanData, SpanExporter},
};

/// At most one warning per this long, however many batches fail.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// Wraps an exporter; warns, rate-limited, when a batch is not exported.
#[derive(Debug)]
pub(super) struct Warning<E> {
    inner: E,
    endpoint: String,
    /// When the last warning was given, and batches lost since.
    last: Mutex<(Option<Instant>, u64)>,
}

impl<E> Warning<E> {
    pub(super) fn new(inner: E, endpoint: String) -> Self {
        Self {
            inner,
            endpoint,
            last: Mutex::new((None, 0)),
        }
    }

    fn failed(&self, spans: usize, error: &dyn std::fmt::Display) {
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        last.1 += 1;
        if last.0.is_some_and(|at| at.elapsed() < WARN_EVERY) {
            return;
        }
        let lost = std::mem::take(&mut last.1);
        last.0 = Some(Instant::now());
        drop(last);
        tracing::warn!(
            endpoint = %self.endpoint,
            spans,
            batches_lost = lost,
            "exporting spans to {} failed: {error} (said at most once a minute)",
            self.endpoint
        );
    }
}

impl<E: SpanExporter> SpanExporter for Warning<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        let result = self.inner.export(batch).await;
        if let Err(error) = &result {
            self.failed(spans, error);
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
