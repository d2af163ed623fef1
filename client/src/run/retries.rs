//! A run's retries: the policy, the wait before each, and opening a stream
//! again while they last.

use std::time::Duration;

use super::{FollowFrom, Observer, Opened, Opener, RunRequest};
use crate::upstream::UpstreamError;

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

/// Opens the stream from book `start_at`, retrying unreachable servers
/// while the run's retries last; `None` when the run is stopped meanwhile.
pub(super) async fn open<U: Opener>(
    upstream: &U,
    request: &RunRequest,
    start_at: u64,
    follow: Option<FollowFrom>,
    retries: &mut Retries,
    observer: &impl Observer,
) -> Result<Option<Opened<U::Stream, U::Server>>, UpstreamError> {
    loop {
        match upstream
            .open(request.user_id, request.count, start_at, follow)
            .await
        {
            Err(error) if error.is_retryable() && retries.left() => {
                if !retries.wait(start_at, &error, observer).await {
                    return Ok(None);
                }
            }
            opened => return opened.map(Some),
        }
    }
}

/// A run's retries: how many are used, and the wait before the next one.
pub(super) struct Retries {
    policy: RetryPolicy,
    pub(super) used: u32,
    backoff: Duration,
}

impl Retries {
    pub(super) fn new(policy: RetryPolicy) -> Self {
        Self {
            policy,
            used: 0,
            backoff: policy.first_backoff,
        }
    }

    pub(super) fn left(&self) -> bool {
        self.used < self.policy.retries
    }

    pub(super) fn progress_made(&mut self) {
        self.backoff = self.policy.first_backoff;
    }

    /// Spends one retry: waits, and doubles the next wait (up to [`MAX_BACKOFF`]).
    /// False when the run is stopped meanwhile.
    pub(super) async fn wait(
        &mut self,
        received: u64,
        cause: &(dyn std::fmt::Display + Sync),
        observer: &impl Observer,
    ) -> bool {
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
            () = observer.stopped() => false,
        };
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        waited
    }
}
