//! Stores as older servers left them: the schema migrated only up to a
//! version before the books moved into the lists (migration V4), and one
//! list written in that layout, each book in `books` and joined by its id.
//! The checks read them and carry them forward.

use bookstream::catalog;
use bookstream_server::source::load;

use super::TestStore;
use crate::postgres;

/// The last migration whose lists point at a `books` table.
pub const LAST_JOINED_VERSION: i32 = 3;

impl TestStore {
    /// A new SQLite file at migration `version` (1 to 3) holding the first
    /// `books` generated books of `user`.
    pub async fn sqlite_at(version: i32, user: u64, books: u64) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("catalog.db");
        let store = Self::sqlite_in(dir, path.clone());
        store.migrate_to(version).await;
        let mut connection = rusqlite::Connection::open(&path).expect("the store file opens");
        let transaction = connection.transaction().expect("a transaction");
        {
            let mut book = transaction
                .prepare(
                    "INSERT INTO books (book_id, title, author, isbn13, year, genre)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .expect("books is there");
            let mut rank = transaction
                .prepare(
                    "INSERT INTO recommendations (user_id, rank, book_id, score)
                     VALUES (?1, ?2, ?3, ?4)",
                )
                .expect("recommendations is there");
            for (id, generated) in book_ids().zip(catalog::books(user, 0..books)) {
                book.execute(rusqlite::params![
                    id,
                    generated.title,
                    generated.author,
                    generated.isbn13,
                    generated.year,
                    generated.genre
                ])
                .expect("a book row");
                rank.execute(rusqlite::params![
                    stored(user),
                    stored(generated.id),
                    id,
                    generated.score
                ])
                .expect("a rank row");
            }
        }
        transaction
            .execute(
                "INSERT INTO recommendation_lists (user_id, length, loaded_at)
                 VALUES (?1, ?2, '2026-11-01T00:00:00Z')",
                rusqlite::params![stored(user), stored(books)],
            )
            .expect("a list row");
        transaction.commit().expect("the old list commits");
        store
    }

    /// A new PostgreSQL database at migration `version` (1 to 3) holding
    /// the first `books` generated books of `user`, or `None` where
    /// PostgreSQL is not installed (and not required).
    pub async fn postgres_at(version: i32, user: u64, books: u64) -> Option<Self> {
        let database = postgres::shared()?.database().await;
        let store = Self::postgres_unloaded(database);
        store.migrate_to(version).await;
        let mut client = store.database().connect().await;
        let transaction = client.transaction().await.expect("a transaction");
        let book = transaction
            .prepare(
                "INSERT INTO books (book_id, title, author, isbn13, year, genre)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .await
            .expect("books is there");
        let rank = transaction
            .prepare("INSERT INTO recommendations (user_id, rank, book_id, score) VALUES ($1, $2, $3, $4)")
            .await
            .expect("recommendations is there");
        for (id, generated) in book_ids().zip(catalog::books(user, 0..books)) {
            let year = i32::try_from(generated.year).expect("a year fits");
            transaction
                .execute(
                    &book,
                    &[
                        &id,
                        &generated.title,
                        &generated.author,
                        &generated.isbn13,
                        &year,
                        &generated.genre,
                    ],
                )
                .await
                .expect("a book row");
            transaction
                .execute(
                    &rank,
                    &[&stored(user), &stored(generated.id), &id, &generated.score],
                )
                .await
                .expect("a rank row");
        }
        transaction
            .execute(
                "INSERT INTO recommendation_lists (user_id, length) VALUES ($1, $2)",
                &[&stored(user), &stored(books)],
            )
            .await
            .expect("a list row");
        transaction.commit().await.expect("the old list commits");
        Some(store)
    }

    async fn migrate_to(&self, version: i32) {
        assert!(
            (1..=LAST_JOINED_VERSION).contains(&version),
            "an older layout is one of V1 to V{LAST_JOINED_VERSION}"
        );
        load::migrate_to(&self.spec(), version)
            .await
            .expect("the store migrates to the older version");
    }
}

/// Ids unlike the ranks, so that a reader that confused the two would show.
fn book_ids() -> impl Iterator<Item = i64> {
    (0..).map(|n| 7_000 + 3 * n)
}

fn stored(value: u64) -> i64 {
    i64::try_from(value).expect("test values fit a BIGINT")
}
