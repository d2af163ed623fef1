//! One trigger run: open the stream, write every book to the sink, and commit
//! the file only when exactly the requested books arrived in order.

use std::{
    io::Write,
    path::PathBuf,
    time::{Duration, Instant},
};

use bookstream::{BookRecommendation, book::BookView};
use bytes::Bytes;
use futures::FutureExt;
use tonic::{Status, Streaming};
use tracing::{Instrument, Span, field::Empty};

use crate::{
    runs::{
        live::{self, Live},
        record::AttemptRecord,
    },
    sink::{FileSink, Format, SinkError},
    upstream::{Attempt, Upstream, UpstreamError, is_retryable},
};

/// Books shown on the result page.
pub const PREVIEW_BOOKS: usize = 5;
/// How often a long run logs its progress.
const LOG_EVERY: Duration = Duration::from_secs(2);
/// Checking the clock on every book would cost more than the book.
const CLOCK_CHECK_MASK: u64 = 0x3FFF;

/// How a run retries a stream that broke: up to `retries` more attempts,
/// each resuming after the last book written, waiting `first_backoff` before
/// the first and twice as long before each next one (at most [`MAX_BACKOFF`]).
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub retries: u32,
    pub first_backoff: Duration,
}

/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What a run asks for and where it writes.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The run's id: its temporary file carries it, so that a client
    /// restarted after a crash finds the files of its own dead runs.
    pub run_id: u64,
    pub user_id: u64,
    pub count: u64,
    pub output: PathBuf,
    pub format: Format,
    /// Print every book to stdout as it arrives.
    pub echo: bool,
    pub retry: RetryPolicy,
    /// Longest wait for the next book before the stream counts as stalled
    /// (and is resumed like a broken one).
    pub idle_timeout: Duration,
}

/// A run that delivered every book the server had for it into the output
/// file: `requested` of them, or all of the user's list when it is shorter.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub user_id: u64,
    /// The n of `GET /{n}`.
    pub requested: u64,
    pub received: u64,
    pub file: PathBuf,
    pub format: Format,
    pub elapsed: Duration,
    /// How many times a broken stream was resumed.
    pub retries: u32,
    pub preview: Vec<BookRecommendation>,
}

impl RunReport {
    pub fn books_per_second(&self) -> f64 {
        rate(self.received, self.elapsed)
    }

    /// Whether the user's list held fewer books than were asked for.
    pub fn user_has_fewer(&self) -> bool {
        self.received < self.requested
    }
}

/// Books per second, or 0 for an instant run.
pub fn rate(books: u64, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        books as f64 / seconds
    } else {
        0.0
    }
}

/// Why a run did not produce the complete file.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The stream never started, after `retries` tries: no file was touched.
    #[error("{source}")]
    Upstream {
        retries: u32,
        #[source]
        source: UpstreamError,
    },
    /// The stream started but did not deliver everything, even after
    /// retrying; what arrived was kept.
    #[error(
        "the stream stopped after {received} of {requested} books ({retries} retries): {cause}"
    )]
    Interrupted {
        requested: u64,
        received: u64,
        retries: u32,
        cause: String,
        partial_file: Option<PathBuf>,
    },
    /// Stopped by a person (`POST /runs/{id}/cancel`); what arrived was kept.
    #[error("the run was stopped after {received} books")]
    Cancelled {
        received: u64,
        retries: u32,
        partial_file: Option<PathBuf>,
    },
    /// The file could not be written.
    #[error(transparent)]
    Sink(#[from] SinkError),
}

/// Opens the stream from book `start_at`, retrying unreachable servers
/// while the run's retries last.
/// Opens the stream from book `start_at`, retrying unreachable servers
/// while the run's retries last; `None` when the run is stopped meanwhile.
async fn open(
    upstream: &Upstream,
    request: &RunRequest,
    start_at: u64,
    retries: &mut Retries,
    live: &Live,
) -> Result<Option<Attempt>, UpstreamError> {
    loop {
        match upstream
            .recommend(request.user_id, request.count, start_at)
            .await
        {
            Err(error) if error.is_retryable() && retries.left() => {
                if !retries.wait(start_at, &error.to_string(), live).await {
                    return Ok(None);
                }
            }
            opened => return opened.map(Some),
        }
    }
}

/// A run's retries: how many are used, and the wait before the next one.
struct Retries {
    policy: RetryPolicy,
    used: u32,
    backoff: Duration,
}

impl Retries {
    fn new(policy: RetryPolicy) -> Self {
        Self {
            policy,
            used: 0,
            backoff: policy.first_backoff,
        }
    }

    fn left(&self) -> bool {
        self.used < self.policy.retries
    }

    fn progress_made(&mut self) {
        self.backoff = self.policy.first_backoff;
    }

    /// Spends one retry: waits, and doubles the next wait (up to [`MAX_BACKOFF`]).
    /// False when the run is stopped meanwhile.
    async fn wait(&mut self, received: u64, cause: &str, live: &Live) -> bool {
        self.used += 1;
        tracing::warn!(
            retry = self.used,
            of = self.policy.retries,
            received,
            "stream broke or server unreachable, retrying in {:?}: {cause}",
            self.backoff
        );
        let waited = tokio::select! {
            () = tokio::time::sleep(self.backoff) => true,
            () = live.stopped() => false,
        };
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        waited
    }
}

