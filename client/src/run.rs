//! One trigger run: open the stream, write every book to the sink, and commit
//! the file only when exactly the requested books arrived in order.

use std::{
    io::Write,
    path::PathBuf,
    time::{Duration, Instant},
};

use bookstream::BookRecommendation;
use tonic::Status;

use crate::{
    sink::{FileSink, Format, SinkError},
    upstream::{Upstream, UpstreamError},
};

/// Books shown on the result page.
pub const PREVIEW_BOOKS: usize = 5;
/// How often a long run logs its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);
/// Checking the clock on every book would cost more than the book.
const CLOCK_CHECK_MASK: u64 = 0x3FFF;

/// What a run asks for and where it writes.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub user_id: u64,
    pub count: u64,
    pub output: PathBuf,
    pub format: Format,
    /// Print every book to stdout as it arrives.
    pub echo: bool,
}

/// A run that delivered every requested book into the output file.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub user_id: u64,
    pub received: u64,
    pub file: PathBuf,
    pub format: Format,
    pub elapsed: Duration,
    pub preview: Vec<BookRecommendation>,
}

impl RunReport {
    pub fn books_per_second(&self) -> f64 {
        rate(self.received, self.elapsed)
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
    /// The stream never started: no file was touched.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// The stream started but did not deliver everything; what arrived was kept.
    #[error("the stream stopped after {received} of {requested} books: {cause}")]
    Interrupted {
        requested: u64,
        received: u64,
        cause: String,
        partial_file: Option<PathBuf>,
    },
    /// The file could not be written.
    #[error(transparent)]
    Sink(#[from] SinkError),
}

/// Streams `request.count` books from `upstream` into `request.output`.
pub async fn run(upstream: &Upstream, request: &RunRequest) -> Result<RunReport, RunError> {
    let started = Instant::now();
    let mut stream = upstream.recommend(request.user_id, request.count).await?;
    let mut sink = FileSink::create(&request.output, request.format)?;
    let mut preview = Vec::with_capacity(PREVIEW_BOOKS);
    let mut last_progress = started;

    let stopped_by = loop {
        let book = match stream.message().await {
            Ok(Some(book)) => book,
            Ok(None) if sink.written() == request.count => break None,
            Ok(None) => break Some("the server ended the stream early".to_owned()),
            Err(status) => break Some(describe(&status)),
        };
        if book.id != sink.written() || book.id >= request.count {
            break Some(format!(
                "the server sent book {} where book {} was expected",
                book.id,
                sink.written()
            ));
        }
        if request.echo {
            echo(&book);
        }
        if preview.len() < PREVIEW_BOOKS {
            preview.push(book.clone());
        }
        sink.write(&book)?;

        if sink.written() & CLOCK_CHECK_MASK == 0 && last_progress.elapsed() >= PROGRESS_EVERY {
            last_progress = Instant::now();
            tracing::info!(
                received = sink.written(),
                requested = request.count,
                books_per_sec = rate(sink.written(), started.elapsed()) as u64,
                "progress"
            );
        }
    };

    let received = sink.written();
    match stopped_by {
        None => {
            // fsync and rename can take a while on a large file; keep them off the async workers.
            let file = finish(move || sink.commit()).await?;
            Ok(RunReport {
                user_id: request.user_id,
                received,
                file,
                format: request.format,
                elapsed: started.elapsed(),
                preview,
            })
        }
        Some(cause) => {
            let partial_file = match finish(move || sink.keep_partial()).await {
                Ok(path) => Some(path),
                Err(error) => {
                    tracing::error!("could not keep the partial result: {error}");
                    None
                }
            };
            Err(RunError::Interrupted {
                requested: request.count,
                received,
                cause,
                partial_file,
            })
        }
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

fn echo(book: &BookRecommendation) {
    let mut stdout = std::io::stdout().lock();
    // Echo is best effort: a closed stdout must not fail the run.
    let _ = writeln!(stdout, "RESPONSE={book:?}");
}
