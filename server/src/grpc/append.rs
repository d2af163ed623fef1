//! The gRPC edge of appends: `Append` reads a producer's batches and answers
//! each with an ack once it is committed. Batches are committed one at a
//! time, in the order sent; the producer need not wait for an ack before
//! sending more (HTTP/2 flow control holds what it sends ahead).

use std::pin::Pin;

use bookstream::{
    pb::{AppendAck, AppendRequest, NewBook},
    telemetry::{self, MetadataSource},
};
use futures::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};
use tracing::{Instrument, Span, field::Empty};

use crate::{
    auth::{WriteAccess, WriteRefusal},
    ingest::{Ack, AppendError, Appender, Batch, Origin, append::checked_book},
};

/// The acks of one `Append` call, in the order of its batches.
pub type AppendStream = Pin<Box<dyn Stream<Item = Result<AppendAck, Status>> + Send>>;

/// Answers one `Append` call: the write token first, then batch by batch
/// until the producer closes its side or a batch is refused (the call then
/// ends with that batch's status; nothing of it was written).
pub(super) async fn append(
    appender: &Appender,
    access: &WriteAccess,
    request: Request<Streaming<AppendRequest>>,
) -> Result<Response<AppendStream>, Status> {
    let authorization = request
        .metadata()
        .get("authorization")
        .map(|value| value.as_bytes());
    access.admit(authorization).map_err(Status::from)?;
    let span = tracing::info_span!(
        "Append",
        producer_id = Empty,
        batches = Empty,
        books = Empty,
        trace_id = Empty
    );
    telemetry::continue_trace(&span, &MetadataSource(request.metadata()));
    telemetry::record_trace_id(&span);
    let batches = request.into_inner();
    let state = Producing {
        appender: appender.clone(),
        batches,
        span: span.clone(),
        counted: (0, 0),
        ended: false,
    };
    let acks = futures::stream::unfold(state, |mut state| async move {
        if state.ended {
            return None;
        }
        let span = state.span.clone();
        let answer = state.next().instrument(span).await?;
        state.ended = answer.is_err();
        Some((answer, state))
    });
    Ok(Response::new(acks.boxed()))
}

struct Producing {
    appender: Appender,
    batches: Streaming<AppendRequest>,
    span: Span,
    /// Batches and books acknowledged so far, recorded in the span at the end.
    counted: (u64, u64),
    ended: bool,
}

impl Producing {
    /// The ack of the next batch; `None` once the producer is done.
    async fn next(&mut self) -> Option<Result<AppendAck, Status>> {
        let request = match self.batches.message().await {
            Ok(Some(request)) => request,
            Ok(None) => return None,
            Err(status) => return Some(Err(status)),
        };
        let sequence = request.sequence;
        if self.counted.0 == 0 {
            self.span
                .record("producer_id", request.producer_id.as_str());
        }
        let answer = match batch(request) {
            Ok(batch) => self.appender.append("grpc", batch).await,
            Err(error) => Err(error),
        };
        Some(match answer {
            Ok(ack) => {
                self.counted.0 += 1;
                self.counted.1 += ack.books;
                Ok(to_ack(sequence, ack))
            }
            Err(error) => {
                tracing::info!(
                    sequence,
                    error = &error as &dyn std::error::Error,
                    "batch refused"
                );
                Err(Status::from(error))
            }
        })
    }
}

impl Drop for Producing {
    /// The call's totals, once, when it ends however it ends.
    fn drop(&mut self) {
        self.span.record("batches", self.counted.0);
        self.span.record("books", self.counted.1);
    }
}

/// The batch a request carries, each book checked against the contract.
fn batch(request: AppendRequest) -> Result<Batch, AppendError> {
    let AppendRequest {
        producer_id,
        sequence,
        user_id,
        books,
    } = request;
    let books = books
        .iter()
        .enumerate()
        .map(|(index, book)| {
            let NewBook {
                title,
                author,
                isbn13,
                year,
                genre,
                score,
            } = book;
            checked_book(
                index,
                title,
                author,
                isbn13,
                i64::from(*year),
                genre,
                f64::from(*score),
            )
        })
        .collect::<Result<_, _>>()?;
    Ok(Batch {
        origin: Origin::Producer {
            id: producer_id,
            sequence,
        },
        user_id,
        books,
    })
}

fn to_ack(sequence: u64, ack: Ack) -> AppendAck {
    AppendAck {
        sequence,
        user_id: ack.user_id,
        first_rank: ack.first_rank,
        books: ack.books,
        duplicate: ack.duplicate,
    }
}

impl From<WriteRefusal> for Status {
    fn from(refusal: WriteRefusal) -> Self {
        match refusal {
            WriteRefusal::Off | WriteRefusal::ReadTokenOnly => {
                Status::permission_denied(refusal.to_string())
            }
            WriteRefusal::Unauthenticated => Status::unauthenticated(refusal.to_string()),
        }
    }
}

impl From<AppendError> for Status {
    fn from(error: AppendError) -> Self {
        let message = error.to_string();
        match &error {
            AppendError::ReadOnly | AppendError::SequenceGap { .. } => {
                Status::failed_precondition(message)
            }
            AppendError::BadOrigin(_)
            | AppendError::NoBooks
            | AppendError::Invalid { .. }
            | AppendError::BadUser { .. } => Status::invalid_argument(message),
            AppendError::TooManyBooks { .. } | AppendError::Full { .. } => {
                Status::resource_exhausted(message)
            }
            AppendError::Unavailable { .. } => Status::unavailable(message),
            AppendError::Failed { .. } => {
                tracing::error!(
                    error = &error as &dyn std::error::Error,
                    "committing a batch failed"
                );
                Status::internal("committing the batch failed; the server log has the cause")
            }
        }
    }
}
