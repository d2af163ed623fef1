//! The REST/JSON twin: the same catalog books as the gRPC calls, as one JSON
//! array (`/recommendations`) or streamed as NDJSON (`/recommendations/stream`).

use std::ops::Range;

use axum::{
    Json, Router,
    body::Body,
    extract::{Query, State, rejection::QueryRejection},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use bookstream::catalog;
use bytes::Bytes;
use serde::Deserialize;
use tower_http::trace::TraceLayer;

use crate::{
    limits::{LimitError, Limits},
    streams::{Counted, SHUTTING_DOWN, ShutdownItem, StreamGauge},
};

/// Books per NDJSON chunk: hyper sends every chunk as its own frame, so one
/// book per chunk would spend far more on framing than on books.
const BOOKS_PER_CHUNK: u64 = 1000;
/// A typical book is about 150 bytes of JSON; sizing buffers from it avoids regrowth.
const TYPICAL_JSON_BOOK_BYTES: usize = 160;

/// What every REST handler shares.
#[derive(Debug, Clone)]
struct RestState {
    limits: Limits,
    streams: StreamGauge,
}

/// The REST router, with the server's limits and its stream gauge (shared
/// with the gRPC service, so one limit covers both kinds of stream).
pub fn app(limits: Limits, streams: StreamGauge) -> Router {
    Router::new()
        .route("/recommendations", get(recommendations))
        .route("/recommendations/stream", get(recommendations_stream))
        .route("/health", get(health))
        .with_state(RestState { limits, streams })
        .layer(TraceLayer::new_for_http())
}

/// Up, and how many streams are in flight.
async fn health(State(state): State<RestState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok", "active_streams": state.streams.active() }))
}

#[derive(Debug, Deserialize)]
struct RecommendationQuery {
    /// Absent means user 0, as an unset field does in the gRPC request.
    #[serde(default)]
    user_id: u64,
    max_results: u64,
    /// The resume point, as in the gRPC request: the first id to send.
    #[serde(default)]
    start_at: u64,
}

async fn recommendations(
    State(RestState { limits, .. }): State<RestState>,
    query: Result<Query<RecommendationQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let ids = limits.check_request(query.max_results, query.start_at)?;
    let limit_bytes = limits.max_message_bytes;
    // Serialising a large array is CPU work; keep it off the async workers.
    let body = tokio::task::spawn_blocking(move || json_array(query.user_id, ids, limit_bytes))
        .await
        .map_err(|error| ApiError::Internal(error.to_string()))??;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

async fn recommendations_stream(
    State(RestState { limits, streams }): State<RestState>,
    query: Result<Query<RecommendationQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let ids = limits.check_request(query.max_results, query.start_at)?;
    let permit = streams.try_start()?;
    let chunks = ndjson_chunks(query.user_id, ids);
    let body = Body::from_stream(Counted::new(futures::stream::iter(chunks), permit));
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}

/// The JSON array of the books with `ids`, serialised into one pre-sized
/// buffer and refused as soon as it would pass `limit_bytes`.
pub fn json_array(
    user_id: u64,
    ids: Range<u64>,
    limit_bytes: usize,
) -> Result<Vec<u8>, LimitError> {
    let count = ids.end - ids.start;
    let estimate = (count as usize).saturating_mul(TYPICAL_JSON_BOOK_BYTES);
    let mut body = Vec::with_capacity(estimate.min(limit_bytes).saturating_add(2));
    body.push(b'[');
    for (fitting, book) in catalog::books(user_id, ids).enumerate() {
        if fitting > 0 {
            body.push(b',');
        }
        serde_json::to_writer(&mut body, &book).expect("a book always serialises to JSON");
        if body.len() + 1 > limit_bytes {
            return Err(LimitError::AnswerTooLarge {
                requested: count,
                limit_bytes,
                books_fitting: fitting as u64,
                streaming_alternative: "GET /recommendations/stream",
            });
        }
    }
    body.push(b']');
    Ok(body)
}

/// NDJSON for the books with `ids`, produced lazily one chunk at a time as
/// the body is sent.
pub fn ndjson_chunks(
    user_id: u64,
    ids: Range<u64>,
) -> impl Iterator<Item = Result<Bytes, NdjsonError>> + Send + 'static {
    let end_of_result = ids.end;
    ids.step_by(BOOKS_PER_CHUNK as usize).map(move |start| {
        let end = (start + BOOKS_PER_CHUNK).min(end_of_result);
        let mut chunk = Vec::with_capacity((end - start) as usize * TYPICAL_JSON_BOOK_BYTES);
        for book in catalog::books(user_id, start..end) {
            serde_json::to_writer(&mut chunk, &book).map_err(NdjsonError::Serialise)?;
            chunk.push(b'\n');
        }
        Ok(Bytes::from(chunk))
    })
}

/// Why an NDJSON body stopped before its last book; hyper then aborts the
/// chunked body, so the caller sees an incomplete answer, never a short one.
#[derive(Debug, thiserror::Error)]
pub enum NdjsonError {
    #[error("serialising a book failed: {0}")]
    Serialise(serde_json::Error),
    #[error("{SHUTTING_DOWN}")]
    ShuttingDown,
    #[error("the caller's deadline passed")]
    DeadlineExceeded,
}

impl ShutdownItem for Result<Bytes, NdjsonError> {
    fn shutting_down() -> Self {
        Err(NdjsonError::ShuttingDown)
    }

    fn deadline_exceeded() -> Self {
        Err(NdjsonError::DeadlineExceeded)
    }
}

/// Why a REST request was not answered; each variant is one HTTP status.
#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error("{}", .0.body_text())]
    BadQuery(#[from] QueryRejection),
    #[error(transparent)]
    Limit(#[from] LimitError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::Limit(LimitError::TooManyStreams { .. }) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::BadQuery(_) | ApiError::Limit(_) => StatusCode::BAD_REQUEST,
            ApiError::Internal(detail) => {
                tracing::error!("REST request failed: {detail}");
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
    use super::*;

    #[test]
    fn the_json_array_holds_the_catalog_books_in_order() {
        let body = json_array(9, 0..30, 1 << 20).unwrap();
        let books: Vec<bookstream::BookRecommendation> = serde_json::from_slice(&body).unwrap();
        assert_eq!(books, catalog::books(9, 0..30).collect::<Vec<_>>());
    }

    #[test]
    fn a_json_array_over_the_limit_is_refused_with_a_pointer_to_the_stream() {
        let error = json_array(9, 0..1000, 4096).unwrap_err();
        assert!(
            error.to_string().contains("/recommendations/stream"),
            "{error}"
        );
    }

    #[test]
    fn ndjson_chunks_split_the_books_without_losing_or_repeating_any() {
        let text: Vec<u8> = ndjson_chunks(2, 0..2500)
            .map(|chunk| chunk.unwrap())
            .flat_map(|chunk| chunk.to_vec())
            .collect();
        let books: Vec<bookstream::BookRecommendation> = text
            .split(|byte| *byte == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| serde_json::from_slice(line).unwrap())
            .collect();
        assert_eq!(books, catalog::books(2, 0..2500).collect::<Vec<_>>());
        assert_eq!(ndjson_chunks(2, 0..2500).count(), 3);
    }
}
