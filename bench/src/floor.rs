//! The floor: what the trigger's work costs with no network, the same books
//! generated from the catalog and written by the client's own sink.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use bookstream::catalog::{self, BookBuf};
use bookstream_client::sink::{FileSink, Format, SinkError};

/// Generates `count` books of `user_id` and writes them to `target` exactly as
/// a trigger run would (buffer, fsync, rename); returns the time it took. The
/// books are made the way the server makes them and written the way the
/// client writes them, so the floor is never slower than either side's share.
pub fn run(target: &Path, format: Format, user_id: u64, count: u64) -> Result<Duration, SinkError> {
    let started = Instant::now();
    let mut sink = FileSink::create(target, format)?;
    let mut scratch = BookBuf::default();
    for id in 0..count {
        sink.write(&catalog::book_into(user_id, id, &mut scratch))?;
    }

    sink.commit()?;
    Ok(started.elapsed())
}
