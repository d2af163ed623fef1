//! The contract every incoming book passes, whatever its transport: a file
//! row, an `Append` message, a `POST /recommendations` line.

/// The documented limits (docs/stores.md).
pub mod limits {
    pub const MAX_TITLE_BYTES: usize = 1024;
    pub const MAX_AUTHOR_BYTES: usize = 512;
    pub const MAX_GENRE_BYTES: usize = 64;
    pub const MIN_YEAR: i64 = 1;
    pub const MAX_YEAR: i64 = 9999;
    /// Users and ranks are signed 64-bit integers in both stores.
    pub const MAX_ID: u64 = i64::MAX as u64;
}

/// A book as a producer hands it over, already checked against the contract.
#[derive(Debug, Clone, PartialEq)]
pub struct NewBook {
    pub title: String,
    pub author: String,
    pub isbn13: String,
    pub year: u32,
    pub genre: String,
    pub score: f32,
}

/// Why one field breaks the contract.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{column}: {reason}")]
pub struct Fault {
    /// The contract's name for the column.
    pub column: &'static str,
    pub reason: String,
}

impl Fault {
    pub fn new(column: &'static str, reason: impl Into<String>) -> Self {
        Self {
            column,
            reason: reason.into(),
        }
    }
}

/// Checks one book's fields; the first field that breaks the contract is named.
pub fn check_book(
    title: &str,
    author: &str,
    isbn13: &str,
    year: i64,
    genre: &str,
    score: f64,
) -> Result<NewBook, Fault> {
    let title = text("title", title, limits::MAX_TITLE_BYTES, true)?;
    let author = text("author", author, limits::MAX_AUTHOR_BYTES, true)?;
    let isbn13 = isbn(isbn13)?;
    if !(limits::MIN_YEAR..=limits::MAX_YEAR).contains(&year) {
        return Err(Fault::new(
            "year",
            format!(
                "{year} is not a year: use {} to {}",
                limits::MIN_YEAR,
                limits::MAX_YEAR
            ),
        ));
    }
    let genre = text("genre", genre, limits::MAX_GENRE_BYTES, true)?;
    if !score.is_finite() || !(0.0..=1.0).contains(&score) {
        return Err(Fault::new(
            "score",
            format!("{score} is not a score: use a finite number from 0 to 1"),
        ));
    }
    Ok(NewBook {
        title: title.to_owned(),
        author: author.to_owned(),
        isbn13: isbn13.to_owned(),
        year: u32::try_from(year).unwrap_or_default(),
        genre: genre.to_owned(),
        score: score as f32,
    })
}

/// A user id the stores can hold.
pub fn check_user(user_id: i64) -> Result<u64, Fault> {
    u64::try_from(user_id).map_err(|_| {
        Fault::new(
            "user_id",
            format!(
                "{user_id} is not a user id: use a whole number from 0 to {}",
                limits::MAX_ID
            ),
        )
    })
}

/// A rank the stores can hold.
pub fn check_rank(rank: i64) -> Result<u64, Fault> {
    u64::try_from(rank).map_err(|_| {
        Fault::new(
            "rank",
            format!("{rank} is not a rank: use a whole number from 0 (the first book)"),
        )
    })
}

fn text<'a>(
    column: &'static str,
    value: &'a str,
    limit: usize,
    required: bool,
) -> Result<&'a str, Fault> {
    if required && value.trim().is_empty() {
        return Err(Fault::new(column, "is empty"));
    }
    if value.len() > limit {
        return Err(Fault::new(
            column,
            format!("is {} bytes, over the limit of {limit}", value.len()),
        ));
    }
    if value.contains('\0') {
        return Err(Fault::new(column, "holds a NUL character"));
    }
    Ok(value)
}

/// An ISBN-13 as given (trimmed), if its digits check out; empty means none.
fn isbn(value: &str) -> Result<&str, Fault> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(value);
    }
    let digits: Vec<u32> = value
        .chars()
        .filter(|c| *c != '-' && *c != ' ')
        .map(|c| c.to_digit(10))
        .collect::<Option<_>>()
        .ok_or_else(|| {
            Fault::new(
                "isbn13",
                format!(
                    "'{}' holds a character that is not a digit or a hyphen",
                    value.escape_debug()
                ),
            )
        })?;
    if digits.len() != 13 {
        return Err(Fault::new(
            "isbn13",
            format!("has {} digits; an ISBN-13 has 13", digits.len()),
        ));
    }
    let sum: u32 = digits[..12]
        .iter()
        .enumerate()
        .map(|(index, digit)| if index % 2 == 0 { *digit } else { digit * 3 })
        .sum();
    let check = (10 - sum % 10) % 10;
    if digits[12] != check {
        return Err(Fault::new(
            "isbn13",
            format!("{value} has a wrong check digit: it should be {check}"),
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> Result<NewBook, Fault> {
        check_book(
            "The Silent River",
            "Ann Lee",
            "978-1-86197-876-9",
            1999,
            "Fantasy",
            0.87,
        )
    }

    #[test]
    fn a_catalog_style_book_passes() {
        let book = good().unwrap();
        assert_eq!(book.isbn13, "978-1-86197-876-9");
        assert_eq!(book.year, 1999);
        assert!(check_book("T", "A", "", 1, "G", 0.0).is_ok());
        assert!(check_book("T", "A", "9781861978769", 9999, "G", 1.0).is_ok());
    }

    #[test]
    fn each_broken_field_is_named() {
        let column = |result: Result<NewBook, Fault>| result.unwrap_err().column;
        assert_eq!(column(check_book("", "A", "", 2000, "G", 0.5)), "title");
        assert_eq!(column(check_book("a\0b", "A", "", 2000, "G", 0.5)), "title");
        assert_eq!(
            column(check_book(&"x".repeat(10 << 20), "A", "", 2000, "G", 0.5)),
            "title"
        );
        assert_eq!(
            column(check_book("T", &"x".repeat(513), "", 2000, "G", 0.5)),
            "author"
        );
        assert_eq!(
            column(check_book("T", "A", "978-1-86197-876-8", 2000, "G", 0.5)),
            "isbn13"
        );
        assert_eq!(
            column(check_book("T", "A", "978-1-86197", 2000, "G", 0.5)),
            "isbn13"
        );
        assert_eq!(column(check_book("T", "A", "", 0, "G", 0.5)), "year");
        assert_eq!(column(check_book("T", "A", "", 10_000, "G", 0.5)), "year");
        assert_eq!(column(check_book("T", "A", "", 2000, "", 0.5)), "genre");
        for score in [f64::NAN, f64::INFINITY, -0.1, 1.5] {
            assert_eq!(
                column(check_book("T", "A", "", 2000, "G", score)),
                "score",
                "{score}"
            );
        }
        let wrong = check_book("T", "A", "978-1-86197-876-8", 2000, "G", 0.5).unwrap_err();
        assert!(wrong.reason.contains("should be 9"), "{wrong}");
        assert_eq!(check_user(-4).unwrap_err().column, "user_id");
        assert_eq!(check_user(7), Ok(7));
        assert_eq!(check_rank(-1).unwrap_err().column, "rank");
    }
}
