//! The gRPC edge: the streaming `Recommend` and its unary twin `RecommendBatch`,
//! both answered from the server's catalog, and `Append` (in `append.rs`).

mod append;

pub use append::AppendStream;

use std::time::Instant;

use bookstream::{
    BookRecommendations, COUNT_HEADER, FOLLOW_HEADER, RecommendationRequest, START_RANK_HEADER,
    StartFrom,
    book::OutgoingBook,
    pb::AppendRequest,
    pb::recommendations_server::{Recommendations, RecommendationsServer},
    telemetry::{self, MetadataSource},
};
use futures::{StreamExt, stream};
use prost::Message;
use tonic::{Request, Response, Status, Streaming, metadata::MetadataValue};
use tonic_types::{ErrorDetails, StatusExt};
use tracing::{Instrument, Span, field::Empty};

use crate::{
    auth::WriteAccess,
    deadline,
    ingest::Appender,
    limits::LimitError,
    pipeline::{Ask, Pipeline, Refusal},
    source::{Announced, BookStream, Books, SourceError},
    streams::{SHUTTING_DOWN, ShutdownItem, Supervised},
    work,
};

/// The stream handed to h2: books are produced only as flow control asks for
/// them, so memory stays flat for any count, and dropping the stream when the
/// caller leaves stops the work, reads from a store included.
pub type RecommendStream = Supervised<
    stream::Map<BookStream, fn(Result<OutgoingBook, SourceError>) -> Result<OutgoingBook, Status>>,
>;

/// The `Recommendations` service over the server's catalog.
#[derive(Debug, Clone)]
pub struct RecommendationService {
    pipeline: Pipeline,
    appender: Appender,
    writes: WriteAccess,
}

impl RecommendationService {
    pub fn new(pipeline: Pipeline, appender: Appender, writes: WriteAccess) -> Self {
        Self {
            pipeline,
            appender,
            writes,
        }
    }

    /// The tonic service, with the encoder allowed to send the largest
    /// one-shot answer the limits permit.
    pub fn into_server(self) -> RecommendationsServer<Self> {
        let max_message_bytes = self.pipeline.max_message_bytes();
        RecommendationsServer::new(self).max_encoding_message_size(max_message_bytes)
    }
}

#[tonic::async_trait]
impl Recommendations for RecommendationService {
    type RecommendStream = RecommendStream;
    type AppendStream = AppendStream;

    async fn append(
        &self,
        request: Request<Streaming<AppendRequest>>,
    ) -> Result<Response<Self::AppendStream>, Status> {
        append::append(&self.appender, &self.writes, request).await
    }

    async fn recommend(
        &self,
        request: Request<RecommendationRequest>,
    ) -> Result<Response<Self::RecommendStream>, Status> {
        let started = Instant::now();
        let deadline = deadline::from_metadata(request.metadata());
        let span = rpc_span(Rpc::Recommend, &request);
        async {
            let ask = ask(request.into_inner())?;
            let (Books { announced, stream }, permit) =
                self.pipeline.stream("grpc", ask, &span, started).await?;
            let books = stream.map(to_status as fn(_) -> _);
            Ok(with_count(
                Response::new(Supervised::new(books, permit).with_deadline(deadline)),
                announced,
            ))
        }
        .instrument(span.clone())
        .await
    }

    async fn recommend_batch(
        &self,
        request: Request<RecommendationRequest>,
    ) -> Result<Response<BookRecommendations>, Status> {
        let started = Instant::now();
        let span = rpc_span(Rpc::RecommendBatch, &request);
        async {
            let ask = ask(request.into_inner())?;
            // The place is held until the answer is built and handed over.
            let (Books { announced, stream }, _place) =
                self.pipeline.one_shot("batch", ask, &span, started).await?;
            let count = announced.count();
            let limit_bytes = self.pipeline.max_message_bytes();
            // Building a large answer is CPU work; keep it off the async workers.
            let answer = work::off_the_workers(batch(stream, count, limit_bytes))
                .await
                .map_err(|error| {
                    Status::internal(format!("building the answer failed: {error}"))
                })??;
            Ok(with_count(Response::new(answer), announced))
        }
        .instrument(span.clone())
        .await
    }
}