/// How one attempt's stream ended.
enum StreamEnd {
    /// Every requested book is in the sink.
    Complete,
    /// A person stopped the run.
    Stopped,
    /// The stream broke; resuming may or may not help.
    Broken { cause: String, retryable: bool },
}

/// Streams `request.count` books from `upstream` into `request.output`,
/// resuming a broken stream after the last book written, so that the file of
/// a run with retries is byte for byte the file of an unbroken run.
pub async fn run(
    upstream: &Upstream,
    request: &RunRequest,
    live: &Live,
) -> Result<RunReport, RunError> {
    let mut progress = Progress::new(request.count, live);
    let mut retries = Retries::new(request.retry);
    // No file is touched until a stream is open.
    let mut span = attempt_span(0);
    let opened = open(upstream, request, 0, &mut retries, live)
        .instrument(span.clone())
        .await
        .map_err(|source| RunError::Upstream {
            retries: retries.used,
            source,
        })?;
    let Some(mut attempt) = opened else {
        return Err(RunError::Cancelled {
            received: 0,
            retries: retries.used,
            partial_file: None,
        });
    };
    let mut sink = FileSink::create_for_run(&request.output, request.format, request.run_id)?;

    // Until a server says otherwise, the result holds the books asked for.
    let mut total = request.count;
    let stopped_by = loop {
        let written_before = sink.written();
        let Attempt {
            stream,
            server,
            count,
        } = attempt;
        // Completeness is judged by what the server announced: a user's list
        // may be shorter than n. This attempt started at `written_before`.
        if let Some(count) = count {
            total = written_before.saturating_add(count).min(request.count);
            live.expected(total);
        }
        span.record("server", server.url());
        live.attempt_started(server.url());
        let end = consume(stream, &mut sink, total, request, &mut progress)
            .instrument(span.clone())
            .await?;
        let books = sink.written() - written_before;
        live.received(sink.written());
        span.record("books", books);
        let ended = match &end {
            StreamEnd::Complete => "complete".to_owned(),
            StreamEnd::Stopped => "stopped by a person".to_owned(),
            StreamEnd::Broken { cause, .. } => cause.clone(),
        };
        span.record("ended", ended.as_str());
        live.attempt_ended(AttemptRecord {
            server: server.url().to_owned(),
            first_rank: written_before,
            books,
            ended,
        });
        let (cause, retryable) = match end {
            StreamEnd::Complete => break None,
            StreamEnd::Stopped => break Some(Stop::Stopped),
            StreamEnd::Broken { cause, retryable } => (cause, retryable),
        };
        // Resume elsewhere if there is an elsewhere.
        upstream.mark_broken(&server);
        if !(retryable && retries.left()) {
            break Some(Stop::Broken(cause));
        }
        if books > 0 {
            // The stream made progress: the server was fine, start the waits afresh.
            retries.progress_made();
        }
        if !retries.wait(sink.written(), &cause, live).await {
            break Some(Stop::Stopped);
        }
        span = attempt_span(sink.written());
        attempt = match open(upstream, request, sink.written(), &mut retries, live)
            .instrument(span.clone())
            .await
        {
            Ok(Some(attempt)) => attempt,
            Ok(None) => break Some(Stop::Stopped),
            Err(error) => break Some(Stop::Broken(error.to_string())),
        };
    };
    let retries = retries.used;

    let received = sink.written();
    let Some(stop) = stopped_by else {
        // fsync and rename can take a while on a large file; keep them off the async workers.
        let file = finish(move || sink.commit()).await?;
        return Ok(RunReport {
            user_id: request.user_id,
            requested: request.count,
            received,
            file,
            format: request.format,
            elapsed: progress.started.elapsed(),
            retries,
            preview: progress.preview,
        });
    };
    let partial_file = match finish(move || sink.keep_partial()).await {
        Ok(path) => Some(path),
        Err(error) => {
            tracing::error!("could not keep the partial result: {error}");
            None
        }
    };
    Err(match stop {
        Stop::Stopped => RunError::Cancelled {
            received,
            retries,
            partial_file,
        },
        Stop::Broken(cause) => RunError::Interrupted {
            requested: total,
            received,
            retries,
            cause,
            partial_file,
        },
    })
}

/// Why a run stopped short of its last book.
enum Stop {
    Broken(String),
    Stopped,
}

/// One attempt of a run: the stream opened at `first_rank`, on which server,
/// how many books it gave and how it ended. A child of the run's span; the
/// server's stream span joins it through the request's trace context.
fn attempt_span(first_rank: u64) -> Span {
    tracing::info_span!(
        "attempt",
        first_rank,
        server = Empty,
        books = Empty,
        ended = Empty
    )
}

/// Writes one attempt's books into the sink until the stream ends; the
/// result is complete once `total` books are in the sink.
async fn consume(
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
struct Progress<'a> {
    requested: u64,
    started: Instant,
    last_logged: Instant,
    preview: Vec<BookRecommendation>,
    live: &'a Live,
}

impl<'a> Progress<'a> {
    fn new(requested: u64, live: &'a Live) -> Self {
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

async fn finish(
    step: impl FnOnce() -> Result<PathBuf, SinkError> + Send + 'static,
) -> Result<PathBuf, SinkError> {
    match tokio::task::spawn_blocking(step).await {
        Ok(result) => result,
        Err(join_error) => Err(SinkError::Write(std::io::Error::other(join_error))),
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
