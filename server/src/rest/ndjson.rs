//! The NDJSON body of `/recommendations/stream`: books serialised a chunk
//! at a time as hyper asks for the next, so memory stays flat for any count.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use bookstream::{book::OutgoingBook, catalog::BookBuf};
use bytes::Bytes;
use futures::Stream;

use super::TYPICAL_JSON_BOOK_BYTES;
use crate::source::{BookStream, SourceError};
use crate::streams::{SHUTTING_DOWN, ShutdownItem};

/// Books per NDJSON chunk: hyper sends every chunk as its own frame, so one
/// book per chunk would spend far more on framing than on books.
const BOOKS_PER_CHUNK: usize = 1000;

/// NDJSON for a stream of books, a chunk of up to [`BOOKS_PER_CHUNK`] books
/// at a time, made as the body is sent.
pub struct NdjsonChunks {
    books: BookStream,
    /// Where generated books are made, one after another, as they are serialised.
    scratch: BookBuf,
    /// An error met after some books of a chunk: sent after them.
    failed: Option<NdjsonError>,
    done: bool,
}

impl NdjsonChunks {
    pub fn new(books: BookStream) -> Self {
        Self {
            books,
            scratch: BookBuf::default(),
            failed: None,
            done: false,
        }
    }
}

impl Stream for NdjsonChunks {
    type Item = Result<Bytes, NdjsonError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(error) = self.failed.take() {
            self.done = true;
            return Poll::Ready(Some(Err(error)));
        }
        if self.done {
            return Poll::Ready(None);
        }
        // A short answer needs a buffer for its few books, not for a full chunk.
        let room = self
            .books
            .size_hint()
            .1
            .map_or(BOOKS_PER_CHUNK, |left| left.min(BOOKS_PER_CHUNK));
        let mut chunk = Vec::new();
        let mut books = 0;
        while books < BOOKS_PER_CHUNK {
            match Pin::new(&mut self.books).poll_next(cx) {
                Poll::Ready(Some(Ok(book))) => {
                    if chunk.is_empty() {
                        chunk.reserve(room * TYPICAL_JSON_BOOK_BYTES);
                    }
                    let written = write_line(&mut chunk, &book, &mut self.scratch);
                    if let Err(error) = written {
                        self.failed = Some(error);
                        break;
                    }
                    books += 1;
                }
                Poll::Ready(Some(Err(error))) => {
                    self.failed = Some(NdjsonError::Source(error));
                    break;
                }
                Poll::Ready(None) => {
                    self.done = true;
                    break;
                }
                // A page is still being read: send what is ready meanwhile.
                Poll::Pending if books > 0 => break,
                Poll::Pending => return Poll::Pending,
            }
        }
        if books > 0 {
            return Poll::Ready(Some(Ok(Bytes::from(chunk))));
        }
        match self.failed.take() {
            Some(error) => {
                self.done = true;
                Poll::Ready(Some(Err(error)))
            }
            None => Poll::Ready(None),
        }
    }
}

fn write_line(
    chunk: &mut Vec<u8>,
    book: &OutgoingBook,
    scratch: &mut BookBuf,
) -> Result<(), NdjsonError> {
    serde_json::to_writer(&mut *chunk, &book.view(scratch)).map_err(NdjsonError::Serialise)?;

    chunk.push(b'\n');
    Ok(())
}

/// Why an NDJSON body stopped before its last book; hyper then aborts the
/// chunked body, so the caller sees an incomplete answer, never a short one.
#[derive(Debug, thiserror::Error)]
pub enum NdjsonError {
    #[error("serialising a book failed: {0}")]
    Serialise(serde_json::Error),
    #[error(transparent)]
    Source(SourceError),
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
