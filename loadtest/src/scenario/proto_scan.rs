//! Checking protobuf answers from their raw bytes in one pass, the gRPC twin
//! of `json`: the books compared in full are decoded; of the others only the
//! id is decoded and the other fields are skipped (still walked, so
//! malformed bytes fail). Decoding every book into owned strings cost the
//! gRPC scenarios about 40 ms of CPU per 100,000 books, which the REST
//! scenarios did not pay.

use bookstream::BookRecommendation;
use prost::{
    DecodeError, Message,
    encoding::{DecodeContext, WireType, check_wire_type, decode_key, decode_varint, skip_field},
};

use crate::{
    outcome::Failure,
    verify::{Book, Check},
};

/// `BookRecommendations.books`.
const BOOKS_TAG: u32 = 1;

/// A book of which only the id is decoded; prost skips the other fields
/// without storing them.
#[derive(Clone, PartialEq, Message)]
struct IdOnly {
    #[prost(uint64, tag = "1")]
    id: u64,
}

impl Book for IdOnly {
    fn id(&self) -> u64 {
        self.id
    }

    fn matches(&self, _expected: &BookRecommendation) -> bool {
        // Never asked to: `Check::wants_full_book` chooses a full decode then.
        false
    }
}

/// Decodes the next book, in full or id only as the check wants, and checks it.
fn next_book(message: &[u8], check: &mut Check<'_>) -> Result<(), Failure> {
    let invalid = |error: DecodeError| {
        Failure::mismatch(format!(
            "book {} is not a protobuf book: {error}",
            check.books()
        ))
    };
    if check.wants_full_book() {
        let book = BookRecommendation::decode(message).map_err(invalid)?;
        check.book(&book)
    } else {
        let book = IdOnly::decode(message).map_err(invalid)?;
        check.book(&book)
    }
}

/// Checks one message of a stream: one `BookRecommendation`.
pub(crate) fn check_message(message: &[u8], check: &mut Check<'_>) -> Result<(), Failure> {
    next_book(message, check)
}

/// Checks a whole `BookRecommendations` message and returns its book count.
/// Books are checked as they are found: no `Vec` of books, and a wrong book
/// stops the walk at once.
pub(crate) fn check_list(mut message: &[u8], mut check: Check<'_>) -> Result<u64, Failure> {
    while !message.is_empty() {
        if let Some(book) = next_field(&mut message)? {
            next_book(book, &mut check)?;
        }
    }
    check.finish()
}

