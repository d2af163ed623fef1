//! Counting the streams in flight, so the server can refuse new ones past
//! its limit instead of slowing every caller down, and so tests and
//! operators can see that a stream whose caller left is gone; and ending
//! them, with a clear last word, when a shutdown's grace runs out.

use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
    time::Instant,
};

use futures::Stream;
use prometheus_client::metrics::gauge::Gauge;

use crate::limits::LimitError;

/// The streams in flight (gRPC `Recommend` and REST NDJSON together). The
/// count is the `bookstream_active_streams` gauge itself.
#[derive(Debug, Clone)]
pub struct StreamGauge {
    active: Gauge,
    ending: Arc<AtomicBool>,
    limit: usize,
}

impl StreamGauge {
    pub fn new(limit: usize) -> Self {
        Self {
            active: Gauge::default(),
            ending: Arc::new(AtomicBool::new(false)),
            limit,
        }
    }

    /// The gauge to register with the metrics.
    pub fn gauge(&self) -> Gauge {
        self.active.clone()
    }

    /// Ends every stream at its next item, with [`ShutdownItem::shutting_down`].
    pub fn end_all(&self) {
        self.ending.store(true, Ordering::Release);
    }

    /// Streams in flight right now.
    pub fn active(&self) -> usize {
        usize::try_from(self.active.get()).unwrap_or(0)
    }

    /// Counts one more stream, or refuses it when the limit is reached.
    pub fn try_start(&self) -> Result<StreamPermit, LimitError> {
        let limit = i64::try_from(self.limit).unwrap_or(i64::MAX);
        let claimed =
            self.active
                .inner()
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |active| {
                    (active < limit).then_some(active + 1)
                });
        match claimed {
            Ok(_) => Ok(StreamPermit {
                active: self.active.clone(),
                ending: self.ending.clone(),
            }),
            Err(_) => Err(LimitError::TooManyStreams { limit: self.limit }),
        }
    }
}

/// One counted stream; uncounted when dropped, however the stream ends.
#[derive(Debug)]
pub struct StreamPermit {
    active: Gauge,
    ending: Arc<AtomicBool>,
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        self.active.dec();
    }
}

/// The last item of a stream cut short, by a shutdown or by the caller's
/// deadline: each edge says it in its own protocol.
pub trait ShutdownItem {
    fn shutting_down() -> Self;
    fn deadline_exceeded() -> Self;
}

/// Reading the clock for every book would cost more than the check is worth.
const DEADLINE_CHECK_EVERY: u32 = 256;

/// What a stream cut short by a shutdown tells its caller.
pub const SHUTTING_DOWN: &str = "the server is shutting down; resume elsewhere";

/// A stream that holds its permit: when h2 or hyper drop the response body
/// (done, or the caller went away), the permit goes with it.
#[derive(Debug)]
pub struct Supervised<S> {
    inner: S,
    permit: StreamPermit,
    deadline: Option<Instant>,
    items_since_clock: u32,
    said_goodbye: bool,
}

impl<S> Supervised<S> {
    pub fn new(inner: S, permit: StreamPermit) -> Self {
        Self {
            inner,
            permit,
            deadline: None,
            items_since_clock: 0,
            said_goodbye: false,
        }
    }

    /// Ends the stream with [`ShutdownItem::deadline_exceeded`] once `deadline` passes.
    pub fn with_deadline(mut self, deadline: Option<Instant>) -> Self {
        self.deadline = deadline;
        self
    }

    fn past_deadline(&mut self) -> bool {
        let Some(deadline) = self.deadline else {
            return false;
        };
        self.items_since_clock += 1;
        if self.items_since_clock < DEADLINE_CHECK_EVERY {
            return false;
        }
        self.items_since_clock = 0;
        Instant::now() >= deadline
    }
}

impl<S> Stream for Supervised<S>
where
    S: Stream + Unpin,
    S::Item: ShutdownItem,
{
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        if self.said_goodbye {
            return Poll::Ready(None);
        }
        // One relaxed load per item: the flag only ever turns on, once.
        if self.permit.ending.load(Ordering::Relaxed) {
            self.said_goodbye = true;
            return Poll::Ready(Some(S::Item::shutting_down()));
        }
        if self.past_deadline() {
            self.said_goodbye = true;
            return Poll::Ready(Some(S::Item::deadline_exceeded()));
        }
        Pin::new(&mut self.inner).poll_next(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl ShutdownItem for Result<u32, &'static str> {
        fn shutting_down() -> Self {
            Err(SHUTTING_DOWN)
        }

        fn deadline_exceeded() -> Self {
            Err("deadline")
        }
    }

    #[test]
    fn a_stream_past_its_deadline_ends_with_deadline_exceeded() {
        use futures::StreamExt;
        let gauge = StreamGauge::new(4);
        let past = Instant::now();
        let counted = Supervised::new(
            futures::stream::iter((0..).map(Ok)),
            gauge.try_start().unwrap(),
        )
        .with_deadline(Some(past));
        let items: Vec<_> = futures::executor::block_on(counted.collect::<Vec<_>>());
        assert_eq!(items.len(), DEADLINE_CHECK_EVERY as usize);
        assert_eq!(items.last(), Some(&Err("deadline")));
    }

    #[test]
    fn ending_all_streams_gives_each_one_last_word_then_ends_it() {
        use futures::StreamExt;
        let gauge = StreamGauge::new(4);
        let mut counted = Supervised::new(
            futures::stream::iter((0..).map(Ok)),
            gauge.try_start().unwrap(),
        );
        assert_eq!(futures::executor::block_on(counted.next()), Some(Ok(0)));
        gauge.end_all();
        assert_eq!(
            futures::executor::block_on(counted.next()),
            Some(Err(SHUTTING_DOWN))
        );
        assert_eq!(futures::executor::block_on(counted.next()), None);
    }

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
