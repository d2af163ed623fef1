//! Who is told about an answer when it is done: the metrics, under its
//! transport, and the log, in the request's span. Once per request, never
//! per book; the edges attach it, the book stream calls it when dropped.

use std::time::Instant;

use crate::metrics::Metrics;

/// How an answer's stream ended.
#[derive(Debug)]
pub enum Ended {
    /// Every book was sent.
    Complete,
    /// The source failed; the cause as the caller was told it.
    Failed(String),
    /// Dropped before its end: the caller left, its deadline passed, or the
    /// server is shutting down.
    StoppedEarly,
}

/// An answer's log line and metrics, waiting for its end.
#[derive(Debug)]
pub struct AnswerLog {
    transport: &'static str,
    metrics: Metrics,
    span: tracing::Span,
    started: Instant,
}

impl AnswerLog {
    /// `started` is when the request arrived, so the logged time covers the whole answer.
    pub fn new(
        transport: &'static str,
        metrics: &Metrics,
        span: &tracing::Span,
        started: Instant,
    ) -> Self {
        Self {
            transport,
            metrics: metrics.clone(),
            span: span.clone(),
            started,
        }
    }

    /// The request's span, for fields known before the first book.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// Counts the books sent and writes the answer's one log line.
    pub fn ended(self, books: u64, ended: &Ended) {
        if let Some(metrics) = &self.metrics {
            metrics.count_books(self.transport, books);
        }
        let outcome = match ended {
            Ended::Complete => "complete",
            Ended::Failed(_) => "failed",
            Ended::StoppedEarly => "stopped early",
        };
        self.span.record("books", books);
        let elapsed_ms = self.started.elapsed().as_millis() as u64;
        let transport = self.transport;
        match ended {
            Ended::Failed(cause) => tracing::warn!(
                parent: &self.span, books, elapsed_ms, outcome, transport,
                "books sent: {cause}"
            ),
            _ => tracing::info!(
                parent: &self.span, books, elapsed_ms, outcome, transport,
                "books sent"
            ),
        }
    }
}
