//! Counting the streams in flight, so the server can refuse new ones past
//! its limit instead of slowing every caller down, and so tests and
//! operators can see that a stream whose caller left is gone.

use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
};

use futures::Stream;

use crate::limits::LimitError;

/// The streams in flight (gRPC `Recommend` and REST NDJSON together).
#[derive(Debug, Clone)]
pub struct StreamGauge {
    active: Arc<AtomicUsize>,
    limit: usize,
}

impl StreamGauge {
    pub fn new(limit: usize) -> Self {
        Self {
            active: Arc::new(AtomicUsize::new(0)),
            limit,
        }
    }

    /// Streams in flight right now.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// Counts one more stream, or refuses it when the limit is reached.
    pub fn try_start(&self) -> Result<StreamPermit, LimitError> {
        let claimed = self
            .active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |active| {
                (active < self.limit).then_some(active + 1)
            });
        match claimed {
            Ok(_) => Ok(StreamPermit {
                active: self.active.clone(),
            }),
            Err(_) => Err(LimitError::TooManyStreams { limit: self.limit }),
        }
    }
}

/// One counted stream; uncounted when dropped, however the stream ends.
#[derive(Debug)]
pub struct StreamPermit {
    active: Arc<AtomicUsize>,
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        self.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A stream that holds its permit: when h2 or hyper drop the response body
/// (done, or the caller went away), the permit goes with it.
#[derive(Debug)]
pub struct Counted<S> {
    inner: S,
    _permit: StreamPermit,
}

impl<S> Counted<S> {
    pub fn new(inner: S, permit: StreamPermit) -> Self {
        Self {
            inner,
            _permit: permit,
        }
    }
}

impl<S: Stream + Unpin> Stream for Counted<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        Pin::new(&mut self.inner).poll_next(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_count_up_to_the_limit_and_free_on_drop() {
        let gauge = StreamGauge::new(2);
        let first = gauge.try_start().unwrap();
        let second = gauge.try_start().unwrap();
        assert_eq!(gauge.active(), 2);
        assert_eq!(
            gauge.try_start().unwrap_err(),
            LimitError::TooManyStreams { limit: 2 }
        );
        drop(first);
        assert_eq!(gauge.active(), 1);
        let _third = gauge.try_start().unwrap();
        drop(second);
        assert_eq!(gauge.active(), 1);
    }
}
