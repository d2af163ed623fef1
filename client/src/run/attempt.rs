//! One attempt of a run: a stream's books into the sink, in order, until the
//! stream completes the result, breaks, stalls or is stopped. It decides
//! nothing about retrying; `run` does, from the `StreamEnd` it returns.

use std::{
    io::Write,
    ops::Range,
    time::{Duration, Instant},
};

use bookstream::{BookRecommendation, book::BookView, wire::WireError};
use bytes::Bytes;
use futures::{FutureExt, Stream, StreamExt};
use tonic::Status;

use super::{
    PREVIEW_BOOKS, RunRequest, rate,
    seams::{Observer, PROGRESS_EVERY},
};
use crate::{
    sink::{FileSink, SinkError},
    upstream::{UpstreamError, is_retryable},
};

/// How often a long run logs its progress.
const LOG_EVERY: Duration = Duration::from_secs(2);
/// Checking the clock on every book would cost more than the book.
const CLOCK_CHECK_MASK: u64 = 0x3FFF;

/// How one attempt's stream ended.
pub(super) enum StreamEnd {
    /// Every requested book is in the sink.
    Complete,
    /// A person stopped the run.
    Stopped,
    /// The stream broke; resuming may or may not help.
    Broken(Break),
}

/// Why a stream broke (or could not be opened again), kept as its cause.
#[derive(Debug, thiserror::Error)]
pub enum Break {
    #[error("no book arrived for {}", humantime::format_duration(*.0))]
    Stalled(Duration),
    #[error("the server ended the stream early")]
    EndedEarly,
    #[error("{} ({:?})", .0.message(), .0.code())]
    Status(#[source] Status),
    /// A server that sends garbage cannot be trusted to resume either.
    #[error("book {at} could not be read: {source}")]
    Unreadable {
        at: u64,
        #[source]
        source: WireError,
    },
    /// A server that sends the wrong book cannot be trusted to resume either.
    #[error("the server sent book {sent} where book {expected} was expected")]
    OutOfOrder { sent: u64, expected: u64 },
    /// Opening the stream again failed for good.
    #[error(transparent)]
    Reopen(#[from] UpstreamError),
}

impl Break {
    /// Whether resuming from the last book written may help.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Stalled(_) | Self::EndedEarly => true,
            Self::Status(status) => is_retryable(status),
            Self::Unreadable { .. } | Self::OutOfOrder { .. } => false,
            Self::Reopen(error) => error.is_retryable(),
        }
    }
}

/// Writes one attempt's books into the sink until the stream ends; the
/// result is complete once the books of `ranks` are in the sink.
pub(super) async fn consume<O: Observer>(
    mut stream: impl Stream<Item = Result<Bytes, Status>> + Unpin,
    sink: &mut FileSink,
    ranks: Range<u64>,
    request: &RunRequest,
    progress: &mut Progress<'_, O>,
) -> Result<StreamEnd, SinkError> {
    let (base, total) = (ranks.start, ranks.end - ranks.start);
    // The commit time of the last appended book written, until it is flushed.
    let mut unflushed_appended_at = 0;
    loop {
        // A book already buffered is taken at once; only a wait arms the
        // timer (and listens for a stop), so neither costs anything while
        // books flow.
        let next = match stream.next().now_or_never() {
            Some(next) => next,
            None if request.follow.is_some() => {
                // Nothing more yet: what arrived goes to the file now, so
                // that `tail -f` shows it; then wait as long as it takes.
                sink.flush()?;
                if unflushed_appended_at > 0 {
                    progress.observer.lag(millis_since(unflushed_appended_at));
                    unflushed_appended_at = 0;
                }
                tokio::select! {
                    next = stream.next() => {
                        progress.observer.received(sink.written());
                        next
                    }
                    () = progress.observer.stopped() => return Ok(StreamEnd::Stopped),
                }
            }
            None => tokio::select! {
                next = tokio::time::timeout(request.idle_timeout, stream.next()) => match next {
                    Ok(next) => next,
                    Err(_) => return Ok(StreamEnd::Broken(Break::Stalled(request.idle_timeout))),
                },
                () = progress.observer.stopped() => return Ok(StreamEnd::Stopped),
            },
        };
        let message = match next {
            Some(Ok(message)) => message,
            None if sink.written() == total => return Ok(StreamEnd::Complete),
            None => return Ok(StreamEnd::Broken(Break::EndedEarly)),
            Some(Err(status)) => return Ok(StreamEnd::Broken(Break::Status(status))),
        };
        // Read in place: the fields borrow the message's bytes.
        let book = match BookView::decode(&message) {
            Ok(book) => book,
            Err(source) => {
                return Ok(StreamEnd::Broken(Break::Unreadable {
                    at: sink.written(),
                    source,
                }));
            }
        };
        if book.id != base + sink.written() || book.id >= ranks.end {
            return Ok(StreamEnd::Broken(Break::OutOfOrder {
                sent: book.id,
                expected: base + sink.written(),
            }));
        }
        if request.echo {
            echo(&book);
        }
        progress.saw(&book);
        sink.write(&book)?;
        if book.appended_at_ms > 0 {
            unflushed_appended_at = book.appended_at_ms;
        }
        if progress.tell(sink.written()) {
            return Ok(StreamEnd::Stopped);
        }
    }
}

