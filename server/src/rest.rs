//! The REST/JSON twin: the same books as the gRPC calls, from the same
//! catalog, as one JSON array (`/recommendations`) or streamed as NDJSON
//! (`/recommendations/stream`); and `POST /recommendations`, the twin of
//! `Append` (in `append.rs`).

use std::time::Instant;

use axum::{
    Json, Router,
    body::Body,
    extract::DefaultBodyLimit,
    extract::{Query, State, rejection::QueryRejection},
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header},
    middleware::from_fn_with_state,
    response::{IntoResponse, Response},
    routing::get,
};
use bookstream::{
    COUNT_HEADER, FOLLOW_HEADER, START_RANK_HEADER,
    catalog::BookBuf,
    telemetry::{self, HeaderSource},
};
use bytes::Bytes;
use futures::StreamExt;
use tower_http::trace::TraceLayer;
use tracing::{Instrument, Span, field::Empty};

mod append;
mod ndjson;
mod query;

pub use ndjson::{NdjsonChunks, NdjsonError};
use query::RecommendationQuery;

use crate::{
    auth::{self, TokenCheck, WriteAccess},
    health::CatalogHealth,
    ingest::Appender,
    limits::LimitError,
    metrics::{self, Metrics, ServerMetrics},
    pipeline::{Pipeline, Refusal},
    source::{Announced, BookStream, Books, SourceError},
    streams::Supervised,
    work,
};

/// A typical book is about 150 bytes of JSON; sizing buffers from it avoids regrowth.
const TYPICAL_JSON_BOOK_BYTES: usize = 160;

/// What the REST listener is made of.
#[derive(Debug, Clone)]
pub struct RestParts {
    /// Shared with the gRPC service: one stream cap and one one-shot cap
    /// cover both listeners.
    pub pipeline: Pipeline,
    /// Shared with the gRPC `Append`.
    pub appender: Appender,
    pub writes: WriteAccess,
    /// Largest `POST /recommendations` body, in bytes.
    pub max_append_body_bytes: usize,
    /// What the catalog's last health check said.
    pub health: CatalogHealth,
    pub metrics: Metrics,
    pub token: TokenCheck,
}

/// What every REST handler shares.
#[derive(Debug, Clone)]
struct RestState {
    pipeline: Pipeline,
    appender: Appender,
    writes: WriteAccess,
    health: CatalogHealth,
}

/// The REST router. Routes that return books need the token, when there is
/// one; `/health` and `/metrics` answer without it, for probes and scrapers.
pub fn app(parts: RestParts) -> Router {
    let RestParts {
        pipeline,
        appender,
        writes,
        max_append_body_bytes,
        health,
        metrics,
        token,
    } = parts;
    let books = Router::new()
        .route(
            "/recommendations",
            get(recommendations)
                .post(append::append)
                .layer(DefaultBodyLimit::max(max_append_body_bytes)),
        )
        .route("/recommendations/stream", get(recommendations_stream))
        .route_layer(from_fn_with_state(token, auth::require_token));
    let mut open = Router::new().route("/health", get(health_check));
    if let Some(metrics) = metrics.clone() {
        open = open.route(
            "/metrics",
            get(move || async move { metrics_page(&metrics) }),
        );
    }
    let mut app = books.merge(open).with_state(RestState {
        pipeline,
        appender,
        writes,
        health,
    });
    if let Some(metrics) = metrics {
        app = app.route_layer(from_fn_with_state(metrics, metrics::http::track));
    }
    // A 503 while the store is down is expected, and told by the catalog's
    // health; the server's own faults are logged at ERROR where they happen.
    app.layer(
        TraceLayer::new_for_http()
            .on_failure(tower_http::trace::DefaultOnFailure::new().level(tracing::Level::WARN)),
    )
}

/// Every metric, for Prometheus.
fn metrics_page(metrics: &ServerMetrics) -> Response {
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        metrics.render(),
    )
        .into_response()
}

