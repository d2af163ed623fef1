//! `rest`: `GET /recommendations`, one JSON array holding every book.

use bookstream::BookRecommendation;

use super::http::{HttpTarget, read_body};
use crate::{
    outcome::{Failure, Measurement, Outcome},
    verify::Expectation,
};

/// Makes one request, checks the whole answer, returns its measurements.
pub(crate) async fn request(target: &HttpTarget, expectation: &Expectation) -> Outcome {
    let response = target.get().await?;
    let body = read_body(response).await?;
    let books: Vec<BookRecommendation> = serde_json::from_slice(&body).map_err(|error| {
        Failure::mismatch(format!("the body is not a JSON array of books: {error}"))
    })?;
    let count = expectation.check_all(&books)?;
    Ok(Measurement {
        books: count,
        bytes: body.len() as u64,
        first_book: None,
        streaming: None,
    })
}