/// Takes the next field off a `BookRecommendations`: a book's bytes, or
/// `None` for a field that is not a book (skipped, as prost would).
fn next_field<'a>(message: &mut &'a [u8]) -> Result<Option<&'a [u8]>, Failure> {
    let invalid = |error: DecodeError| {
        Failure::mismatch(format!(
            "the message is not a protobuf list of books: {error}"
        ))
    };
    let (tag, wire_type) = decode_key(message).map_err(invalid)?;
    if tag != BOOKS_TAG {
        skip_field(wire_type, tag, message, DecodeContext::default()).map_err(invalid)?;
        return Ok(None);
    }
    check_wire_type(WireType::LengthDelimited, wire_type).map_err(invalid)?;
    let len = decode_varint(message).map_err(invalid)?;
    match usize::try_from(len) {
        Ok(len) if len <= message.len() => {
            let (book, rest) = message.split_at(len);
            *message = rest;
            Ok(Some(book))
        }
        _ => Err(Failure::mismatch(format!(
            "the message is not a protobuf list of books: a {len}-byte book in {} bytes left",
            message.len()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use bookstream::{BookRecommendations, catalog};

    use super::*;
    use crate::{outcome::FailureKind, verify::Expectation};

    fn books(user_id: u64, count: u64) -> Vec<BookRecommendation> {
        catalog::books(user_id, 0..count).collect()
    }

    fn list(books: Vec<BookRecommendation>) -> Vec<u8> {
        BookRecommendations { books }.encode_to_vec()
    }

    /// Checks `books` as a stream of one message per book.
    fn check_stream(
        expectation: &Expectation,
        books: &[BookRecommendation],
    ) -> Result<u64, Failure> {
        let mut check = expectation.check();
        for book in books {
            check_message(&book.encode_to_vec(), &mut check)?;
        }
        check.finish()
    }

    fn assert_mismatch(result: Result<u64, Failure>, detail: &str) {
        let failure = result.unwrap_err();
        assert_eq!(failure.kind, FailureKind::Mismatch);
        assert!(failure.detail.contains(detail), "{failure:?}");
    }

    #[test]
    fn the_served_list_passes() {
        let expectation = Expectation::new(4, 200);
        let body = list(books(4, 200));
        for _ in 0..30 {
            assert_eq!(check_list(&body, expectation.check()), Ok(200));
        }
    }

    #[test]
    fn the_served_stream_passes() {
        let expectation = Expectation::new(4, 200);
        for _ in 0..30 {
            assert_eq!(check_stream(&expectation, &books(4, 200)), Ok(200));
        }
    }

    #[test]
    fn an_empty_answer_passes_when_none_were_asked_for() {
        let expectation = Expectation::new(4, 0);
        assert_eq!(check_list(&[], expectation.check()), Ok(0));
    }

    #[test]
    fn a_wrong_id_is_a_mismatch() {
        let expectation = Expectation::new(4, 20);
        let mut wrong = books(4, 20);
        wrong[7].id = 70;
        assert_mismatch(
            check_list(&list(wrong.clone()), expectation.check()),
            "position 7 has id 70",
        );
        assert_mismatch(check_stream(&expectation, &wrong), "position 7 has id 70");
    }

    #[test]
    fn a_missing_book_is_a_mismatch() {
        let expectation = Expectation::new(4, 20);
        let mut short = books(4, 20);
        short.remove(19);
        assert_mismatch(
            check_list(&list(short.clone()), expectation.check()),
            "19 books instead of 20",
        );
        assert_mismatch(check_stream(&expectation, &short), "19 books instead of 20");
    }

    #[test]
    fn an_extra_book_is_a_mismatch() {
        let expectation = Expectation::new(4, 20);
        let long = books(4, 21);
        assert_mismatch(
            check_list(&list(long.clone()), expectation.check()),
            "more books than the 20",
        );
        assert_mismatch(check_stream(&expectation, &long), "more books than the 20");
    }

    #[test]
    fn a_corrupted_sample_is_a_mismatch_in_every_answer() {
        let expectation = Expectation::new(4, 200);
        let mut wrong_last = books(4, 200);
        wrong_last[199].title.push('!');
        let mut wrong_first = books(4, 200);
        wrong_first[0].score += 1.0;
        for _ in 0..30 {
            assert_mismatch(
                check_list(&list(wrong_last.clone()), expectation.check()),
                "book 199 differs",
            );
            assert_mismatch(check_stream(&expectation, &wrong_first), "book 0 differs");
        }
    }

    #[test]
    fn truncated_bytes_are_a_mismatch() {
        let expectation = Expectation::new(4, 20);
        let body = list(books(4, 20));
        // Cut inside the last book's header, inside its body, and inside a
        // non-sampled book's fields.
        for cut in [body.len() - 1, body.len() - 40, body.len() / 2] {
            let failure = check_list(&body[..cut], expectation.check()).unwrap_err();
            assert_eq!(failure.kind, FailureKind::Mismatch, "cut at {cut}");
        }
        let book = catalog::book(4, 1).encode_to_vec();
        for cut in [book.len() - 1, 3] {
            let mut check = expectation.check();
            check_message(&book_zero(), &mut check).unwrap();
            let failure = check_message(&book[..cut], &mut check).unwrap_err();
            assert_eq!(failure.kind, FailureKind::Mismatch, "cut at {cut}");
            assert!(
                failure.detail.contains("not a protobuf book"),
                "{failure:?}"
            );
        }
    }

    #[test]
    fn an_id_of_the_wrong_wire_type_is_a_mismatch() {
        let expectation = Expectation::new(4, 20);
        let mut check = expectation.check();
        check_message(&book_zero(), &mut check).unwrap();
        // Field 1 as a length-delimited string "1".
        let failure = check_message(&[0x0a, 0x01, b'1'], &mut check).unwrap_err();
        assert_eq!(failure.kind, FailureKind::Mismatch);
    }

    #[test]
    fn books_of_the_wrong_wire_type_are_a_mismatch() {
        let expectation = Expectation::new(4, 1);
        // Field 1 as a varint.
        let failure = check_list(&[0x08, 0x00], expectation.check()).unwrap_err();
        assert_eq!(failure.kind, FailureKind::Mismatch);
        assert!(
            failure.detail.contains("not a protobuf list"),
            "{failure:?}"
        );
    }

    fn book_zero() -> Vec<u8> {
        catalog::book(4, 0).encode_to_vec()
    }
}