fn ask(request: RecommendationRequest) -> Result<Ask, Status> {
    let RecommendationRequest {
        user_id,
        max_results,
        start_at,
        follow,
        start_from,
        start_time_ms,
    } = request;
    let start_from =
        StartFrom::try_from(start_from).map_err(|_| LimitError::UnknownStartFrom(start_from))?;
    Ok(Ask {
        user_id,
        max_results,
        start_at,
        follow,
        start_from,
        start_time_ms,
    })
}

impl From<Refusal> for Status {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Limit(error) => error.into(),
            Refusal::Source(error) => error.into(),
        }
    }
}

enum Rpc {
    Recommend,
    RecommendBatch,
}

/// The span of one request: it continues the caller's trace (W3C
/// `traceparent` in the metadata), carries what was asked for and, once the
/// books are sent, how many; a stream's span lasts as long as the stream.
fn rpc_span(rpc: Rpc, request: &Request<RecommendationRequest>) -> Span {
    let RecommendationRequest {
        user_id,
        max_results,
        start_at,
        follow,
        ..
    } = *request.get_ref();
    let span = match rpc {
        Rpc::Recommend => tracing::info_span!(
            "Recommend",
            user_id,
            start_at,
            max_results,
            follow,
            count = Empty,
            books = Empty,
            trace_id = Empty
        ),
        Rpc::RecommendBatch => tracing::info_span!(
            "RecommendBatch",
            user_id,
            start_at,
            max_results,
            follow,
            count = Empty,
            books = Empty,
            trace_id = Empty
        ),
    };
    telemetry::continue_trace(&span, &MetadataSource(request.metadata()));
    telemetry::record_trace_id(&span);
    span
}

/// Announces the number of books before the first one, or that the answer
/// follows and from which rank.
fn with_count<T>(mut response: Response<T>, announced: Announced) -> Response<T> {
    let metadata = response.metadata_mut();
    match announced {
        Announced::Count(count) => {
            metadata.insert(COUNT_HEADER, MetadataValue::from(count));
        }
        Announced::Follow { start } => {
            metadata.insert(FOLLOW_HEADER, MetadataValue::from_static("true"));
            metadata.insert(START_RANK_HEADER, MetadataValue::from(start));
        }
    }
    response
}

fn to_status(book: Result<OutgoingBook, SourceError>) -> Result<OutgoingBook, Status> {
    book.map_err(Status::from)
}

/// The `count` books of `books` in one message, refused as soon as the
/// encoded message would pass `limit_bytes`, so memory never exceeds the limit either.
pub async fn batch(
    mut books: BookStream,
    count: u64,
    limit_bytes: usize,
) -> Result<BookRecommendations, Status> {
    // The smallest encoded book is well over 32 bytes: no reservation beyond the limit.
    let capacity = count.min((limit_bytes / 32) as u64) as usize;
    let mut answer = BookRecommendations {
        books: Vec::with_capacity(capacity),
    };
    let mut encoded_len = 0usize;
    while let Some(book) = books.next().await {
        let book = book?.to_message();
        let book_len = book.encoded_len();
        // Each repeated field entry: one tag byte, a length prefix, the book.
        encoded_len += 1 + prost::length_delimiter_len(book_len) + book_len;
        if encoded_len > limit_bytes {
            return Err(LimitError::AnswerTooLarge {
                requested: count,
                limit_bytes,
                books_fitting: answer.books.len() as u64,
                streaming_alternative: "the streaming Recommend RPC",
            }
            .into());
        }
        answer.books.push(book);
    }
    Ok(answer)
}

impl ShutdownItem for Result<OutgoingBook, Status> {
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
            | LimitError::ResumePastEnd { .. }
            | LimitError::FollowNeedsStream
            | LimitError::SeekConflict(_)
            | LimitError::UnknownStartFrom(_) => Status::invalid_argument(error.to_string()),
            LimitError::AnswerTooLarge { .. }
            | LimitError::TooManyStreams { .. }
            | LimitError::TooManyOneShot { .. } => Status::resource_exhausted(error.to_string()),
        }
    }
}

