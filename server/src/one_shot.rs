//! A cap on one-shot answers in flight (the `RecommendBatch` message and the
//! `/recommendations` JSON array). Each is built whole in memory, up to
//! `--max-message-bytes`, so without a cap the callers decide how much
//! memory the server takes (measured: 16 concurrent 10,000,000-book batches
//! took 2.7 GB). With it the one-shot answers take at most
//! `--max-one-shot` × `--max-message-bytes` (twice that while one is being
//! encoded), and a caller past the cap is told to come back shortly.
//! Streams are capped separately, by `--max-streams`.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::limits::LimitError;

/// The one-shot answers that may be in flight at once.
#[derive(Debug, Clone)]
pub struct OneShotGate {
    permits: Arc<Semaphore>,
    limit: usize,
}

impl OneShotGate {
    pub fn new(limit: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(limit)),
            limit,
        }
    }

    /// A place for one answer, or the refusal when all are taken.
    pub fn try_start(&self) -> Result<OneShotPermit, LimitError> {
        match self.permits.clone().try_acquire_owned() {
            Ok(permit) => Ok(OneShotPermit {
                permit: Some(permit),
                gate: self.clone(),
            }),
            Err(_) => Err(LimitError::TooManyOneShot { limit: self.limit }),
        }
    }
}

/// One answer's place, given back when it is dropped.
#[derive(Debug)]
pub struct OneShotPermit {
    permit: Option<OwnedSemaphorePermit>,
    gate: OneShotGate,
}

impl Drop for OneShotPermit {
    fn drop(&mut self) {
        drop(self.permit.take());
        // The last answer of a burst: its memory goes back to the system,
        // not into malloc's cache.
        if self.gate.permits.available_permits() == self.gate.limit {
            bookstream::memory::release_free_memory();
        }
    }
}

/// A one-shot answer's body that keeps its place until hyper has sent it
/// (a slow reader cannot make built answers pile up past the cap), with its
/// length announced as for any whole body.
#[derive(Debug)]
pub struct HeldBody {
    bytes: Option<bytes::Bytes>,
    length: u64,
    _place: OneShotPermit,
}

impl HeldBody {
    pub fn new(bytes: bytes::Bytes, place: OneShotPermit) -> Self {
        Self {
            length: bytes.len() as u64,
            bytes: Some(bytes),
            _place: place,
        }
    }
}

impl http_body::Body for HeldBody {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::task::Poll::Ready(
            self.bytes
                .take()
                .map(|bytes| Ok(http_body::Frame::data(bytes))),
        )
    }

    // Not `is_end_stream` once the bytes are taken: hyper then asks once
    // more, when its write buffer has room again, and only that last poll
    // (which ends the body) lets it drop the body and its place.

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.length)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_past_the_cap_are_refused_until_one_ends() {
        let gate = OneShotGate::new(2);
        let first = gate.try_start().unwrap();
        let _second = gate.try_start().unwrap();
        assert_eq!(
            gate.try_start().unwrap_err(),
            LimitError::TooManyOneShot { limit: 2 }
        );
        drop(first);
        assert!(gate.try_start().is_ok());
    }
}