/// What a run shows while it goes: the first books, the live counters
/// (every [`PROGRESS_EVERY`] books), and a log line now and then.
pub(super) struct Progress<'a, O> {
    requested: u64,
    pub(super) started: Instant,
    last_logged: Instant,
    pub(super) preview: Vec<BookRecommendation>,
    pub(super) observer: &'a O,
}

impl<'a, O: Observer> Progress<'a, O> {
    pub(super) fn new(requested: u64, observer: &'a O) -> Self {
        let started = Instant::now();
        Self {
            requested,
            started,
            last_logged: started,
            preview: Vec::with_capacity(PREVIEW_BOOKS),
            observer,
        }
    }

    fn saw(&mut self, book: &BookView<'_>) {
        if self.preview.len() < PREVIEW_BOOKS {
            if self.preview.is_empty() {
                self.observer.first_book();
            }
            self.preview.push(book.to_message());
        }
    }

    /// Tells the live counters how far the run is, every
    /// [`PROGRESS_EVERY`] books; true when a person asked it to stop.
    fn tell(&mut self, received: u64) -> bool {
        if !received.is_multiple_of(PROGRESS_EVERY) {
            return false;
        }
        self.observer.received(received);
        if received & CLOCK_CHECK_MASK == 0 && self.last_logged.elapsed() >= LOG_EVERY {
            self.last_logged = Instant::now();
            tracing::info!(
                received,
                requested = self.requested,
                books_per_sec = rate(received, self.started.elapsed()) as u64,
                "progress"
            );
        }
        self.observer.stop_requested()
    }
}

/// Milliseconds from `epoch_ms` (a server's clock) to now (this one's); 0
/// when the clocks disagree the other way.
fn millis_since(epoch_ms: u64) -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis());
    u64::try_from(now)
        .unwrap_or(u64::MAX)
        .saturating_sub(epoch_ms)
}

fn echo(book: &BookView<'_>) {
    let mut stdout = std::io::stdout().lock();
    // Echo is best effort: a closed stdout must not fail the run.
    let _ = writeln!(stdout, "RESPONSE={:?}", book.to_message());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_break_says_what_happened_and_whether_resuming_may_help() {
        let stalled = Break::Stalled(Duration::from_secs(30));
        assert!(stalled.is_retryable());
        assert_eq!(stalled.to_string(), "no book arrived for 30s");
        assert!(Break::EndedEarly.is_retryable());
        let wrong = Break::OutOfOrder {
            sent: 5,
            expected: 3,
        };
        assert!(!wrong.is_retryable());
        assert_eq!(
            wrong.to_string(),
            "the server sent book 5 where book 3 was expected"
        );
        // The status is kept as the cause, not flattened into text.
        let draining = Break::Status(Status::unavailable("draining"));
        assert!(draining.is_retryable());
        let cause = std::error::Error::source(&draining).expect("the status is the source");
        assert!(cause.downcast_ref::<Status>().is_some());
        assert!(!Break::Status(Status::invalid_argument("no")).is_retryable());
    }
}
