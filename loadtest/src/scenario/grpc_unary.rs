//! `grpc-unary`: `RecommendBatch`, every book in one message.

use bookstream::RecommendationRequest;

use super::grpc::{GrpcTarget, status_failure, wire_bytes};
use crate::{
    outcome::{Measurement, Outcome},
    verify::Expectation,
};

/// Makes one request, checks the whole answer, returns its measurements.
pub(crate) async fn request(
    target: &GrpcTarget,
    user: usize,
    request: RecommendationRequest,
    expectation: &Expectation,
) -> Outcome {
    let answer = target
        .client(user)
        .recommend_batch(request)
        .await
        .map_err(status_failure)?
        .into_inner();
    let count = expectation.check_all(&answer.books)?;
    Ok(Measurement {
        books: count,
        bytes: wire_bytes(&answer),
        first_book: None,
        streaming: None,
    })
}
