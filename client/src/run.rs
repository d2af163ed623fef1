//! One trigger run: open the stream, write every book to the sink, and commit
//! the file only when exactly the requested books arrived in order.

use std::{path::PathBuf, time::Duration};

use bookstream::BookRecommendation;
use tracing::{Instrument, Span, field::Empty};

pub mod attempt;
mod error;
mod retries;
pub mod seams;

pub use attempt::Break;
use attempt::{Progress, StreamEnd, consume};
pub use error::{Arrived, RunError, Shortfall};
pub use retries::{MAX_BACKOFF, RetryPolicy};
use retries::{Retries, open};
pub use seams::{AttemptRecord, FollowFrom, Observer, Opened, Opener, PROGRESS_EVERY};

use crate::sink::{FileSink, Format, SinkError};

/// Books shown on the result page.
pub const PREVIEW_BOOKS: usize = 5;

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
    /// (and is resumed like a broken one). A follow waits as long as it
    /// takes: HTTP/2 keepalive notices a dead server instead.
    pub idle_timeout: Duration,
    /// A follow: where it starts. It stays for books appended later, until
    /// `count` books arrived (0: until stopped).
    pub follow: Option<FollowFrom>,
    /// The first rank asked for (a follow from a rank; 0 otherwise).
    pub first_rank: u64,
}

impl RunRequest {
    /// The rank after the last one this run wants.
    fn end_rank(&self) -> u64 {
        match (self.follow, self.count) {
            (Some(_), 0) => u64::MAX,
            (_, count) => count,
        }
    }
}

/// A run that delivered every book the server had for it into the output
/// file: `requested` of them, or all of the user's list when it is shorter.
#[derive(Debug, Clone)]
pub struct RunSummary {
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
    /// A follow that a person stopped: its file holds what arrived, complete and in order.
    pub stopped: bool,
}

impl RunSummary {
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

/// Streams `request.count` books from `upstream` into `request.output`,
/// resuming a broken stream after the last book written, so that the file of
/// a run with retries is byte for byte the file of an unbroken run.
pub async fn run<U: Opener, O: Observer>(
    upstream: &U,
    request: &RunRequest,
    observer: &O,
) -> Result<RunSummary, RunError> {
    let mut progress = Progress::new(request.count, observer);
    let mut retries = Retries::new(request.retry);
    // No file is touched until a stream is open.
    let mut span = attempt_span(request.first_rank);
    let opened = open(
        upstream,
        request,
        request.first_rank,
        request.follow,
        &mut retries,
        observer,
    )
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
    let mut sink = match request.follow {
        Some(_) => FileSink::create_for_follow(&request.output, request.format, request.run_id)?,
        None => FileSink::create_for_run(&request.output, request.format, request.run_id)?,
    };

    // The file's first book: rank 0, a follow's rank, or where the server
    // found the latest book or the time.
    let mut base = request.first_rank;
    // Until a server says otherwise, the result holds the books asked for.
    let mut total = request.end_rank().saturating_sub(base);
    let stopped_by = loop {
        let written_before = sink.written();
        let Opened {
            stream,
            server,
            url,
            count,
            start,
        } = attempt;
        if let (0, Some(start)) = (written_before, start) {
            base = start;
            total = request.end_rank().saturating_sub(base);
        }
        // Completeness is judged by what the server announced: a user's list
        // may be shorter than n. This attempt started at `written_before`.
        if let Some(count) = count {
            total = written_before.saturating_add(count).min(total);
            observer.expected(total);
        }
        span.record("server", url.as_str());
        observer.attempt_started(&url);
        let end = consume(
            stream,
            &mut sink,
            base..base.saturating_add(total),
            request,
            &mut progress,
        )
        .instrument(span.clone())
        .await?;
        let books = sink.written() - written_before;
        observer.received(sink.written());
        span.record("books", books);
        let ended = match &end {
            StreamEnd::Complete => "complete".to_owned(),
            StreamEnd::Stopped => "stopped by a person".to_owned(),
            StreamEnd::Broken(cause) => cause.to_string(),
        };
        span.record("ended", ended.as_str());
        observer.attempt_ended(AttemptRecord {
            server: url,
            first_rank: base + written_before,
            books,
            ended,
        });
        let cause = match end {
            StreamEnd::Complete => break None,
            StreamEnd::Stopped => break Some(Stop::Stopped),
            StreamEnd::Broken(cause) => cause,
        };
        // Resume elsewhere if there is an elsewhere.
        upstream.mark_broken(&server);
        if !(cause.is_retryable() && retries.left()) {
            break Some(Stop::Broken(cause));
        }
        if books > 0 {
            // The stream made progress: the server was fine, start the waits afresh.
            retries.progress_made();
        }
        let next = base + sink.written();
        if !retries.wait(next, &cause, observer).await {
            break Some(Stop::Stopped);
        }
        span = attempt_span(next);
        // A follow resumes from the rank after the last one written, or
        // from where it started when nothing came yet.
        let follow = match (request.follow, sink.written()) {
            (None, _) => None,
            (Some(from), 0) if start.is_none() => Some(from),
            (Some(_), _) => Some(FollowFrom::Rank),
        };
        attempt = match open(upstream, request, next, follow, &mut retries, observer)
            .instrument(span.clone())
            .await
        {
            Ok(Some(attempt)) => attempt,
            Ok(None) => break Some(Stop::Stopped),
            Err(error) => break Some(Stop::Broken(Break::Reopen(error))),
        };
    };
    let retries = retries.used;

    let received = sink.written();
    // A follow stopped by a person is done: what arrived is whole and in order.
    let stopped = request.follow.is_some() && matches!(stopped_by, Some(Stop::Stopped));
    let fell_short = if stopped { None } else { stopped_by };
    let Some(stop) = fell_short else {
        // fsync and rename can take a while on a large file; keep them off the async workers.
        let file = finish(move || sink.commit()).await?;
        return Ok(RunSummary {
            user_id: request.user_id,
            requested: request.count,
            received,
            file,
            format: request.format,
            elapsed: progress.started.elapsed(),
            retries,
            preview: progress.preview,
            stopped,
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
    Broken(Break),
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

async fn finish(
    step: impl FnOnce() -> Result<PathBuf, SinkError> + Send + 'static,
) -> Result<PathBuf, SinkError> {
    match tokio::task::spawn_blocking(step).await {
        Ok(result) => result,
        Err(join_error) => Err(SinkError::Write(std::io::Error::other(join_error))),
    }
}

#[cfg(test)]
mod tests;
