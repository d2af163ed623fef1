//! Appends, exactly once: a producer's pipelined batches are acknowledged
//! after commit with the ranks they got; a resend is answered with the same
//! ranks and not written again; a sequence that skips ahead is refused; a
//! reader keeps the count it was told. Every check runs against SQLite and
//! a real PostgreSQL.

use bookstream::{
    COUNT_HEADER,
    pb::{AppendAck, AppendRequest, NewBook},
};
use bookstream_server::ServerConfig;
use tonic::{Code, Request, metadata::MetadataValue};

use crate::support::{TestServer, TestStore, collect, for_each_store, request, store_config};

/// Books the store holds for users 1 and 2 before any append.
pub(crate) const LOADED: u64 = 50;
pub(crate) const WRITE_TOKEN: &str = "write-s3cret";

pub(crate) fn book(n: u64) -> NewBook {
    NewBook {
        title: format!("Appended Book {n}"),
        author: "Ann Producer".to_owned(),
        isbn13: String::new(),
        year: 2020,
        genre: "Essay".to_owned(),
        score: 0.5,
    }
}

pub(crate) fn batch(
    producer: &str,
    sequence: u64,
    user_id: u64,
    books: std::ops::Range<u64>,
) -> AppendRequest {
    AppendRequest {
        producer_id: producer.to_owned(),
        sequence,
        user_id,
        books: books.map(book).collect(),
    }
}

pub(crate) fn authorized<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        MetadataValue::try_from(format!("Bearer {token}")).unwrap(),
    );
    request
}

/// Sends every batch at once (no waiting for acks), then reads the acks:
/// the acks, or the status the call ended with after them.
pub(crate) async fn append(
    server: &TestServer,
    batches: Vec<AppendRequest>,
    token: &str,
) -> (Vec<AppendAck>, Option<tonic::Status>) {
    let outgoing = tokio_stream::iter(batches);
    let mut acks = Vec::new();
    let response = server
        .grpc()
        .await
        .append(authorized(outgoing, token))
        .await;
    let mut stream = match response {
        Ok(response) => response.into_inner(),
        Err(status) => return (acks, Some(status)),
    };
    loop {
        match stream.message().await {
            Ok(Some(ack)) => acks.push(ack),
            Ok(None) => return (acks, None),
            Err(status) => return (acks, Some(status)),
        }
    }
}

pub(crate) async fn writable(store: &TestStore) -> TestServer {
    store
        .serve_with(ServerConfig {
            write_token: Some(WRITE_TOKEN.to_owned()),
            ..store_config(store.spec())
        })
        .await
}

fn ranks(acks: &[AppendAck]) -> Vec<(u64, u64, u64, bool)> {
    acks.iter()
        .map(|ack| (ack.sequence, ack.first_rank, ack.books, ack.duplicate))
        .collect()
}

async fn pipelined_batches_are_acked_after_commit_in_order(store: TestStore) {
    let server = writable(&store).await;
    let (acks, status) = append(
        &server,
        vec![
            batch("p1", 1, 1, 0..3),
            batch("p1", 2, 1, 3..4),
            batch("p1", 3, 2, 4..9),
            batch("p1", 4, 1, 9..11),
        ],
        WRITE_TOKEN,
    )
    .await;
    assert!(status.is_none(), "{status:?}");
    assert_eq!(
        ranks(&acks),
        [
            (1, LOADED, 3, false),
            (2, LOADED + 3, 1, false),
            (3, LOADED, 5, false),
            (4, LOADED + 4, 2, false),
        ]
    );
    // The list now holds the loaded books, then the appended ones in commit order.
    let books = collect(server.stream(request(1, 1000)).await).await;
    assert_eq!(books.len() as u64, LOADED + 6);
    let appended: Vec<_> = books[LOADED as usize..]
        .iter()
        .map(|book| (book.id, book.title.as_str()))
        .collect();
    assert_eq!(
        appended,
        [
            (LOADED, "Appended Book 0"),
            (LOADED + 1, "Appended Book 1"),
            (LOADED + 2, "Appended Book 2"),
            (LOADED + 3, "Appended Book 3"),
            (LOADED + 4, "Appended Book 9"),
            (LOADED + 5, "Appended Book 10"),
        ]
    );
}