/// The span of one REST request, continuing the caller's trace.
fn request_span(route: &'static str, query: &RecommendationQuery, headers: &HeaderMap) -> Span {
    let span = tracing::info_span!(
        "rest",
        route,
        user_id = query.user_id,
        start_at = query.start_at,
        max_results = query.max_results.unwrap_or(0),
        follow = query.follow,
        count = Empty,
        books = Empty,
        trace_id = Empty
    );
    telemetry::continue_trace(&span, &HeaderSource(headers));
    telemetry::record_trace_id(&span);
    span
}

/// Up, how many streams are in flight, and whether the catalog serves (503 when not).
async fn health_check(State(state): State<RestState>) -> Response {
    let active_streams = state.pipeline.active_streams();
    let catalog = state.pipeline.catalog().name();
    match state.health.problem() {
        None => Json(serde_json::json!({
            "status": "ok", "active_streams": active_streams, "catalog": catalog,
        }))
        .into_response(),
        Some(problem) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({
                "status": "unavailable", "active_streams": active_streams,
                "catalog": catalog, "error": problem,
            })),
        )
            .into_response(),
    }
}

async fn recommendations(
    State(state): State<RestState>,
    headers: HeaderMap,
    query: Result<Query<RecommendationQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let Query(query) = query?;
    let span = request_span("/recommendations", &query, &headers);
    json_answer(state, query, &span, started)
        .instrument(span.clone())
        .await
}

async fn json_answer(
    state: RestState,
    query: RecommendationQuery,
    span: &Span,
    started: Instant,
) -> Result<Response, ApiError> {
    let (Books { announced, stream }, place) = state
        .pipeline
        .one_shot("json", query.ask()?, span, started)
        .await?;
    let count = announced.count();
    let limit_bytes = state.pipeline.max_message_bytes();
    // Serialising a large array is CPU work; keep it off the async workers.
    let body = work::off_the_workers(json_array(stream, count, limit_bytes))
        .await
        .map_err(ApiError::Worker)??;
    // The place is given back once the body has gone out, not once it is built.
    let body = Body::new(crate::one_shot::HeldBody::new(Bytes::from(body), place));
    Ok(books_response("application/json", announced, body))
}

async fn recommendations_stream(
    State(state): State<RestState>,
    headers: HeaderMap,
    query: Result<Query<RecommendationQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let Query(query) = query?;
    let span = request_span("/recommendations/stream", &query, &headers);
    ndjson_answer(state, query, &span, started)
        .instrument(span.clone())
        .await
}

async fn ndjson_answer(
    state: RestState,
    query: RecommendationQuery,
    span: &Span,
    started: Instant,
) -> Result<Response, ApiError> {
    let (Books { announced, stream }, permit) = state
        .pipeline
        .stream("ndjson", query.ask()?, span, started)
        .await?;
    let body = Body::from_stream(Supervised::new(NdjsonChunks::new(stream), permit));
    Ok(books_response("application/x-ndjson", announced, body))
}

/// An answer with what it announces before its first book: a count, or
/// that it follows and from which rank.
fn books_response(
    content_type: &'static str,
    announced: Announced,
    body: impl IntoResponse,
) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    match announced {
        Announced::Count(count) => {
            headers.insert(
                HeaderName::from_static(COUNT_HEADER),
                HeaderValue::from(count),
            );
        }
        Announced::Follow { start } => {
            headers.insert(
                HeaderName::from_static(FOLLOW_HEADER),
                HeaderValue::from_static("true"),
            );
            headers.insert(
                HeaderName::from_static(START_RANK_HEADER),
                HeaderValue::from(start),
            );
        }
    }
    response
}

/// The JSON array of `books`, serialised into one pre-sized buffer and
/// refused as soon as it would pass `limit_bytes`.
pub async fn json_array(
    mut books: BookStream,
    count: u64,
    limit_bytes: usize,
) -> Result<Vec<u8>, ApiError> {
    let estimate = usize::try_from(count)
        .unwrap_or(usize::MAX)
        .saturating_mul(TYPICAL_JSON_BOOK_BYTES);
    let mut body = Vec::with_capacity(estimate.min(limit_bytes).saturating_add(2));
    body.push(b'[');
    let mut fitting = 0u64;
    let mut scratch = BookBuf::default();
    while let Some(book) = books.next().await {
        if fitting > 0 {
            body.push(b',');
        }
        serde_json::to_writer(&mut body, &book?.view(&mut scratch)).map_err(ApiError::Json)?;
        if body.len() + 1 > limit_bytes {
            return Err(LimitError::AnswerTooLarge {
                requested: count,
                limit_bytes,
                books_fitting: fitting,
                streaming_alternative: "GET /recommendations/stream",
            }
            .into());
        }
        fitting += 1;
    }
    body.push(b']');
    Ok(body)
}

