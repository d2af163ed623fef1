//! The gRPC edge: the streaming `Recommend` and its unary twin `RecommendBatch`.

use std::{iter, ops::Range};

use bookstream::{
    BookRecommendation, BookRecommendations, RecommendationRequest, catalog,
    pb::recommendations_server::{Recommendations, RecommendationsServer},
};
use futures::stream;
use prost::Message;
use tonic::{Request, Response, Status};

use crate::{
    deadline,
    limits::{LimitError, Limits},
    streams::{Counted, SHUTTING_DOWN, ShutdownItem, StreamGauge},
};

/// The stream handed to h2: books are generated only as flow control asks for
/// them, so memory stays flat for any count, and dropping the stream when the
/// caller leaves stops the work.
pub type RecommendStream = Counted<
    stream::Iter<
        iter::Map<catalog::Books, fn(BookRecommendation) -> Result<BookRecommendation, Status>>,
    >,
>;

/// The `Recommendations` service over the deterministic catalog.
#[derive(Debug, Clone)]
pub struct RecommendationService {
    limits: Limits,
    streams: StreamGauge,
}

impl RecommendationService {
    pub fn new(limits: Limits, streams: StreamGauge) -> Self {
        Self { limits, streams }
    }

    /// The tonic service, with the encoder allowed to send the largest
    /// one-shot answer the limits permit.
    pub fn into_server(self) -> RecommendationsServer<Self> {
        let max_message_bytes = self.limits.max_message_bytes;
        RecommendationsServer::new(self).max_encoding_message_size(max_message_bytes)
    }
}

#[tonic::async_trait]
impl Recommendations for RecommendationService {
    type RecommendStream = RecommendStream;

    #[tracing::instrument(name = "Recommend", skip_all,
        fields(user_id = request.get_ref().user_id, max_results = request.get_ref().max_results,
               start_at = request.get_ref().start_at))]
    async fn recommend(
        &self,
        request: Request<RecommendationRequest>,
    ) -> Result<Response<Self::RecommendStream>, Status> {
        let deadline = deadline::from_metadata(request.metadata());
        let RecommendationRequest {
            user_id,
            max_results,
            start_at,
        } = request.into_inner();
        let ids = self.limits.check_request(max_results, start_at)?;
        let permit = self.streams.try_start()?;
        tracing::info!("streaming books {ids:?}");
        let books = catalog::books(user_id, ids).map(Ok as fn(_) -> _);
        Ok(Response::new(
            Counted::new(stream::iter(books), permit).with_deadline(deadline),
        ))
    }

    #[tracing::instrument(name = "RecommendBatch", skip_all,
        fields(user_id = request.get_ref().user_id, max_results = request.get_ref().max_results,
               start_at = request.get_ref().start_at))]
    async fn recommend_batch(
        &self,
        request: Request<RecommendationRequest>,
    ) -> Result<Response<BookRecommendations>, Status> {
        let RecommendationRequest {
            user_id,
            max_results,
            start_at,
        } = request.into_inner();
        let ids = self.limits.check_request(max_results, start_at)?;
        let limit_bytes = self.limits.max_message_bytes;
        // Building a large answer is CPU work; keep it off the async workers.
        let answer = tokio::task::spawn_blocking(move || batch(user_id, ids, limit_bytes))
            .await
            .map_err(|error| Status::internal(format!("building the answer failed: {error}")))??;
        tracing::info!("answering {} books in one message", answer.books.len());
        Ok(Response::new(answer))
    }
}

/// The books with `ids` in one message, refused as soon as the encoded
/// message would pass `limit_bytes`, so memory never exceeds the limit either.
pub fn batch(
    user_id: u64,
    ids: Range<u64>,
    limit_bytes: usize,
) -> Result<BookRecommendations, LimitError> {
    let count = ids.end - ids.start;
    // The smallest encoded book is well over 32 bytes: no reservation beyond the limit.
    let capacity = count.min((limit_bytes / 32) as u64) as usize;
    let mut books = Vec::with_capacity(capacity);
    let mut encoded_len = 0usize;
    for book in catalog::books(user_id, ids) {
        let book_len = book.encoded_len();
        // Each repeated field entry: one tag byte, a length prefix, the book.
        encoded_len += 1 + prost::length_delimiter_len(book_len) + book_len;
        if encoded_len > limit_bytes {
            return Err(LimitError::AnswerTooLarge {
                requested: count,
                limit_bytes,
                books_fitting: books.len() as u64,
                streaming_alternative: "the streaming Recommend RPC",
            });
        }
        books.push(book);
    }
    Ok(BookRecommendations { books })
}

impl ShutdownItem for Result<BookRecommendation, Status> {
    fn shutting_down() -> Self {
        Err(Status::unavailable(SHUTTING_DOWN))
    }

    fn deadline_exceeded() -> Self {
        Err(Status::deadline_exceeded(
            "the caller's deadline (grpc-timeout) passed before the last book",
        ))
    }
}

impl From<LimitError> for Status {
    fn from(error: LimitError) -> Self {
        match error {
            LimitError::NoBooksRequested
            | LimitError::TooManyBooks { .. }
            | LimitError::ResumePastEnd { .. } => Status::invalid_argument(error.to_string()),
            LimitError::AnswerTooLarge { .. } | LimitError::TooManyStreams { .. } => {
                Status::resource_exhausted(error.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_holds_the_catalog_books_in_order() {
        let answer = batch(4, 0..50, 1 << 20).unwrap();
        assert_eq!(answer.books, catalog::books(4, 0..50).collect::<Vec<_>>());
    }

    #[test]
    fn a_batch_that_fits_exactly_is_accepted_and_one_byte_less_is_refused() {
        let exact = batch(4, 0..20, usize::MAX).unwrap().encoded_len();
        assert!(batch(4, 0..20, exact).is_ok());
        match batch(4, 0..20, exact - 1) {
            Err(LimitError::AnswerTooLarge { books_fitting, .. }) => assert_eq!(books_fitting, 19),
            other => panic!("expected AnswerTooLarge, got {other:?}"),
        }
    }

    #[test]
    fn a_resumed_batch_holds_the_rest_of_the_result() {
        let answer = batch(4, 30..50, 1 << 20).unwrap();
        assert_eq!(answer.books, catalog::books(4, 30..50).collect::<Vec<_>>());
    }

    #[test]
    fn limit_errors_map_to_the_grpc_codes_callers_can_act_on() {
        assert_eq!(
            Status::from(LimitError::NoBooksRequested).code(),
            tonic::Code::InvalidArgument
        );
        let too_large = Status::from(batch(1, 0..1000, 1024).unwrap_err());
        assert_eq!(too_large.code(), tonic::Code::ResourceExhausted);
        assert!(
            too_large.message().contains("Recommend RPC"),
            "{}",
            too_large.message()
        );
    }
}
