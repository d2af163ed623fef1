//! The deterministic book catalog.
//!
//! Book `id` of user `u` is a pure function of `(u, id)`: each book seeds its
//! own fast RNG from that pair. Any range can therefore be produced without
//! the books before it, two processes agree on every book without talking,
//! and a file can be verified against the catalog after the fact.

use std::ops::Range;

use fake::{
    Fake,
    faker::{
        address::en::{CitySuffix, CountryName, StateName},
        company::en::{BsNoun, Buzzword, Profession},
        name::en::{FirstName, LastName},
    },
    rand::{RngExt, SeedableRng, rngs::SmallRng},
};

use crate::{book::BookView, pb::BookRecommendation};

const GENRES: [&str; 12] = [
    "Fantasy",
    "Science Fiction",
    "Mystery",
    "Thriller",
    "Romance",
    "Historical Fiction",
    "Biography",
    "Poetry",
    "Horror",
    "Travel",
    "Philosophy",
    "Adventure",
];

const OLDEST_YEAR: u32 = 1850;
const NEWEST_YEAR: u32 = 2026;

/// Book `id` of the recommendations for `user_id`.
pub fn book(user_id: u64, id: u64) -> BookRecommendation {
    book_into(user_id, id, &mut BookBuf::default()).to_message()
}

/// The buffers a book's text is written into. Reused from book to book, so
/// making a book on a hot path allocates nothing once they have grown.
#[derive(Debug, Clone, Default)]
pub struct BookBuf {
    title: String,
    author: String,
    isbn13: String,
}

/// Book `id` of `user_id`, written into `buf` and borrowed from it: the same
/// book as [`book`], without an owned message.
pub fn book_into(user_id: u64, id: u64, buf: &mut BookBuf) -> BookView<'_> {
    let mut rng = SmallRng::seed_from_u64(seed(user_id, id));
    let first_name: &str = FirstName().fake_with_rng(&mut rng);
    let last_name: &str = LastName().fake_with_rng(&mut rng);
    buf.author.clear();
    buf.author.push_str(first_name);
    buf.author.push(' ');
    buf.author.push_str(last_name);
    buf.title.clear();
    write_title(&mut rng, &mut buf.title);
    buf.isbn13.clear();
    write_isbn13(&mut rng, &mut buf.isbn13);

    BookView {
        id,
        title: &buf.title,
        author: &buf.author,
        isbn13: &buf.isbn13,
        year: rng.random_range(OLDEST_YEAR..=NEWEST_YEAR),
        genre: GENRES[rng.random_range(0..GENRES.len())],
        score: score(id),
        appended_at_ms: 0,
    }
}

/// The books with the given ids, in order, generated lazily one at a time.
pub fn books(user_id: u64, ids: Range<u64>) -> Books {
    Books { user_id, ids }
}

/// Lazy iterator over a range of a user's books; see [`books`].
#[derive(Debug, Clone)]
pub struct Books {
    user_id: u64,
    ids: Range<u64>,
}

impl Iterator for Books {
    type Item = BookRecommendation;

    fn next(&mut self) -> Option<Self::Item> {
        self.ids.next().map(|id| book(self.user_id, id))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.ids.size_hint()
    }

    fn nth(&mut self, n: usize) -> Option<Self::Item> {
        // Skipping costs nothing: no book depends on the ones before it.
        self.ids.nth(n).map(|id| book(self.user_id, id))
    }
}

impl ExactSizeIterator for Books {}

impl DoubleEndedIterator for Books {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.ids.next_back().map(|id| book(self.user_id, id))
    }
}

/// The match score of the book at rank `id`: 1 for the best match, falling
/// smoothly and never increasing, so ids and scores tell the same order.
pub fn score(id: u64) -> f32 {
    (1000.0 / (1000.0 + id as f64)) as f32
}

fn write_title(rng: &mut SmallRng, title: &mut String) {
    match rng.random_range(0..6u8) {
        0 => {
            title.push_str("The ");
            push_capitalized(title, Buzzword().fake_with_rng(rng));
            title.push(' ');
            push_capitalized(title, BsNoun().fake_with_rng(rng));
        }
        1 => {
            title.push_str(FirstName().fake_with_rng(rng));
            title.push_str(" of ");
            title.push_str(StateName().fake_with_rng(rng));
        }
        2 => {
            title.push_str("The Last ");
            push_capitalized(title, Profession().fake_with_rng(rng));
        }
        3 => {
            title.push_str("Letters from ");
            title.push_str(CountryName().fake_with_rng(rng));
        }
        4 => {
            title.push_str(LastName().fake_with_rng(rng));
            title.push_str("'s ");
            push_capitalized(title, BsNoun().fake_with_rng(rng));
        }
        _ => {
            title.push_str("A Summer in ");
            title.push_str(FirstName().fake_with_rng(rng));
            title.push_str(CitySuffix().fake_with_rng(rng));
        }
    }
}

