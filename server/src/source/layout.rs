//! Which of the layouts a store's lists may be in: the one this version
//! writes, or one an older version left and nothing has migrated yet. A
//! reader opens a store read-only and never migrates it, so it reads any of
//! them, and remembers which one answered so that it does not ask again per page.

use std::sync::atomic::{AtomicU8, Ordering};

/// A store's layout of lists and books.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// Migration V4 on: each row of a list carries its book.
    BooksInLists,
    /// V3: rows point at `books`, and carry their append time.
    Joined,
    /// V1 and V2: rows point at `books`; no append times were kept.
    JoinedWithoutTimes,
}

impl Layout {
    const ALL: [Layout; 3] = [
        Layout::BooksInLists,
        Layout::Joined,
        Layout::JoinedWithoutTimes,
    ];

    /// One page of a user's list in this layout, by keyset (never OFFSET, so
    /// page 10,000 costs what page 1 does). The same text for both stores:
    /// SQLite numbers `$1`..`$3` in order, as PostgreSQL does.
    pub(crate) fn page_sql(self) -> &'static str {
        match self {
            Layout::BooksInLists => {
                "SELECT rank, title, author, isbn13, year, genre, score, appended_at_ms
                 FROM recommendations
                 WHERE user_id = $1 AND rank >= $2
                 ORDER BY rank
                 LIMIT $3"
            }
            Layout::Joined => {
                "SELECT r.rank, b.title, b.author, b.isbn13, b.year, b.genre, r.score, r.appended_at_ms
                 FROM recommendations AS r JOIN books AS b ON b.book_id = r.book_id
                 WHERE r.user_id = $1 AND r.rank >= $2
                 ORDER BY r.rank
                 LIMIT $3"
            }
            Layout::JoinedWithoutTimes => {
                "SELECT r.rank, b.title, b.author, b.isbn13, b.year, b.genre, r.score,
                        CAST(NULL AS BIGINT)
                 FROM recommendations AS r JOIN books AS b ON b.book_id = r.book_id
                 WHERE r.user_id = $1 AND r.rank >= $2
                 ORDER BY r.rank
                 LIMIT $3"
            }
        }
    }
}

/// The layout a store answered in last.
#[derive(Debug, Default)]
pub(crate) struct LayoutMemory(AtomicU8);

impl LayoutMemory {
    /// Every layout, the one that answered last first, then the newest
    /// first: a store migrated while the server runs is found again.
    pub(crate) fn candidates(&self) -> impl Iterator<Item = Layout> {
        let last =
            Layout::ALL[usize::from(self.0.load(Ordering::Relaxed)).min(Layout::ALL.len() - 1)];
        std::iter::once(last).chain(
            Layout::ALL
                .into_iter()
                .filter(move |&layout| layout != last),
        )
    }

    pub(crate) fn remember(&self, layout: Layout) {
        self.0.store(layout as u8, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_that_answered_last_is_tried_first_then_the_newest() {
        let memory = LayoutMemory::default();
        assert_eq!(memory.candidates().collect::<Vec<_>>(), Layout::ALL);
        memory.remember(Layout::JoinedWithoutTimes);
        assert_eq!(
            memory.candidates().collect::<Vec<_>>(),
            [
                Layout::JoinedWithoutTimes,
                Layout::BooksInLists,
                Layout::Joined
            ]
        );
    }
}
