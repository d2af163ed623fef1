//! The one path every request for books takes, whatever its transport (the
//! gRPC stream, the gRPC batch, the REST JSON array, NDJSON): the request is
//! checked against the limits, it takes its place (a stream permit, or a
//! one-shot place), the catalog is asked for the books, and the answer's log
//! is attached. The edges (`grpc.rs`, `rest.rs`) only adapt the protocol.

use std::time::Instant;

use bookstream::StartFrom;
use tracing::Span;

use crate::{
    answer_log::AnswerLog,
    limits::{LimitError, Limits},
    metrics::Metrics,
    one_shot::{OneShotGate, OneShotPermit},
    source::{Books, Catalog, SourceError},
    streams::{StreamGauge, StreamPermit},
};

/// What a caller asks for, in any transport.
#[derive(Debug, Clone, Copy)]
pub struct Ask {
    pub user_id: u64,
    pub max_results: u64,
    /// The resume point: the first rank to send.
    pub start_at: u64,
    /// Stay for books appended later.
    pub follow: bool,
    pub start_from: StartFrom,
    /// With `StartFrom::Time`: ms since the Unix epoch.
    pub start_time_ms: u64,
}

impl Ask {
    /// Ranks `start_at..max_results` of `user_id`'s list, as requests always could.
    pub fn ranks(user_id: u64, max_results: u64, start_at: u64) -> Self {
        Self {
            user_id,
            max_results,
            start_at,
            follow: false,
            start_from: StartFrom::Rank,
            start_time_ms: 0,
        }
    }
}

/// Why a request gets no books; each edge says it in its protocol.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error(transparent)]
    Limit(#[from] LimitError),
    #[error(transparent)]
    Source(#[from] SourceError),
}

/// The server's shared parts an answer needs; cloned into every edge.
#[derive(Debug, Clone)]
pub struct Pipeline {
    limits: Limits,
    streams: StreamGauge,
    one_shot: OneShotGate,
    catalog: Catalog,
    metrics: Metrics,
}

impl Pipeline {
    pub fn new(
        limits: Limits,
        streams: StreamGauge,
        one_shot: OneShotGate,
        catalog: Catalog,
        metrics: Metrics,
    ) -> Self {
        Self {
            limits,
            streams,
            one_shot,
            catalog,
            metrics,
        }
    }

    /// The books of a streamed answer, holding one of `--max-streams` places.
    pub async fn stream(
        &self,
        transport: &'static str,
        ask: Ask,
        span: &Span,
        started: Instant,
    ) -> Result<(Books, StreamPermit), Refusal> {
        self.answer(transport, ask, true, span, started, |this| {
            this.streams.try_start()
        })
        .await
    }

    /// The books of a one-shot answer, holding one of `--max-one-shot` places.
    pub async fn one_shot(
        &self,
        transport: &'static str,
        ask: Ask,
        span: &Span,
        started: Instant,
    ) -> Result<(Books, OneShotPermit), Refusal> {
        self.answer(transport, ask, false, span, started, |this| {
            this.one_shot.try_start()
        })
        .await
    }

    /// Limits first, then the place `take` takes, then the catalog.
    async fn answer<P>(
        &self,
        transport: &'static str,
        ask: Ask,
        streamed: bool,
        span: &Span,
        started: Instant,
        take: impl FnOnce(&Self) -> Result<P, LimitError>,
    ) -> Result<(Books, P), Refusal> {
        let selection = self.limits.select(&ask, streamed)?;
        let place = take(self)?;
        let books = self.catalog.books(&selection).await?.logged(AnswerLog::new(
            transport,
            &self.metrics,
            span,
            started,
        ));
        Ok((books, place))
    }

    /// The largest one-shot answer, in bytes.
    pub fn max_message_bytes(&self) -> usize {
        self.limits.max_message_bytes
    }

    /// Streams in flight now.
    pub fn active_streams(&self) -> usize {
        self.streams.active()
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipeline() -> Pipeline {
        Pipeline::new(
            Limits {
                max_results: 1_000,
                max_message_bytes: 1 << 20,
            },
            StreamGauge::new(1),
            OneShotGate::new(1),
            Catalog::generated(),
            None,
        )
    }

    fn ask(max_results: u64) -> Ask {
        Ask::ranks(3, max_results, 0)
    }

    #[tokio::test]
    async fn streams_and_one_shot_answers_take_places_of_their_own_kind() {
        let pipeline = pipeline();
        let span = Span::none();
        let (books, permit) = pipeline
            .stream("grpc", ask(10), &span, Instant::now())
            .await
            .expect("a stream place is free");
        assert_eq!(books.announced, crate::source::Announced::Count(10));
        assert_eq!(pipeline.active_streams(), 1);
        let refused = pipeline
            .stream("ndjson", ask(10), &span, Instant::now())
            .await;
        assert!(matches!(refused, Err(Refusal::Limit(_))));
        // A one-shot answer does not count against the streams.
        let (_, place) = pipeline
            .one_shot("json", ask(10), &span, Instant::now())
            .await
            .expect("a one-shot place is free");
        let refused = pipeline
            .one_shot("batch", ask(10), &span, Instant::now())
            .await;
        assert!(matches!(refused, Err(Refusal::Limit(_))));
        drop((permit, place));
        assert_eq!(pipeline.active_streams(), 0);
    }

    #[tokio::test]
    async fn a_request_past_the_limits_is_refused_before_it_takes_a_place() {
        let pipeline = pipeline();
        let refused = pipeline
            .stream("grpc", ask(1_001), &Span::none(), Instant::now())
            .await;
        assert!(matches!(refused, Err(Refusal::Limit(_))));
        assert_eq!(pipeline.active_streams(), 0);
    }
}
