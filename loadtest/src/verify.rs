//! Checking an answer against the catalog without regenerating it.
//!
//! The catalog is deterministic, so the expected books are known in advance.
//! Regenerating them per request would make the harness slower than the
//! server it measures. Instead every answer has its count and every id
//! checked (ids must run 0..n-1 in order), and three of its books compared
//! field by field: the first, the last, and one position taken in turn from
//! a pool of sample positions generated once per run, so that over a run
//! every pooled position is compared many times.

use std::sync::atomic::{AtomicUsize, Ordering};

use bookstream::{BookRecommendation, catalog};

use crate::outcome::Failure;

/// Evenly spread sample positions, first and last included.
const SPREAD_SAMPLES: u64 = 16;
/// Extra positions off the even grid, so a server wrong only at "odd" ids is caught too.
const SCATTERED_SAMPLES: u64 = 8;

/// A book as a transport decoded it: an owned protobuf message, or a view
/// borrowing from a JSON body.
pub trait Book: std::fmt::Debug {
    fn id(&self) -> u64;
    /// Whether every field equals the catalog's book.
    fn matches(&self, expected: &BookRecommendation) -> bool;
}

impl Book for BookRecommendation {
    fn id(&self) -> u64 {
        self.id
    }

    fn matches(&self, expected: &BookRecommendation) -> bool {
        self == expected
    }
}

/// What every answer of a run must be.
#[derive(Debug)]
pub struct Expectation {
    count: u64,
    /// Catalog books at the sample positions, ordered by id; the first and
    /// the last book of an answer are always among them.
    samples: Vec<BookRecommendation>,
    /// Whose turn it is in the rotation of sample positions.
    turn: AtomicUsize,
}

impl Expectation {
    /// Generates the sample books for `count` books of `user_id`.
    pub fn new(user_id: u64, count: u64) -> Self {
        let samples = sample_ids(count)
            .into_iter()
            .map(|id| catalog::book(user_id, id))
            .collect();
        Self {
            count,
            samples,
            turn: AtomicUsize::new(0),
        }
    }

    /// Books each answer must hold.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Starts checking one answer, fed book by book.
    pub fn check(&self) -> Check<'_> {
        let mut compare = Vec::with_capacity(3);
        if let (Some(first), Some(last)) = (self.samples.first(), self.samples.last()) {
            let turn = self.turn.fetch_add(1, Ordering::Relaxed);
            compare.extend([first, &self.samples[turn % self.samples.len()], last]);
            compare.dedup_by_key(|book| book.id);
        }
        Check {
            count: self.count,
            compare,
            next_id: 0,
            next_compare: 0,
        }
    }

    /// Checks a whole answer at once.
    pub fn check_all<'b, B: Book + 'b>(
        &self,
        books: impl IntoIterator<Item = &'b B>,
    ) -> Result<u64, Failure> {
        let mut check = self.check();
        for book in books {
            check.book(book)?;
        }
        check.finish()
    }
}

/// The sample positions for an answer of `count` books, sorted and distinct.
fn sample_ids(count: u64) -> Vec<u64> {
    if count == 0 {
        return Vec::new();
    }
    let last = count - 1;
    let spread = (0..SPREAD_SAMPLES).map(|i| i * last / (SPREAD_SAMPLES - 1));
    // A fixed multiplicative hash: the same positions every run, but not on the grid.
    let scattered = (1..=SCATTERED_SAMPLES)
        .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) % count);
    let mut ids: Vec<u64> = spread.chain(scattered).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// One answer being checked.
#[derive(Debug)]
pub struct Check<'a> {
    count: u64,
    /// This answer's books to compare in full, ordered by id.
    compare: Vec<&'a BookRecommendation>,
    next_id: u64,
    next_compare: usize,
}

