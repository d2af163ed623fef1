//! Stores older servers wrote, with each book in a `books` table joined by
//! id (migrations V1 to V3), are read exactly as before, and the next load
//! or writer carries them forward to books kept in the lists (V4) without
//! changing a byte of what they serve.

use bookstream::{BookRecommendation, catalog};
use bookstream_server::source::load::{self, LoadRequest};
use bookstream_testkit::store::LAST_JOINED_VERSION;

use crate::support::{TestStore, collect, request};

/// Books in the old list: pages of 100 make every stream cross pages.
const OLD_BOOKS: u64 = 250;

fn catalog_books(user: u64, books: u64) -> Vec<BookRecommendation> {
    catalog::books(user, 0..books).collect()
}

/// Reads user 1's old list, then loads user 2 with `server load`'s code
/// (which migrates the store) and reads both lists again through a new server.
async fn served_as_before_then_carried_forward(store: TestStore, version: i32) {
    let server = store.serve().await;
    for _ in 0..2 {
        let books = collect(server.stream(request(1, OLD_BOOKS)).await).await;
        assert_eq!(books, catalog_books(1, OLD_BOOKS), "V{version}, before");
    }
    drop(server);

    let request_2 = LoadRequest {
        users: "2".parse().unwrap(),
        books: 30,
    };
    load::load(&store.spec(), request_2, &load::Progress::hidden())
        .await
        .expect("a load migrates the old store");
    let server = store.serve().await;
    let books = collect(server.stream(request(1, OLD_BOOKS)).await).await;
    assert_eq!(books, catalog_books(1, OLD_BOOKS), "V{version}, after");
    let books = collect(server.stream(request(2, 30)).await).await;
    assert_eq!(books, catalog_books(2, 30));
    assert_eq!(store.rows("recommendations").await, OLD_BOOKS + 30);
}

#[tokio::test]
async fn sqlite_stores_of_every_older_layout_are_served_then_carried_forward() {
    for version in 1..=LAST_JOINED_VERSION {
        let store = TestStore::sqlite_at(version, 1, OLD_BOOKS).await;
        served_as_before_then_carried_forward(store, version).await;
    }
}

#[tokio::test]
async fn postgres_stores_of_every_older_layout_are_served_then_carried_forward() {
    for version in 1..=LAST_JOINED_VERSION {
        let Some(store) = TestStore::postgres_at(version, 1, OLD_BOOKS).await else {
            return;
        };
        served_as_before_then_carried_forward(store, version).await;
    }
}

#[tokio::test]
async fn a_carried_forward_store_keeps_no_books_table() {
    let store = TestStore::sqlite_at(LAST_JOINED_VERSION, 1, 10).await;
    let request = LoadRequest {
        users: "2".parse().unwrap(),
        books: 1,
    };
    load::load(&store.spec(), request, &load::Progress::hidden())
        .await
        .unwrap();
    let tables: Vec<String> = rusqlite::Connection::open(store.path())
        .unwrap()
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(!tables.contains(&"books".to_owned()), "{tables:?}");
    assert!(tables.contains(&"recommendations".to_owned()));
}
