//! Follows: a stream that sends the books a list holds, then each book
//! appended later once it is committed, in rank order; seeks from a rank,
//! the earliest or latest book, or a time; retention that says which rank is
//! the earliest kept instead of leaving a gap; and the refusals of seeks
//! that make no sense. Every check runs against SQLite and a real PostgreSQL.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bookstream::{
    BookRecommendation, COUNT_HEADER, FOLLOW_HEADER, RecommendationRequest, START_RANK_HEADER,
    StartFrom,
};
use bookstream_server::{ServerConfig, follow::retention::Retention};
use tonic::{Code, Streaming};
use tonic_types::StatusExt;

use crate::{
    append::{LOADED, WRITE_TOKEN, append, batch, writable},
    support::{TestServer, TestStore, for_each_store, request, store_config},
};

/// A follow of `user_id` from `start_from`, for `max_results` books (0: no end).
pub(crate) fn follow(
    user_id: u64,
    start_from: StartFrom,
    max_results: u64,
) -> RecommendationRequest {
    RecommendationRequest {
        user_id,
        max_results,
        follow: true,
        start_from: start_from as i32,
        ..Default::default()
    }
}

async fn open(
    server: &TestServer,
    request: RecommendationRequest,
) -> Streaming<BookRecommendation> {
    let response = server
        .grpc()
        .await
        .recommend(request)
        .await
        .expect("the follow opens");
    assert_eq!(
        response
            .metadata()
            .get(FOLLOW_HEADER)
            .map(|v| v.to_str().unwrap()),
        Some("true")
    );
    assert!(
        response.metadata().get(COUNT_HEADER).is_none(),
        "a follow announces no count"
    );
    response.into_inner()
}