impl From<SourceError> for Status {
    fn from(error: SourceError) -> Self {
        let message = error.to_string();
        match &error {
            // Another server, or this one shortly, may serve: clients resume.
            SourceError::Unavailable { .. } => Status::unavailable(message),
            SourceError::Empty { .. } => Status::failed_precondition(message),
            SourceError::UnknownUser { .. } => Status::not_found(message),
            SourceError::Inconsistent { .. } => Status::data_loss(message),
            SourceError::Expired { earliest, .. } => out_of_range(message, Some(*earliest)),
            SourceError::PastEnd { .. } => out_of_range(message, None),
            SourceError::NeverGrows { .. } => Status::failed_precondition(message),
            SourceError::ShuttingDown => Status::unavailable(message),
            SourceError::Failed { .. } => {
                // As an error value, so the log shows its chain of sources
                // down to the driver's own error.
                tracing::error!(
                    error = &error as &dyn std::error::Error,
                    "reading the catalog failed"
                );
                Status::internal("reading the catalog failed; the server log has the cause")
            }
        }
    }
}

/// The `reason` of the `ErrorInfo` detail on an `OUT_OF_RANGE` status.
pub const RANK_NOT_KEPT: &str = "RANK_NOT_KEPT";
/// The `ErrorInfo` metadata key naming the earliest rank a list keeps.
pub const EARLIEST_RANK_KEY: &str = "earliest_rank";

/// OUT_OF_RANGE, with the earliest rank kept in the status details for
/// programs (google.rpc.ErrorInfo), as the message says it for people.
fn out_of_range(message: String, earliest: Option<u64>) -> Status {
    let Some(earliest) = earliest else {
        return Status::out_of_range(message);
    };
    let details = ErrorDetails::with_error_info(
        RANK_NOT_KEPT,
        "bookstream",
        [(EARLIEST_RANK_KEY.to_owned(), earliest.to_string())],
    );
    Status::with_error_details(tonic::Code::OutOfRange, message, details)
}

#[cfg(test)]
mod tests {
    use bookstream::catalog;

    use super::*;

    async fn generated_batch(
        user_id: u64,
        ids: std::ops::Range<u64>,
        limit: usize,
    ) -> Result<BookRecommendations, Status> {
        let count = ids.end - ids.start;
        batch(BookStream::generated(user_id, ids), count, limit).await
    }

    #[tokio::test]
    async fn a_batch_holds_the_catalog_books_in_order() {
        let answer = generated_batch(4, 0..50, 1 << 20).await.unwrap();
        assert_eq!(answer.books, catalog::books(4, 0..50).collect::<Vec<_>>());
        let resumed = generated_batch(4, 30..50, 1 << 20).await.unwrap();
        assert_eq!(resumed.books, catalog::books(4, 30..50).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_batch_that_fits_exactly_is_accepted_and_one_byte_less_is_refused() {
        let exact = generated_batch(4, 0..20, usize::MAX)
            .await
            .unwrap()
            .encoded_len();
        assert!(generated_batch(4, 0..20, exact).await.is_ok());
        let refused = generated_batch(4, 0..20, exact - 1).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        assert!(
            refused.message().contains("after 19 books"),
            "{}",
            refused.message()
        );
        assert!(
            refused.message().contains("Recommend RPC"),
            "{}",
            refused.message()
        );
    }

    #[test]
    fn limit_and_source_errors_map_to_the_grpc_codes_callers_can_act_on() {
        assert_eq!(
            Status::from(LimitError::NoBooksRequested).code(),
            tonic::Code::InvalidArgument
        );
        let store = "sqlite:books.db".to_owned();
        let unknown = Status::from(SourceError::UnknownUser {
            user_id: 42,
            store: store.clone(),
        });
        assert_eq!(unknown.code(), tonic::Code::NotFound);
        assert!(
            unknown.message().contains("user 42"),
            "{}",
            unknown.message()
        );
        let down = Status::from(SourceError::Unavailable {
            store: store.clone(),
            cause: crate::source::StoreFailure::from_error(std::io::Error::from(
                std::io::ErrorKind::ConnectionRefused,
            )),
        });
        assert_eq!(down.code(), tonic::Code::Unavailable);
        assert!(down.message().contains(&store), "{}", down.message());
        let empty = Status::from(SourceError::Empty { store });
        assert!(
            empty
                .message()
                .contains("server load --catalog sqlite:books.db"),
            "{}",
            empty.message()
        );
    }
}