async fn a_resent_batch_is_acked_with_its_first_ranks_and_not_written_twice(store: TestStore) {
    let server = writable(&store).await;
    let first = vec![batch("p2", 1, 1, 0..2), batch("p2", 2, 1, 2..5)];
    let (acks, status) = append(&server, first.clone(), WRITE_TOKEN).await;
    assert!(status.is_none(), "{status:?}");
    let rows = store.rows("recommendations").await;

    // The producer lost its connection before reading acks and sends both
    // again, then the next one.
    let mut again = first;
    again.push(batch("p2", 3, 1, 5..6));
    let (resent, status) = append(&server, again, WRITE_TOKEN).await;
    assert!(status.is_none(), "{status:?}");
    assert_eq!(
        ranks(&resent),
        [
            (1, acks[0].first_rank, 2, true),
            (2, acks[1].first_rank, 3, true),
            (3, LOADED + 5, 1, false),
        ]
    );
    assert_eq!(store.rows("recommendations").await, rows + 1);
    assert_eq!(
        collect(server.stream(request(1, 1000)).await).await.len() as u64,
        LOADED + 6
    );
    let scrape = bookstream_testkit::metrics::scrape(&server.rest_url("/metrics")).await;
    let grpc = [("transport", "grpc")];
    let value = |name| bookstream_testkit::metrics::value(&scrape, name, &grpc);
    assert_eq!(value("bookstream_books_appended_total"), 6.0);
    assert_eq!(value("bookstream_append_duplicates_total"), 2.0);
    assert_eq!(value("bookstream_append_batch_seconds"), 5.0);

    // A sequence that skips ahead says which one was expected; nothing is written.
    let (acks, status) = append(&server, vec![batch("p2", 7, 1, 0..1)], WRITE_TOKEN).await;
    assert!(acks.is_empty());
    let status = status.expect("a gap is refused");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(
        status.message().contains("expected is 4"),
        "{}",
        status.message()
    );
    assert_eq!(store.rows("recommendations").await, rows + 1);
}

async fn a_reader_gets_the_count_it_was_told_while_books_are_appended(store: TestStore) {
    let server = writable(&store).await;
    let response = server
        .grpc()
        .await
        .recommend(request(2, 1000))
        .await
        .unwrap();
    let told: u64 = response
        .metadata()
        .get(COUNT_HEADER)
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(told, LOADED);
    let (_, status) = append(&server, vec![batch("p3", 1, 2, 0..500)], WRITE_TOKEN).await;
    assert!(status.is_none(), "{status:?}");
    assert_eq!(collect(response.into_inner()).await.len() as u64, told);
    assert_eq!(
        collect(server.stream(request(2, 1000)).await).await.len() as u64,
        LOADED + 500
    );
}

async fn a_bad_book_refuses_its_whole_batch(store: TestStore) {
    let server = writable(&store).await;
    let rows = store.rows("recommendations").await;
    for (bad, says) in [
        (
            NewBook {
                score: f32::NAN,
                ..book(0)
            },
            "score",
        ),
        (
            NewBook {
                title: "a\0b".to_owned(),
                ..book(0)
            },
            "title",
        ),
        (
            NewBook {
                title: "x".repeat(10 << 20),
                ..book(0)
            },
            "title",
        ),
        (NewBook { year: 0, ..book(0) }, "year"),
    ] {
        let mut request = batch("p4", 1, 1, 0..3);
        request.books[1] = bad;
        let (acks, status) = append(&server, vec![request], WRITE_TOKEN).await;
        assert!(acks.is_empty());
        let status = status.expect("a bad book is refused");
        assert!(
            matches!(
                status.code(),
                Code::InvalidArgument | Code::ResourceExhausted | Code::OutOfRange
            ),
            "{status:?}"
        );
        if status.code() == Code::InvalidArgument {
            assert!(status.message().contains("book 1"), "{}", status.message());
            assert!(status.message().contains(says), "{}", status.message());
        }
    }
    assert_eq!(store.rows("recommendations").await, rows);
}

async fn rest_appends_once_per_idempotency_key(store: TestStore) {
    let server = writable(&store).await;
    let body = "{\"title\":\"One\",\"author\":\"A\",\"year\":2001,\"genre\":\"G\",\"score\":0.3}\n\
                {\"title\":\"Two\",\"author\":\"B\",\"isbn13\":\"978-1-86197-876-9\",\"year\":2002,\"genre\":\"G\",\"score\":0.9}\n";
    let post = |key: &str, body: &'static str, token: &str| {
        reqwest::Client::new()
            .post(server.rest_url("/recommendations?user_id=2"))
            .bearer_auth(token)
            .header("idempotency-key", key)
            .body(body)
            .send()
    };
    let first = post("k-1", body, WRITE_TOKEN).await.unwrap();
    assert_eq!(first.status(), 200);
    let first: serde_json::Value = first.json().await.unwrap();
    assert_eq!(first["first_rank"], LOADED);
    assert_eq!(first["last_rank"], LOADED + 1);
    assert_eq!(first["duplicate"], false);
    let rows = store.rows("recommendations").await;

    let again: serde_json::Value = post("k-1", body, WRITE_TOKEN)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["first_rank"], first["first_rank"]);
    assert_eq!(again["duplicate"], true);
    assert_eq!(store.rows("recommendations").await, rows);

    let bad = post(
        "k-2",
        "{\"title\":\"x\",\"author\":\"A\",\"year\":\"2001\",\"genre\":\"G\",\"score\":0.3}\n",
        WRITE_TOKEN,
    )
    .await
    .unwrap();
    assert_eq!(bad.status(), 400);
    let text = bad.text().await.unwrap();
    assert!(text.contains("line 1"), "{text}");
    let unauthorized = post("k-3", body, "not-the-token").await.unwrap();
    assert_eq!(unauthorized.status(), 401);
    assert_eq!(store.rows("recommendations").await, rows);
    let books = collect(server.stream(request(2, 1000)).await).await;
    assert_eq!(books[LOADED as usize + 1].isbn13, "978-1-86197-876-9");
}

