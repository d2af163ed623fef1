//! `grpc-unary`: `RecommendBatch`, every book in one message, scanned as
//! raw bytes and checked.

use bookstream::RecommendationRequest;

use super::{
    grpc::{GrpcTarget, wire_bytes},
    proto_scan::check_list,
};
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
    let answer = target.recommend_batch(user, request).await?;
    let count = check_list(&answer, expectation.check())?;
    Ok(Measurement {
        books: count,
        bytes: wire_bytes(&answer),
        first_book: None,
        streaming: None,
    })
}
