//! What a follow adds to a paged stream: the wake-up it waits on once it
//! has sent what exists, and the metrics it updates once per page.

use std::{
    task::{Context, Poll, ready},
    time::Instant,
};

use futures::future::BoxFuture;
use prometheus_client::metrics::{counter::Counter, histogram::Histogram};

use super::PagedBooks;
use crate::follow::{Closed, Grown, Subscription};

/// What a follow adds: the wake-up it waits on, and what it counts.
pub(super) struct Following {
    pub(super) subscription: Option<Subscription>,
    pub(super) waiting: Option<BoxFuture<'static, (Subscription, Result<Grown, Closed>)>>,
    /// When this server learnt of the books now being read, until the first is sent.
    pub(super) woken_at: Option<Instant>,
    pub(super) metrics: Option<FollowMetrics>,
}

/// The follow metrics a stream updates, once per page.
#[derive(Debug, Clone)]
pub struct FollowMetrics {
    /// Books sent to followers after they were appended (`bookstream_follow_books`).
    pub delivered: Counter,
    /// From this server learning of a commit to its first book being sent.
    pub lag: Histogram,
}

impl PagedBooks {
    /// A follow with nothing left to read: waits for the list to grow.
    /// `None` when this stream does not follow.
    pub(super) fn poll_grown(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Grown, Closed>>> {
        let Some(follow) = &mut self.follow else {
            return Poll::Ready(None);
        };
        if follow.waiting.is_none() {
            let Some(mut subscription) = follow.subscription.take() else {
                return Poll::Ready(Some(Err(Closed)));
            };
            let beyond = self.known;
            follow.waiting = Some(Box::pin(async move {
                let grown = subscription.grown(beyond).await;
                (subscription, grown)
            }));
        }
        let Some(waiting) = follow.waiting.as_mut() else {
            return Poll::Ready(Some(Err(Closed)));
        };
        let (subscription, grown) = ready!(waiting.as_mut().poll(cx));
        follow.waiting = None;
        follow.subscription = Some(subscription);
        if let Ok(grown) = &grown {
            follow.woken_at = Some(grown.at);
        }
        Poll::Ready(Some(grown))
    }
}