impl Check<'_> {
    /// Whether the next book will be compared in full, so a decoder can
    /// decode only the id of the others.
    pub fn wants_full_book(&self) -> bool {
        self.compare
            .get(self.next_compare)
            .is_some_and(|book| book.id == self.next_id)
    }

    /// Checks the next book of the answer.
    pub fn book(&mut self, book: &impl Book) -> Result<(), Failure> {
        let position = self.next_id;
        if position >= self.count {
            return Err(Failure::mismatch(format!(
                "more books than the {} asked for",
                self.count
            )));
        }
        if book.id() != position {
            return Err(Failure::mismatch(format!(
                "the book at position {position} has id {}",
                book.id()
            )));
        }
        if self.wants_full_book() {
            let expected = self.compare[self.next_compare];
            if !book.matches(expected) {
                return Err(Failure::mismatch(format!(
                    "book {position} differs from the catalog: got {book:?}, expected {expected:?}"
                )));
            }
            self.next_compare += 1;
        }
        self.next_id += 1;
        Ok(())
    }

    /// Ends the answer: it must have held exactly the books asked for.
    pub fn finish(self) -> Result<u64, Failure> {
        if self.next_id == self.count {
            Ok(self.next_id)
        } else {
            Err(Failure::mismatch(format!(
                "{} books instead of {}",
                self.next_id, self.count
            )))
        }
    }

    /// Books checked so far.
    pub fn books(&self) -> u64 {
        self.next_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::FailureKind;

    fn answer(user_id: u64, count: u64) -> Vec<BookRecommendation> {
        catalog::books(user_id, 0..count).collect()
    }

    #[test]
    fn the_catalog_answer_passes() {
        let expectation = Expectation::new(3, 500);
        for _ in 0..30 {
            assert_eq!(expectation.check_all(&answer(3, 500)), Ok(500));
        }
    }

    #[test]
    fn a_short_answer_is_a_mismatch() {
        let expectation = Expectation::new(3, 500);
        let failure = expectation.check_all(&answer(3, 499)).unwrap_err();
        assert_eq!(failure.kind, FailureKind::Mismatch);
        assert!(
            failure.detail.contains("499 books instead of 500"),
            "{failure:?}"
        );
    }

    #[test]
    fn a_long_answer_is_a_mismatch() {
        let expectation = Expectation::new(3, 10);
        assert!(expectation.check_all(&answer(3, 11)).is_err());
    }

    #[test]
    fn ids_out_of_order_are_a_mismatch() {
        let expectation = Expectation::new(3, 10);
        let mut books = answer(3, 10);
        books.swap(4, 5);
        let failure = expectation.check_all(&books).unwrap_err();
        assert!(
            failure.detail.contains("position 4 has id 5"),
            "{failure:?}"
        );
    }

    #[test]
    fn another_users_books_are_a_mismatch_in_every_answer() {
        let expectation = Expectation::new(3, 100);
        for _ in 0..30 {
            assert!(expectation.check_all(&answer(4, 100)).is_err());
        }
    }

    #[test]
    fn the_first_and_last_books_are_compared_in_every_answer() {
        let expectation = Expectation::new(3, 1000);
        let mut wrong_last = answer(3, 1000);
        wrong_last[999].title.push('!');
        let mut wrong_first = answer(3, 1000);
        wrong_first[0].author.push('!');
        for _ in 0..30 {
            assert!(expectation.check_all(&wrong_last).is_err());
            assert!(expectation.check_all(&wrong_first).is_err());
        }
    }

    #[test]
    fn every_sample_position_is_compared_in_turn() {
        let expectation = Expectation::new(3, 1000);
        let positions = sample_ids(1000);
        for position in &positions {
            let mut books = answer(3, 1000);
            books[*position as usize].year += 1;
            let caught = (0..positions.len())
                .filter(|_| expectation.check_all(&books).is_err())
                .count();
            assert!(caught >= 1, "position {position} never compared");
        }
    }

    #[test]
    fn three_books_at_most_are_compared_per_answer() {
        let expectation = Expectation::new(3, 1000);
        let mut check = expectation.check();
        let mut full = 0;
        for book in answer(3, 1000) {
            full += usize::from(check.wants_full_book());
            check.book(&book).unwrap();
        }
        assert!((2..=3).contains(&full), "{full}");
    }

    #[test]
    fn samples_cover_the_ends_and_stay_in_range() {
        for count in [1, 2, 7, 16, 100, 100_000] {
            let ids = sample_ids(count);
            assert_eq!(ids.first(), Some(&0));
            assert_eq!(ids.last(), Some(&(count - 1)));
            assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");
            assert!(ids.len() as u64 <= SPREAD_SAMPLES + SCATTERED_SAMPLES);
        }
    }
}