/// Why a REST request was not answered; each variant is one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{}", .0.body_text())]
    BadQuery(#[from] QueryRejection),
    #[error("{0}")]
    BadTime(String),
    #[error(transparent)]
    Limit(#[from] LimitError),
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The task that built the answer stopped.
    #[error("building the answer stopped: {0}")]
    Worker(#[source] tokio::task::JoinError),
    /// A book could not be written as JSON.
    #[error("writing a book as JSON failed: {0}")]
    Json(#[source] serde_json::Error),
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Limit(error) => error.into(),
            Refusal::Source(error) => error.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::Limit(
                LimitError::TooManyStreams { .. } | LimitError::TooManyOneShot { .. },
            ) => {
                // Busy, not wrong: say when to come back.
                let body = serde_json::json!({ "error": self.to_string() });
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, HeaderValue::from_static("1"))],
                    Json(body),
                )
                    .into_response();
            }
            ApiError::BadQuery(_) | ApiError::BadTime(_) | ApiError::Limit(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::Source(SourceError::UnknownUser { .. }) => StatusCode::NOT_FOUND,
            ApiError::Source(SourceError::Expired { earliest, .. }) => {
                // Gone for good: the body names the earliest rank kept, for programs.
                let body = serde_json::json!({
                    "error": self.to_string(), "earliest_rank": earliest,
                });
                return (StatusCode::GONE, Json(body)).into_response();
            }
            ApiError::Source(SourceError::PastEnd { .. }) => StatusCode::RANGE_NOT_SATISFIABLE,
            ApiError::Source(SourceError::NeverGrows { .. }) => StatusCode::CONFLICT,
            ApiError::Source(
                SourceError::Unavailable { .. }
                | SourceError::Empty { .. }
                | SourceError::ShuttingDown,
            ) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Source(SourceError::Inconsistent { .. }) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Source(SourceError::Failed { .. })
            | ApiError::Worker(_)
            | ApiError::Json(_) => {
                // As an error value, so the log shows its chain of sources.
                tracing::error!(
                    error = &self as &dyn std::error::Error,
                    "a REST request failed"
                );
                let body = serde_json::json!({ "error": "internal server error" });
                return (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response();
            }
        };
        (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use bookstream::{BookRecommendation, catalog};

    use super::*;

    #[tokio::test]
    async fn the_json_array_holds_the_catalog_books_in_order() {
        let body = json_array(BookStream::generated(9, 0..30), 30, 1 << 20)
            .await
            .unwrap();
        let books: Vec<BookRecommendation> = serde_json::from_slice(&body).unwrap();
        assert_eq!(books, catalog::books(9, 0..30).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_json_array_over_the_limit_is_refused_with_a_pointer_to_the_stream() {
        let error = json_array(BookStream::generated(9, 0..1000), 1000, 4096)
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("/recommendations/stream"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn ndjson_chunks_split_the_books_without_losing_or_repeating_any() {
        let chunks: Vec<Bytes> = NdjsonChunks::new(BookStream::generated(2, 0..2500))
            .map(|chunk| chunk.unwrap())
            .collect()
            .await;
        assert_eq!(chunks.len(), 3);
        let books: Vec<BookRecommendation> = chunks
            .iter()
            .flat_map(|chunk| chunk.split(|byte| *byte == b'\n'))
            .filter(|line| !line.is_empty())
            .map(|line| serde_json::from_slice(line).unwrap())
            .collect();
        assert_eq!(books, catalog::books(2, 0..2500).collect::<Vec<_>>());
    }
}
