//! `rest-stream`: `GET /recommendations/stream`, NDJSON read line by line as
//! the chunks arrive, every line decoded and checked.

use std::time::Instant;

use hyper::body::Incoming;

use super::{
    http::{HttpTarget, next_data},
    json::check_line,
};
use crate::{
    outcome::{Failure, Measurement, Outcome},
    verify::{Check, Expectation},
};

/// Makes one request, consumes and checks every line, returns its measurements.
pub(crate) async fn request(target: &HttpTarget, expectation: &Expectation) -> Outcome {
    let sent = Instant::now();
    target
        .exchange(|response| consume(response.into_body(), sent, expectation))
        .await
}

async fn consume(mut body: Incoming, sent: Instant, expectation: &Expectation) -> Outcome {
    let mut reader = BookLines::new(expectation.check());
    let mut bytes = 0u64;
    while let Some(data) = next_data(&mut body).await? {
        bytes += data.len() as u64;
        reader.feed(&data)?;
    }
    let timing = reader.timing;
    let count = reader.finish()?;
    Ok(Measurement {
        books: count,
        bytes,
        first_book: timing.first.map(|first| first - sent),
        streaming: timing
            .first
            .zip(timing.last)
            .map(|(first, last)| last - first),
    })
}

/// When the first and the latest book arrived.
#[derive(Debug, Clone, Copy, Default)]
struct Timing {
    first: Option<Instant>,
    last: Option<Instant>,
}

/// Splits chunks into lines, decodes each as a book and checks it. Chunk
/// borders fall anywhere, so a line may span several chunks.
struct BookLines<'a> {
    check: Check<'a>,
    /// The start of a line whose end has not arrived yet.
    partial: Vec<u8>,
    timing: Timing,
}

impl<'a> BookLines<'a> {
    fn new(check: Check<'a>) -> Self {
        Self {
            check,
            partial: Vec::new(),
            timing: Timing::default(),
        }
    }

    fn feed(&mut self, mut chunk: &[u8]) -> Result<(), Failure> {
        let before = self.check.books();
        while let Some(end) = chunk.iter().position(|byte| *byte == b'\n') {
            let (line, rest) = chunk.split_at(end);
            chunk = &rest[1..];
            if self.partial.is_empty() {
                self.line(line)?;
            } else {
                let mut joined = std::mem::take(&mut self.partial);
                joined.extend_from_slice(line);
                self.line(&joined)?;
                // Keep the allocation for the next split line.
                joined.clear();
                self.partial = joined;
            }
        }
        self.partial.extend_from_slice(chunk);
        if self.check.books() > before {
            // One clock read per chunk, not per book: a chunk's books arrive together.
            let now = Instant::now();
            self.timing.first.get_or_insert(now);
            self.timing.last = Some(now);
        }
        Ok(())
    }

    fn line(&mut self, line: &[u8]) -> Result<(), Failure> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        check_line(line, &mut self.check)
    }

    /// Ends the body: a last line without a newline still counts.
    fn finish(mut self) -> Result<u64, Failure> {
        let rest = std::mem::take(&mut self.partial);
        self.line(&rest)?;
        self.check.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ndjson(user_id: u64, count: u64) -> Vec<u8> {
        let mut text = Vec::new();
        for book in bookstream::catalog::books(user_id, 0..count) {
            serde_json::to_writer(&mut text, &book).unwrap();
            text.push(b'\n');
        }
        text
    }

    #[test]
    fn lines_split_across_chunks_are_joined_before_decoding() {
        let expectation = Expectation::new(1, 40);
        let text = ndjson(1, 40);
        for chunk_size in [1, 7, 150, text.len()] {
            let mut reader = BookLines::new(expectation.check());
            for chunk in text.chunks(chunk_size) {
                reader.feed(chunk).unwrap();
            }
            assert_eq!(reader.finish(), Ok(40), "chunks of {chunk_size}");
        }
    }

    #[test]
    fn a_last_line_without_newline_counts() {
        let expectation = Expectation::new(1, 3);
        let mut text = ndjson(1, 3);
        text.pop();
        let mut reader = BookLines::new(expectation.check());
        reader.feed(&text).unwrap();
        assert_eq!(reader.finish(), Ok(3));
    }

    #[test]
    fn a_line_that_is_not_a_book_is_a_mismatch() {
        let expectation = Expectation::new(1, 3);
        let mut reader = BookLines::new(expectation.check());
        let failure = reader.feed(b"{\"oops\": 1}\n").unwrap_err();
        assert_eq!(failure.kind, crate::outcome::FailureKind::Mismatch);
    }
}