for_each_store!(
    super::LOADED;
    pipelined_batches_are_acked_after_commit_in_order,
    a_resent_batch_is_acked_with_its_first_ranks_and_not_written_twice,
    a_reader_gets_the_count_it_was_told_while_books_are_appended,
    a_bad_book_refuses_its_whole_batch,
    rest_appends_once_per_idempotency_key,
);

#[tokio::test]
async fn writes_need_the_write_token_and_the_read_token_does_not_grant_them() {
    let store = TestStore::sqlite("1", LOADED).await;
    let server = store
        .serve_with(ServerConfig {
            token: Some("read".to_owned()),
            write_token: Some(WRITE_TOKEN.to_owned()),
            ..store_config(store.spec())
        })
        .await;
    let (_, status) = append(&server, vec![batch("p", 1, 1, 0..1)], "read").await;
    assert_eq!(status.unwrap().code(), Code::PermissionDenied);
    let (_, status) = append(&server, vec![batch("p", 1, 1, 0..1)], "wrong").await;
    assert_eq!(status.unwrap().code(), Code::Unauthenticated);
    // The write token reads too.
    let response = server
        .grpc()
        .await
        .recommend(authorized(request(1, 5), WRITE_TOKEN))
        .await;
    assert!(response.is_ok(), "{response:?}");
    assert_eq!(store.rows("recommendations").await, LOADED);

    let read_only = store.serve().await;
    let (_, status) = append(&read_only, vec![batch("p", 1, 1, 0..1)], WRITE_TOKEN).await;
    let status = status.unwrap();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(
        status.message().contains("--write-token"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn a_batch_over_the_message_limit_is_refused_and_nothing_is_written() {
    let store = TestStore::sqlite("1", LOADED).await;
    let server = writable(&store).await;
    // About 5 MB: past the 4 MiB a gRPC message may hold.
    let mut big = batch("p", 1, 1, 0..5_000);
    for book in &mut big.books {
        book.title = "t".repeat(1000);
    }
    let (acks, status) = append(&server, vec![big], WRITE_TOKEN).await;
    assert!(acks.is_empty());
    let status = status.expect("an oversized batch is refused");
    assert!(
        matches!(status.code(), Code::ResourceExhausted | Code::OutOfRange),
        "{status:?}"
    );
    // A batch of more books than --max-append-books, however small.
    let (_, status) = append(&server, vec![batch("p", 1, 1, 0..10_001)], WRITE_TOKEN).await;
    let status = status.expect("too many books are refused");
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(
        status.message().contains("--max-append-books"),
        "{}",
        status.message()
    );
    assert_eq!(store.rows("recommendations").await, LOADED);
}

#[tokio::test]
async fn the_generated_catalog_takes_no_appends() {
    let server = crate::support::spawn_server_with(ServerConfig {
        write_token: Some(WRITE_TOKEN.to_owned()),
        ..crate::support::config()
    })
    .await;
    let (_, status) = append(&server, vec![batch("p", 1, 1, 0..1)], WRITE_TOKEN).await;
    let status = status.unwrap();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(
        status.message().contains("read-only"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn a_store_loaded_before_the_write_side_serves_and_is_migrated_for_writes() {
    // As `server load` left it before the write side: the catalog tables only.
    let store = TestStore::sqlite_at(1, 1, LOADED).await;
    let reader = store.serve().await;
    assert_eq!(
        collect(reader.stream(request(1, 100)).await).await.len() as u64,
        LOADED
    );
    drop(reader);

    let writer = writable(&store).await;
    let (acks, status) = append(&writer, vec![batch("old", 1, 1, 0..2)], WRITE_TOKEN).await;
    assert!(status.is_none(), "{status:?}");
    assert_eq!(acks[0].first_rank, LOADED);
    assert_eq!(store.rows("appends").await, 1);
    // Migrated on the way: the loaded books are served as they were, then the appended ones.
    let books = collect(writer.stream(request(1, 100)).await).await;
    assert_eq!(books.len() as u64, LOADED + 2);
    assert_eq!(
        books[..LOADED as usize],
        bookstream::catalog::books(1, 0..LOADED).collect::<Vec<_>>()
    );
}