/// The rank a follow says it starts at.
async fn start_rank(server: &TestServer, request: RecommendationRequest) -> u64 {
    let response = server.grpc().await.recommend(request).await.unwrap();
    response
        .metadata()
        .get(START_RANK_HEADER)
        .expect("a follow says where it starts")
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// The next `n` books of `stream`, each one checked to be the next rank.
async fn next_books(stream: &mut Streaming<BookRecommendation>, first: u64, n: u64) -> Vec<String> {
    let mut titles = Vec::new();
    for rank in first..first + n {
        let book = stream
            .message()
            .await
            .expect("the follow goes on")
            .expect("the follow does not end");
        assert_eq!(book.id, rank);
        titles.push(book.title);
    }
    titles
}

fn appended(range: std::ops::Range<u64>) -> Vec<String> {
    range.map(|n| format!("Appended Book {n}")).collect()
}

async fn a_follow_sends_the_list_then_each_appended_book_in_order(store: TestStore) {
    let server = writable(&store).await;
    let mut stream = open(&server, follow(1, StartFrom::Rank, 0)).await;
    next_books(&mut stream, 0, LOADED).await;
    let (_, status) = append(&server, vec![batch("f", 1, 1, 0..3)], WRITE_TOKEN).await;
    assert!(status.is_none(), "{status:?}");
    assert_eq!(next_books(&mut stream, LOADED, 3).await, appended(0..3));
    // Appended books carry their commit time; loaded ones none.
    let listed = crate::support::collect(server.stream(request(1, LOADED + 3)).await).await;
    assert!(
        listed[..LOADED as usize]
            .iter()
            .all(|book| book.appended_at_ms == 0)
    );
    let now = now_ms();
    assert!(
        listed[LOADED as usize..]
            .iter()
            .all(|book| (now - 60_000..=now).contains(&book.appended_at_ms)),
        "{listed:?}"
    );
    // Another user's books are not this follow's.
    append(
        &server,
        vec![batch("f", 2, 2, 3..5), batch("f", 3, 1, 5..7)],
        WRITE_TOKEN,
    )
    .await;
    assert_eq!(next_books(&mut stream, LOADED + 3, 2).await, appended(5..7));
}

async fn a_follow_ends_once_max_results_books_were_sent(store: TestStore) {
    let server = writable(&store).await;
    let mut stream = open(&server, follow(1, StartFrom::Rank, LOADED + 2)).await;
    next_books(&mut stream, 0, LOADED).await;
    append(&server, vec![batch("m", 1, 1, 0..5)], WRITE_TOKEN).await;
    next_books(&mut stream, LOADED, 2).await;
    assert!(
        stream.message().await.unwrap().is_none(),
        "the follow ends, OK"
    );
}

async fn from_latest_only_books_appended_from_now_on_come(store: TestStore) {
    let server = writable(&store).await;
    assert_eq!(
        start_rank(&server, follow(1, StartFrom::Latest, 0)).await,
        LOADED
    );
    let mut stream = open(&server, follow(1, StartFrom::Latest, 0)).await;
    append(&server, vec![batch("l", 1, 1, 0..2)], WRITE_TOKEN).await;
    assert_eq!(next_books(&mut stream, LOADED, 2).await, appended(0..2));
}

async fn a_list_not_there_yet_is_followed_from_its_first_book(store: TestStore) {
    let server = writable(&store).await;
    let mut stream = open(&server, follow(9, StartFrom::Earliest, 0)).await;
    append(&server, vec![batch("new", 1, 9, 0..2)], WRITE_TOKEN).await;
    assert_eq!(next_books(&mut stream, 0, 2).await, appended(0..2));
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

async fn from_a_time_the_first_book_appended_at_or_after_it_comes_first(store: TestStore) {
    let server = writable(&store).await;
    append(&server, vec![batch("t", 1, 1, 0..3)], WRITE_TOKEN).await;
    let between = now_ms() + 1;
    // The clock moves past `between` before the second batch commits.
    while now_ms() <= between {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    append(&server, vec![batch("t", 2, 1, 3..5)], WRITE_TOKEN).await;
    let at = |ms| RecommendationRequest {
        start_time_ms: ms,
        ..follow(1, StartFrom::Time, 2)
    };
    assert_eq!(start_rank(&server, at(between)).await, LOADED + 3);
    let mut stream = open(&server, at(between)).await;
    assert_eq!(next_books(&mut stream, LOADED + 3, 2).await, appended(3..5));
    // Loaded books carry no time: from long ago, the first appended book.
    let mut stream = open(&server, at(1)).await;
    assert_eq!(next_books(&mut stream, LOADED, 2).await, appended(0..2));
    // From the far future: only what comes next.
    let mut stream = open(&server, at(u64::MAX)).await;
    append(&server, vec![batch("t", 3, 1, 5..6)], WRITE_TOKEN).await;
    assert_eq!(next_books(&mut stream, LOADED + 5, 1).await, appended(5..6));
}

async fn seeks_that_make_no_sense_are_refused_with_the_reason(store: TestStore) {
    let server = writable(&store).await;
    let past_end = server
        .refusal(RecommendationRequest {
            start_at: LOADED + 1,
            ..follow(1, StartFrom::Rank, 0)
        })
        .await;
    assert_eq!(past_end.code(), Code::OutOfRange, "{past_end:?}");
    assert!(past_end.message().contains(&format!("at most {LOADED}")));
    for (request, words) in [
        (
            RecommendationRequest {
                start_at: 3,
                ..follow(1, StartFrom::Latest, 0)
            },
            "leave start_at 0",
        ),
        (
            RecommendationRequest {
                start_time_ms: 5,
                ..follow(1, StartFrom::Earliest, 0)
            },
            "only for a request from a time",
        ),
        (
            RecommendationRequest {
                start_from: 9,
                ..follow(1, StartFrom::Rank, 0)
            },
            "not a known StartFrom",
        ),
    ] {
        let refused = server.refusal(request).await;
        assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
        assert!(refused.message().contains(words), "{refused:?}");
    }
    let batch = server
        .grpc()
        .await
        .recommend_batch(follow(1, StartFrom::Rank, 10))
        .await
        .unwrap_err();
    assert_eq!(batch.code(), Code::InvalidArgument);
    assert!(batch.message().contains("Recommend"), "{batch:?}");
}

async fn retention_removes_old_books_and_names_the_earliest_kept(store: TestStore) {
    let server = store
        .serve_with(ServerConfig {
            write_token: Some(WRITE_TOKEN.to_owned()),
            follow: bookstream_server::follow::FollowArgs {
                retention: Retention {
                    retention_books: Some(10),
                    retention_age: None,
                    retention_interval: Duration::from_millis(20),
                },
                ..store_config(store.spec()).follow
            },
            ..store_config(store.spec())
        })
        .await;
    append(&server, vec![batch("r", 1, 1, 0..30)], WRITE_TOKEN).await;
    let earliest = LOADED + 30 - 10;
    // Retention runs in the background: poll until user 1's old rows are gone.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while store.rows("recommendations").await != 2 * 10 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "retention did not run"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let gone = server.refusal(request(1, 100)).await;
    assert_eq!(gone.code(), Code::OutOfRange, "{gone:?}");
    assert!(
        gone.message()
            .contains(&format!("earliest rank kept is {earliest}"))
    );
    let info = gone
        .get_error_details()
        .error_info()
        .cloned()
        .expect("ErrorInfo");
    assert_eq!(info.metadata["earliest_rank"], earliest.to_string());
    let mut stream = open(&server, follow(1, StartFrom::Earliest, 10)).await;
    assert_eq!(
        next_books(&mut stream, earliest, 10).await,
        appended(20..30)
    );
    // The REST twin: 410 with the earliest rank for programs.
    let response = reqwest::get(server.rest_url("/recommendations/stream?user_id=1&max_results=5"))
        .await
        .unwrap();
    assert_eq!(response.status(), 410);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["earliest_rank"], earliest);
}

async fn retention_by_age_keeps_what_was_appended_since_the_cut(store: TestStore) {
    use bookstream_server::{
        follow::{
            Wakeups,
            retention::{Cut, pass},
        },
        ingest::Appender,
    };
    let server = writable(&store).await;
    append(&server, vec![batch("age", 1, 1, 0..3)], WRITE_TOKEN).await;
    let between = now_ms() + 1;
    // The clock moves past the cut before the second batch commits.
    while now_ms() <= between {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    append(&server, vec![batch("age", 2, 1, 3..5)], WRITE_TOKEN).await;
    // One pass, as the background task runs it, with the cut between the batches.
    let appender = Appender::open(&store.spec(), 10, None, Wakeups::default()).unwrap();
    let cut = Cut {
        keep_books: None,
        appended_since_ms: Some(between as i64),
    };
    // User 1's loaded books go with its first batch; user 2 was never
    // appended to, so its loaded books carry no time and stay.
    assert_eq!(pass(&appender, cut).await.unwrap(), (1, LOADED + 3));
    assert_eq!(
        pass(&appender, cut).await.unwrap(),
        (0, 0),
        "a second pass finds nothing"
    );
    let gone = server.refusal(request(1, 100)).await;
    assert_eq!(gone.code(), Code::OutOfRange, "{gone:?}");
    let mut stream = open(&server, follow(1, StartFrom::Earliest, 2)).await;
    assert_eq!(next_books(&mut stream, LOADED + 3, 2).await, appended(3..5));
    let kept = crate::support::collect(server.stream(request(2, 100)).await).await;
    assert_eq!(kept.len() as u64, LOADED);
}

async fn a_shutdown_ends_a_waiting_follow_with_unavailable(store: TestStore) {
    let mut server = writable(&store).await;
    let mut stream = open(&server, follow(1, StartFrom::Latest, 0)).await;
    server.begin_shutdown();
    let ended = stream
        .message()
        .await
        .expect_err("the follow ends with a status");
    assert_eq!(ended.code(), Code::Unavailable, "{ended:?}");
}

async fn the_rest_twin_follows_as_ndjson(store: TestStore) {
    let server = writable(&store).await;
    let response =
        reqwest::get(server.rest_url("/recommendations/stream?user_id=1&follow=true&from=latest"))
            .await
            .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()[FOLLOW_HEADER], "true");
    append(&server, vec![batch("n", 1, 1, 0..2)], WRITE_TOKEN).await;
    let mut body = response.bytes_stream();
    let mut text = String::new();
    while text.matches('\n').count() < 2 {
        use futures::StreamExt;
        let chunk = body.next().await.expect("the body goes on").unwrap();
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let ids: Vec<u64> = text
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).unwrap()["id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(ids, [LOADED, LOADED + 1]);
    let bad_time = reqwest::get(
        server.rest_url("/recommendations/stream?user_id=1&follow=true&from=time&time=yesterday"),
    )
    .await
    .unwrap();
    assert_eq!(bad_time.status(), 400);
    assert!(bad_time.text().await.unwrap().contains("RFC 3339"));
}

for_each_store!(
    super::LOADED;
    a_follow_sends_the_list_then_each_appended_book_in_order,
    a_follow_ends_once_max_results_books_were_sent,
    from_latest_only_books_appended_from_now_on_come,
    a_list_not_there_yet_is_followed_from_its_first_book,
    from_a_time_the_first_book_appended_at_or_after_it_comes_first,
    seeks_that_make_no_sense_are_refused_with_the_reason,
    retention_removes_old_books_and_names_the_earliest_kept,
    retention_by_age_keeps_what_was_appended_since_the_cut,
    a_shutdown_ends_a_waiting_follow_with_unavailable,
    the_rest_twin_follows_as_ndjson,
);

#[tokio::test]
async fn the_generated_lists_never_grow_so_a_follow_ends_as_a_stream_does() {
    let server = crate::support::spawn_server().await;
    let response = server
        .grpc()
        .await
        .recommend(follow(3, StartFrom::Rank, 5))
        .await
        .unwrap();
    let books = crate::support::collect(response.into_inner()).await;
    assert_eq!(
        books,
        bookstream::catalog::books(3, 0..5).collect::<Vec<_>>()
    );
    for request in [
        follow(3, StartFrom::Rank, 0),
        follow(3, StartFrom::Latest, 5),
    ] {
        let refused = server.refusal(request).await;
        assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
        assert!(refused.message().contains("generated catalog"));
    }
}

#[tokio::test]
async fn a_postgres_store_from_before_v3_is_read_as_before() {
    // As an older server left it: no retention bounds, no append times.
    let Some(store) = TestStore::postgres_at(2, 1, LOADED).await else {
        return;
    };
    let server = store.serve().await;
    for _ in 0..2 {
        let books = crate::support::collect(server.stream(request(1, 100)).await).await;
        assert_eq!(books.len() as u64, LOADED);
    }
    let from_now = RecommendationRequest {
        start_time_ms: now_ms(),
        ..follow(1, StartFrom::Time, 0)
    };
    assert_eq!(start_rank(&server, from_now).await, LOADED);
}
