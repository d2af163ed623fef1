//! Books as the hot paths see them: borrowed views, pages of rows read from a
//! store, and the small owned handle a server stream yields per book.
//!
//! The generated `BookRecommendation` owns four `String`s; building one per
//! book costs more than the book. Sources and sinks speak [`BookView`]
//! instead, and only the edges that need an owned message make one.

use std::sync::Arc;

use serde::Serialize;

use crate::{catalog::BookBuf, pb::BookRecommendation};

/// One book with its text borrowed from wherever it lives: a page of rows, a
/// received message, or the catalog's scratch buffers. Serialises to the same
/// JSON as [`BookRecommendation`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct BookView<'a> {
    pub id: u64,
    pub title: &'a str,
    pub author: &'a str,
    pub isbn13: &'a str,
    pub year: u32,
    pub genre: &'a str,
    pub score: f32,
    /// When an append committed it (ms since the Unix epoch), 0 when no
    /// append did. Not written into files or JSON answers: they stay as they
    /// were; followers read it to measure their lag.
    #[serde(skip)]
    pub appended_at_ms: u64,
}

impl BookView<'_> {
    /// The owned message with the same fields.
    pub fn to_message(&self) -> BookRecommendation {
        BookRecommendation {
            id: self.id,
            title: self.title.to_owned(),
            author: self.author.to_owned(),
            isbn13: self.isbn13.to_owned(),
            year: self.year,
            genre: self.genre.to_owned(),
            score: self.score,
            appended_at_ms: self.appended_at_ms,
        }
    }
}

impl BookRecommendation {
    /// This book, borrowed.
    pub fn view(&self) -> BookView<'_> {
        BookView {
            id: self.id,
            title: &self.title,
            author: &self.author,
            isbn13: &self.isbn13,
            year: self.year,
            genre: &self.genre,
            score: self.score,
            appended_at_ms: self.appended_at_ms,
        }
    }
}

/// Where one row's fields sit in its page's text.
#[derive(Debug, Clone, Copy)]
struct Row {
    id: u64,
    year: u32,
    score: f32,
    appended_at_ms: u64,
    /// End offsets of title, author, ISBN and genre in the page's text; each
    /// field starts where the one before it ends.
    ends: [u32; 4],
}

/// A page of books read from a store: every row's text in one buffer, so a
/// page of a thousand books costs two allocations, not four thousand.
#[derive(Debug, Clone, Default)]
pub struct BookPage {
    text: String,
    rows: Vec<Row>,
}

/// A page's text would pass 4 GiB: pages are meant to be small.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a page of books cannot hold more than 4 GiB of text")]
pub struct PageFull;

impl BookPage {
    /// An empty page with room for `rows` books of about `text_bytes` text in all.
    pub fn with_capacity(rows: usize, text_bytes: usize) -> Self {
        Self {
            text: String::with_capacity(text_bytes),
            rows: Vec::with_capacity(rows),
        }
    }

    /// Appends a book, copying its text.
    pub fn push(&mut self, book: BookView<'_>) -> Result<(), PageFull> {
        let mut ends = [0u32; 4];
        for (end, field) in ends
            .iter_mut()
            .zip([book.title, book.author, book.isbn13, book.genre])
        {
            self.text.push_str(field);
            *end = u32::try_from(self.text.len()).map_err(|_| PageFull)?;
        }
        self.rows.push(Row {
            id: book.id,
            year: book.year,
            score: book.score,
            appended_at_ms: book.appended_at_ms,
            ends,
        });
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Book `index` of the page.
    pub fn get(&self, index: usize) -> Option<BookView<'_>> {
        let row = self.rows.get(index)?;
        let start = match index {
            0 => 0,
            _ => self.rows[index - 1].ends[3] as usize,
        };
        let [title, author, isbn13, genre] = row.ends.map(|end| end as usize);
        Some(BookView {
            id: row.id,
            title: &self.text[start..title],
            author: &self.text[title..author],
            isbn13: &self.text[author..isbn13],
            year: row.year,
            genre: &self.text[isbn13..genre],
            score: row.score,
            appended_at_ms: row.appended_at_ms,
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = BookView<'_>> {
        (0..self.len()).filter_map(|index| self.get(index))
    }

    /// The id of the last book, if any.
    pub fn last_id(&self) -> Option<u64> {
        self.rows.last().map(|row| row.id)
    }
}

/// One book on its way out of a server: a handle small enough to move through
/// a stream, turned into bytes only when it is encoded.
#[derive(Debug, Clone)]
pub enum OutgoingBook {
    /// Book `id` of `user_id`'s generated catalog, made when it is sent.
    Catalog { user_id: u64, id: u64 },
    /// Row `index` of a page read from a store.
    Row { page: Arc<BookPage>, index: usize },
}

impl OutgoingBook {
    /// The book's id (its rank in the result).
    pub fn id(&self) -> u64 {
        match self {
            OutgoingBook::Catalog { id, .. } => *id,
            OutgoingBook::Row { page, index } => page.get(*index).map_or(0, |book| book.id),
        }
    }

    /// This book, borrowed: from its page, or made in `scratch` from the catalog.
    pub fn view<'a>(&'a self, scratch: &'a mut BookBuf) -> BookView<'a> {
        match self {
            OutgoingBook::Catalog { user_id, id } => {
                crate::catalog::book_into(*user_id, *id, scratch)
            }
            // A row handle is only ever made for a row of its page.
            OutgoingBook::Row { page, index } => page.get(*index).unwrap_or_default(),
        }
    }

    /// The owned message of this book.
    pub fn to_message(&self) -> BookRecommendation {
        self.view(&mut BookBuf::default()).to_message()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog;

    #[test]
    fn a_page_gives_back_exactly_the_books_pushed_into_it() {
        let books: Vec<_> = catalog::books(3, 10..60).collect();
        let mut page = BookPage::with_capacity(books.len(), 0);
        for book in &books {
            page.push(book.view()).unwrap();
        }
        assert_eq!(page.len(), 50);
        let back: Vec<_> = page.iter().map(|view| view.to_message()).collect();
        assert_eq!(back, books);
        assert_eq!(page.last_id(), Some(59));
        assert_eq!(page.get(50), None);
    }

    #[test]
    fn empty_and_non_ascii_fields_keep_their_boundaries() {
        let odd = BookView {
            id: 7,
            title: "",
            author: "Zoë Ångström",
            isbn13: "",
            year: 0,
            genre: "科幻",
            score: 0.5,
            appended_at_ms: 1_780_000_000_123,
        };
        let mut page = BookPage::default();
        page.push(odd).unwrap();
        page.push(odd).unwrap();
        assert_eq!(page.get(0), Some(odd));
        assert_eq!(page.get(1), Some(odd));
    }

    #[test]
    fn a_view_serialises_to_the_json_of_the_owned_book() {
        let book = catalog::book(1, 5);
        assert_eq!(
            serde_json::to_string(&book.view()).unwrap(),
            serde_json::to_string(&book).unwrap()
        );
    }

    #[test]
    fn handles_turn_into_the_books_they_stand_for() {
        let book = catalog::book(2, 9);
        let mut page = BookPage::default();
        page.push(book.view()).unwrap();
        let row = OutgoingBook::Row {
            page: Arc::new(page),
            index: 0,
        };
        let generated = OutgoingBook::Catalog { user_id: 2, id: 9 };
        assert_eq!(row.to_message(), book);
        assert_eq!(generated.to_message(), book);
        assert_eq!(row.id(), 9);
    }
}
