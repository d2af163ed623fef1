//! Checking an answer against the catalog without regenerating it.
//!
//! The catalog is deterministic, so the expected books are known in advance.
//! Regenerating all of them per request would make the harness slower than
//! the server it measures; instead every id is checked (cheap: ids must run
//! 0..n-1 in order) and a fixed sample of positions, generated once per run,
//! is compared field by field.

use bookstream::{BookRecommendation, catalog};

use crate::outcome::Failure;

/// Evenly spread sample positions, first and last included.
const SPREAD_SAMPLES: u64 = 16;
/// Extra positions off the even grid, so a server wrong only at "odd" ids is caught too.
const SCATTERED_SAMPLES: u64 = 8;

/// What every answer of a run must be.
#[derive(Debug, Clone)]
pub struct Expectation {
    count: u64,
    /// Catalog books at the sample positions, ordered by id.
    samples: Vec<BookRecommendation>,
}

impl Expectation {
    /// Generates the sample books for `count` books of `user_id`.
    pub fn new(user_id: u64, count: u64) -> Self {
        let samples = sample_ids(count)
            .into_iter()
            .map(|id| catalog::book(user_id, id))
            .collect();
        Self { count, samples }
    }

    /// Books each answer must hold.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Starts checking one answer, fed book by book.
    pub fn check(&self) -> Check<'_> {
        Check {
            expectation: self,
            next_id: 0,
            next_sample: 0,
        }
    }

    /// Checks a whole answer at once.
    pub fn check_all<'b>(
        &self,
        books: impl IntoIterator<Item = &'b BookRecommendation>,
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
    expectation: &'a Expectation,
    next_id: u64,
    next_sample: usize,
}

impl Check<'_> {
    /// Checks the next book of the answer.
    pub fn book(&mut self, book: &BookRecommendation) -> Result<(), Failure> {
        let position = self.next_id;
        if position >= self.expectation.count {
            return Err(Failure::mismatch(format!(
                "more books than the {} asked for",
                self.expectation.count
            )));
        }
        if book.id != position {
            return Err(Failure::mismatch(format!(
                "the book at position {position} has id {}",
                book.id
            )));
        }
        if let Some(sample) = self.expectation.samples.get(self.next_sample)
            && sample.id == position
        {
            if sample != book {
                return Err(Failure::mismatch(format!(
                    "book {position} differs from the catalog: got {book:?}, expected {sample:?}"
                )));
            }
            self.next_sample += 1;
        }
        self.next_id += 1;
        Ok(())
    }

    /// Ends the answer: it must have held exactly the books asked for.
    pub fn finish(self) -> Result<u64, Failure> {
        if self.next_id == self.expectation.count {
            Ok(self.next_id)
        } else {
            Err(Failure::mismatch(format!(
                "{} books instead of {}",
                self.next_id, self.expectation.count
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
        assert_eq!(expectation.check_all(&answer(3, 500)), Ok(500));
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
    fn another_users_books_are_a_mismatch() {
        let expectation = Expectation::new(3, 100);
        assert!(expectation.check_all(&answer(4, 100)).is_err());
    }

    #[test]
    fn a_changed_field_at_a_sampled_position_is_a_mismatch() {
        let expectation = Expectation::new(3, 1000);
        let mut books = answer(3, 1000);
        books[999].title.push('!');
        assert!(expectation.check_all(&books).is_err());
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
