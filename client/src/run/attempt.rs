//! One attempt of a run: a stream's books into the sink, in order, until the
//! stream completes the result, breaks, stalls or is stopped. It decides
//! nothing about retrying; `run` does, from the `StreamEnd` it returns.

use std::{
    io::Write,
    time::{Duration, Instant},
};

use bookstream::{BookRecommendation, book::BookView};
use bytes::Bytes;
use futures::FutureExt;
use tonic::{Status, Streaming};

use super::{PREVIEW_BOOKS, RunRequest, rate};
use crate::{
    runs::live::{self, Live},
    sink::{FileSink, SinkError},
    upstream::is_retryable,
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
    Broken { cause: String, retryable: bool },
}

/// Writes one attempt's books into the sink until the stream ends; the
/// result is complete once `total` books are in the sink.
pub(super) async fn consume(
    mut stream: Streaming<Bytes>,
    sink: &mut FileSink,
    total: u64,
    request: &RunRequest,
    progress: &mut Progress<'_>,
) -> Result<StreamEnd, SinkError> {
    loop {
        // A book already buffered is taken at once; only a wait arms the
        // timer (and listens for a stop), so neither costs anything while
        // books flow.
        let next = match stream.message().now_or_never() {
            Some(next) => next,
            None => tokio::select! {
                next = tokio::time::timeout(request.idle_timeout, stream.message()) => match next {
                    Ok(next) => next,
                    Err(_) => {
                        return Ok(StreamEnd::Broken {
                            cause: format!(
                                "no book arrived for {}",
                                humantime::format_duration(request.idle_timeout)
                            ),
                            retryable: true,
                        });
                    }
                },
                () = progress.live.stopped() => return Ok(StreamEnd::Stopped),
            },
        };
        let message = match next {
            Ok(Some(message)) => message,
            Ok(None) if sink.written() == total => return Ok(StreamEnd::Complete),
            Ok(None) => {
                return Ok(StreamEnd::Broken {
                    cause: "the server ended the stream early".to_owned(),
                    retryable: true,
                });
            }
            Err(status) => {
                return Ok(StreamEnd::Broken {
                    retryable: is_retryable(&status),
                    cause: describe(&status),
                });
            }
        };
        // Read in place: the fields borrow the message's bytes.
        let book = match BookView::decode(&message) {
            Ok(book) => book,
            Err(error) => {
                // A server that sends garbage cannot be trusted to resume either.
                return Ok(StreamEnd::Broken {
                    cause: format!("book {} could not be read: {error}", sink.written()),
                    retryable: false,
                });
            }
        };
        if book.id != sink.written() || book.id >= total {
            // A server that sends the wrong book cannot be trusted to resume either.
            return Ok(StreamEnd::Broken {
                cause: format!(
                    "the server sent book {} where book {} was expected",
                    book.id,
                    sink.written()
                ),
                retryable: false,
            });
        }
        if request.echo {
            echo(&book);
        }
        progress.saw(&book);
        sink.write(&book)?;
        if progress.tell(sink.written()) {
            return Ok(StreamEnd::Stopped);
        }
    }
}

/// What a run shows while it goes: the first books, the live counters
/// (every [`live::PROGRESS_EVERY`] books), and a log line now and then.
pub(super) struct Progress<'a> {
    requested: u64,
    pub(super) started: Instant,
    last_logged: Instant,
    pub(super) preview: Vec<BookRecommendation>,
    pub(super) live: &'a Live,
}

impl<'a> Progress<'a> {
    pub(super) fn new(requested: u64, live: &'a Live) -> Self {
        let started = Instant::now();
        Self {
            requested,
            started,
            last_logged: started,
            preview: Vec::with_capacity(PREVIEW_BOOKS),
            live,
        }
    }

    fn saw(&mut self, book: &BookView<'_>) {
        if self.preview.len() < PREVIEW_BOOKS {
            if self.preview.is_empty() {
                self.live.first_book();
            }
            self.preview.push(book.to_message());
        }
    }

    /// Tells the live counters how far the run is, every
    /// [`live::PROGRESS_EVERY`] books; true when a person asked it to stop.
    fn tell(&mut self, received: u64) -> bool {
        if !received.is_multiple_of(live::PROGRESS_EVERY) {
            return false;
        }
        self.live.received(received);
        if received & CLOCK_CHECK_MASK == 0 && self.last_logged.elapsed() >= LOG_EVERY {
            self.last_logged = Instant::now();
            tracing::info!(
                received,
                requested = self.requested,
                books_per_sec = rate(received, self.started.elapsed()) as u64,
                "progress"
            );
        }
        self.live.stop_requested()
    }
}

fn describe(status: &Status) -> String {
    format!("{} ({:?})", status.message(), status.code())
}

fn echo(book: &BookView<'_>) {
    let mut stdout = std::io::stdout().lock();
    // Echo is best effort: a closed stdout must not fail the run.
    let _ = writeln!(stdout, "RESPONSE={:?}", book.to_message());
}
