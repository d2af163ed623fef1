//! `grpc-stream`: `Recommend`, one message per book, every one consumed,
//! scanned as raw bytes and checked.

use std::time::Instant;

use bookstream::RecommendationRequest;

use super::{
    grpc::{GrpcTarget, status_failure, wire_bytes},
    proto_scan::check_message,
};
use crate::{
    outcome::{Measurement, Outcome},
    verify::Expectation,
};

/// Makes one request, consumes and checks every message, returns its measurements.
pub(crate) async fn request(
    target: &GrpcTarget,
    user: usize,
    request: RecommendationRequest,
    expectation: &Expectation,
) -> Outcome {
    let sent = Instant::now();
    let mut stream = target.recommend(user, request).await?;
    let mut check = expectation.check();
    let mut bytes = 0;
    let mut first = None;
    while let Some(message) = stream.message().await.map_err(status_failure)? {
        if first.is_none() {
            first = Some(Instant::now());
        }
        bytes += wire_bytes(&message);
        check_message(&message, &mut check)?;
    }
    // One clock read at the end, not per message: tonic hands over buffered
    // messages back to back, so per-message reads would mostly time the clock.
    let last = Instant::now();
    let count = check.finish()?;
    Ok(Measurement {
        books: count,
        bytes,
        first_book: first.map(|first| first - sent),
        streaming: first.map(|first| last - first),
    })
}
