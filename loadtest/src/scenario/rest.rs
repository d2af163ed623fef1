//! `rest`: `GET /recommendations`, one JSON array holding every book.

use super::{
    http::{HttpTarget, read_body},
    json::check_array,
};
use crate::{
    outcome::{Measurement, Outcome},
    verify::Expectation,
};

/// Makes one request, checks the whole answer, returns its measurements.
pub(crate) async fn request(target: &HttpTarget, expectation: &Expectation) -> Outcome {
    target
        .exchange(|response| async move { check(&read_body(response).await?, expectation) })
        .await
}

fn check(body: &[u8], expectation: &Expectation) -> Outcome {
    let count = check_array(body, expectation.check())?;
    Ok(Measurement {
        books: count,
        bytes: body.len() as u64,
        first_book: None,
        streaming: None,
    })
}
