//! Decoding and checking JSON answers in one pass. The books compared in
//! full are decoded as views borrowing from the body; of the others only
//! the id is decoded (the rest is still scanned, so malformed JSON fails).
//! Decoding every book into owned strings cost the REST scenarios about a
//! fifth of their CPU, which the server's measurement would have paid for.

use std::{borrow::Cow, fmt};

use bookstream::BookRecommendation;
use serde::{
    Deserialize, Deserializer,
    de::{DeserializeSeed, Error as _, SeqAccess, Visitor},
};

use crate::{
    outcome::Failure,
    verify::{Book, Check},
};

/// One book of a JSON answer, compared in full. Strings borrow from the body
/// unless they hold escapes.
#[derive(Debug, Deserialize)]
struct BookView<'a> {
    id: u64,
    #[serde(borrow)]
    title: Cow<'a, str>,
    #[serde(borrow)]
    author: Cow<'a, str>,
    #[serde(borrow)]
    isbn13: Cow<'a, str>,
    year: u32,
    #[serde(borrow)]
    genre: Cow<'a, str>,
    score: f32,
}

impl Book for BookView<'_> {
    fn id(&self) -> u64 {
        self.id
    }

    fn matches(&self, expected: &BookRecommendation) -> bool {
        self.id == expected.id
            && self.title == expected.title
            && self.author == expected.author
            && self.isbn13 == expected.isbn13
            && self.year == expected.year
            && self.genre == expected.genre
            && self.score == expected.score
    }
}

/// A book of which only the id is decoded; serde skips the other fields.
#[derive(Debug, Deserialize)]
struct IdOnly {
    id: u64,
}

impl Book for IdOnly {
    fn id(&self) -> u64 {
        self.id
    }

    fn matches(&self, _expected: &BookRecommendation) -> bool {
        // Never asked to: `Check::wants_full_book` chooses a full view then.
        false
    }
}

/// Decodes the next book, in full or id only as the check wants, and checks it.
fn next_book(text: &[u8], check: &mut Check<'_>) -> Result<(), Failure> {
    let invalid = |error: serde_json::Error| {
        Failure::mismatch(format!(
            "book {} is not a JSON book: {error}",
            check.books()
        ))
    };
    if check.wants_full_book() {
        let book: BookView<'_> = serde_json::from_slice(text).map_err(invalid)?;
        check.book(&book)
    } else {
        let book: IdOnly = serde_json::from_slice(text).map_err(invalid)?;
        check.book(&book)
    }
}

/// Checks one NDJSON line.
pub(crate) fn check_line(line: &[u8], check: &mut Check<'_>) -> Result<(), Failure> {
    next_book(line, check)
}

/// Checks a whole JSON array answer and returns its book count.
pub(crate) fn check_array(body: &[u8], mut check: Check<'_>) -> Result<u64, Failure> {
    let mut failure = None;
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let seed = CheckedArray {
        check: &mut check,
        failure: &mut failure,
    };
    let parsed = seed
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end());
    match (parsed, failure) {
        (_, Some(failure)) => Err(failure),
        (Err(error), None) => Err(Failure::mismatch(format!(
            "the body is not a JSON array of books: {error}"
        ))),
        (Ok(()), None) => check.finish(),
    }
}

/// Walks the array element by element, checking as it goes: no `Vec` of
/// books, and a wrong book stops the walk at once.
struct CheckedArray<'c, 'e> {
    check: &'c mut Check<'e>,
    failure: &'c mut Option<Failure>,
}

impl<'de> DeserializeSeed<'de> for CheckedArray<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for CheckedArray<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of books")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        loop {
            let checked = if self.check.wants_full_book() {
                seq.next_element::<BookView<'de>>()?
                    .map(|book| self.check.book(&book))
            } else {
                seq.next_element::<IdOnly>()?
                    .map(|book| self.check.book(&book))
            };
            match checked {
                None => return Ok(()),
                Some(Ok(())) => {}
                Some(Err(failure)) => {
                    *self.failure = Some(failure);
                    return Err(A::Error::custom("the answer is not the one asked for"));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{outcome::FailureKind, verify::Expectation};

    fn array(user_id: u64, count: u64) -> Vec<u8> {
        let books: Vec<_> = bookstream::catalog::books(user_id, 0..count).collect();
        serde_json::to_vec(&books).unwrap()
    }

    #[test]
    fn the_served_array_passes() {
        let expectation = Expectation::new(4, 200);
        for _ in 0..30 {
            assert_eq!(check_array(&array(4, 200), expectation.check()), Ok(200));
        }
    }

    #[test]
    fn a_changed_title_at_the_end_is_a_mismatch() {
        let expectation = Expectation::new(4, 200);
        let mut books: Vec<_> = bookstream::catalog::books(4, 0..200).collect();
        books[199].title = "Quote \" and \\ back".to_owned();
        let body = serde_json::to_vec(&books).unwrap();
        let failure = check_array(&body, expectation.check()).unwrap_err();
        assert!(failure.detail.contains("book 199 differs"), "{failure:?}");
    }

    #[test]
    fn escaped_text_still_matches() {
        let mut book = bookstream::catalog::book(4, 17);
        book.title = "Quote \" and \\ back".to_owned();
        let json = serde_json::to_vec(&book).unwrap();
        let view: BookView<'_> = serde_json::from_slice(&json).unwrap();
        assert!(view.matches(&book));
    }

    #[test]
    fn truncated_or_trailing_json_is_a_mismatch() {
        let expectation = Expectation::new(4, 20);
        let body = array(4, 20);
        for broken in [
            &body[..body.len() - 1],
            &[&body[..], b"]"].concat()[..],
            b"{}",
        ] {
            let failure = check_array(broken, expectation.check()).unwrap_err();
            assert_eq!(failure.kind, FailureKind::Mismatch);
        }
    }

    #[test]
    fn a_line_that_is_not_a_book_is_a_mismatch() {
        let expectation = Expectation::new(4, 20);
        let mut check = expectation.check();
        assert!(check_line(b"{\"oops\": 1}", &mut check).is_err());
    }
}