/// A valid hyphenated ISBN-13 (978 or 979, then group, registrant,
/// publication and check digit). fake's ISBN faker builds one through some
/// thirty small allocations, most of the cost of a book; this takes none.
fn write_isbn13(rng: &mut SmallRng, isbn: &mut String) {
    let mut digits = [0u8; 13];
    digits[..3].copy_from_slice(if rng.random_ratio(9, 10) {
        &[9, 7, 8]
    } else {
        &[9, 7, 9]
    });
    let mut body = rng.random_range(0..1_000_000_000u32);
    for digit in digits[3..12].iter_mut().rev() {
        *digit = (body % 10) as u8;
        body /= 10;
    }
    let weighted: u32 = digits[..12]
        .iter()
        .enumerate()
        .map(|(position, &digit)| u32::from(digit) * if position % 2 == 0 { 1 } else { 3 })
        .sum();
    digits[12] = ((10 - weighted % 10) % 10) as u8;

    for (position, digit) in digits.iter().enumerate() {
        if matches!(position, 3 | 4 | 9 | 12) {
            isbn.push('-');
        }
        isbn.push(char::from(b'0' + digit));
    }
}

fn push_capitalized(out: &mut String, word: &str) {
    let mut chars = word.chars();
    if let Some(first) = chars.next() {
        out.extend(first.to_uppercase());
        out.push_str(chars.as_str());
    }
}

/// Mixes the pair into one well-spread seed (SplitMix64 finaliser), so that
/// neighbouring ids and users do not get correlated streams.
fn seed(user_id: u64, id: u64) -> u64 {
    mix(mix(user_id) ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_request_always_yields_the_same_books() {
        let first: Vec<_> = books(7, 0..200).collect();
        let second: Vec<_> = books(7, 0..200).collect();
        assert_eq!(first, second);
    }

    #[test]
    fn ids_are_positions_in_the_result() {
        let ids: Vec<u64> = books(1, 0..50).map(|book| book.id).collect();
        assert_eq!(ids, (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn a_range_matches_the_same_books_of_the_full_list() {
        let full: Vec<_> = books(3, 0..100).collect();
        let tail: Vec<_> = books(3, 60..100).collect();
        assert_eq!(&full[60..], &tail[..]);
        assert_eq!(books(3, 0..100).nth(42).as_ref(), full.get(42));
        assert_eq!(books(3, 0..100).next_back().as_ref(), full.last());
    }

    #[test]
    fn different_users_get_different_books() {
        let alice: Vec<_> = books(1, 0..20).map(|book| book.title).collect();
        let bob: Vec<_> = books(2, 0..20).map(|book| book.title).collect();
        assert_ne!(alice, bob);
    }

    #[test]
    fn every_field_is_filled_and_plausible() {
        for book in books(11, 0..500) {
            assert!(
                !book.title.is_empty() && !book.title.contains('\n'),
                "{book:?}"
            );
            assert!(book.author.contains(' '), "{book:?}");
            assert!((OLDEST_YEAR..=NEWEST_YEAR).contains(&book.year), "{book:?}");
            assert!(GENRES.contains(&book.genre.as_str()), "{book:?}");
            assert!(book.score > 0.0 && book.score <= 1.0, "{book:?}");
        }
    }

    #[test]
    fn isbns_carry_a_valid_check_digit() {
        for book in books(5, 0..200) {
            let digits: Vec<u32> = book.isbn13.chars().filter_map(|c| c.to_digit(10)).collect();
            assert_eq!(digits.len(), 13, "{}", book.isbn13);
            let weighted: u32 = digits
                .iter()
                .enumerate()
                .map(|(i, d)| if i % 2 == 0 { *d } else { d * 3 })
                .sum();
            assert_eq!(weighted % 10, 0, "{}", book.isbn13);
            assert!(
                book.isbn13.starts_with("978-") || book.isbn13.starts_with("979-"),
                "{}",
                book.isbn13
            );
            assert_eq!(
                book.isbn13.split('-').map(str::len).collect::<Vec<_>>(),
                [3, 1, 5, 3, 1]
            );
        }
    }

    #[test]
    fn scores_never_increase_with_rank() {
        let scores: Vec<f32> = (0..10_000).map(score).collect();
        assert_eq!(scores[0], 1.0);
        assert!(scores.windows(2).all(|pair| pair[0] >= pair[1]));
    }

    #[test]
    fn a_book_written_into_reused_buffers_is_the_same_book() {
        let mut buf = BookBuf::default();
        for (user_id, id) in [(1, 0), (1, 1), (7, 123_456), (u64::MAX, u64::MAX), (0, 9)] {
            let view = book_into(user_id, id, &mut buf);
            assert_eq!(view.to_message(), book(user_id, id));
        }
    }

    #[test]
    fn books_are_the_ones_every_earlier_file_holds() {
        // Files written and stores loaded before must stay verifiable:
        // the catalog may get faster, never different.
        let first = book(1, 0);
        assert_eq!(first.title, "The Future-proofed Niches");
        assert_eq!(first.author, "Delores Kiehn");
        assert_eq!(first.isbn13, "978-2-26863-192-9");
        assert_eq!((first.year, first.genre.as_str()), (1932, "Biography"));
        assert_eq!(book(2, 19_999).title, "Letters from Malawi");
    }

    #[test]
    fn the_size_hint_is_exact() {
        assert_eq!(books(1, 10..25).len(), 15);
    }
}
