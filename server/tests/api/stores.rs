//! The stores serve the catalog exactly as the generated source does: the
//! same books, pages stitched without a seam, resumable at any rank, fewer
//! books when a list is shorter, the twins in agreement. Every check runs
//! against SQLite and against a real PostgreSQL.

use bookstream::{BookRecommendation, COUNT_HEADER, RecommendationRequest, catalog};
use tonic::Code;

use crate::support::{TestStore, collect, for_each_store, request};

/// Books per user in these stores; pages of 100 make every stream cross pages.
const BOOKS: u64 = 2_500;

fn count_of<T>(response: &tonic::Response<T>) -> u64 {
    response
        .metadata()
        .get(COUNT_HEADER)
        .expect("the count is announced")
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

async fn streams_the_catalog_books_of_a_user_across_pages(store: TestStore) {
    let server = store.serve().await;
    let response = server
        .grpc()
        .await
        .recommend(request(1, BOOKS))
        .await
        .unwrap();
    assert_eq!(count_of(&response), BOOKS);
    let books = collect(response.into_inner()).await;
    assert_eq!(books, catalog::books(1, 0..BOOKS).collect::<Vec<_>>());
    let other = collect(server.stream(request(2, 10)).await).await;
    assert_eq!(other, catalog::books(2, 0..10).collect::<Vec<_>>());
}

async fn a_resumed_stream_continues_at_its_keyset(store: TestStore) {
    let server = store.serve().await;
    for start_at in [1, 99, 100, 1234, BOOKS - 1, BOOKS] {
        let response = server
            .grpc()
            .await
            .recommend(RecommendationRequest {
                user_id: 1,
                max_results: BOOKS,
                start_at,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(count_of(&response), BOOKS - start_at);
        let books = collect(response.into_inner()).await;
        assert_eq!(
            books,
            catalog::books(1, start_at..BOOKS).collect::<Vec<_>>(),
            "start_at {start_at}"
        );
    }
}

async fn a_user_with_fewer_books_gets_them_all_and_the_count_says_so(store: TestStore) {
    let server = store.serve().await;
    let asked = BOOKS + 1_500;
    let response = server
        .grpc()
        .await
        .recommend(request(1, asked))
        .await
        .unwrap();
    assert_eq!(count_of(&response), BOOKS);
    assert_eq!(collect(response.into_inner()).await.len() as u64, BOOKS);

    let batch = server
        .grpc()
        .await
        .recommend_batch(request(1, asked))
        .await
        .unwrap();
    assert_eq!(count_of(&batch), BOOKS);
    assert_eq!(batch.into_inner().books.len() as u64, BOOKS);

    for route in ["/recommendations", "/recommendations/stream"] {
        let response =
            reqwest::get(server.rest_url(&format!("{route}?user_id=1&max_results={asked}")))
                .await
                .unwrap();
        assert_eq!(response.status(), 200, "{route}");
        assert_eq!(
            response.headers()[COUNT_HEADER],
            BOOKS.to_string().as_str(),
            "{route}"
        );
    }
}

async fn a_user_without_books_is_not_found_by_name(store: TestStore) {
    let server = store.serve().await;
    let status = server.refusal(request(42, 10)).await;
    assert_eq!(status.code(), Code::NotFound);
    assert!(status.message().contains("user 42"), "{}", status.message());
    let batch = server
        .grpc()
        .await
        .recommend_batch(request(42, 10))
        .await
        .unwrap_err();
    assert_eq!(batch.code(), Code::NotFound);
    for route in ["/recommendations", "/recommendations/stream"] {
        let response = reqwest::get(server.rest_url(&format!("{route}?user_id=42&max_results=10")))
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{route}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains("user 42"),
            "{body}"
        );
    }
}

async fn the_twins_answer_the_same_books_from_a_store(store: TestStore) {
    let server = store.serve().await;
    let query = "user_id=2&max_results=1500&start_at=250";
    let resumed = RecommendationRequest {
        user_id: 2,
        max_results: 1500,
        start_at: 250,
        ..Default::default()
    };
    let streamed = collect(server.stream(resumed).await).await;
    let batch = server
        .grpc()
        .await
        .recommend_batch(resumed)
        .await
        .unwrap()
        .into_inner()
        .books;
    let array: Vec<BookRecommendation> =
        reqwest::get(server.rest_url(&format!("/recommendations?{query}")))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let ndjson = reqwest::get(server.rest_url(&format!("/recommendations/stream?{query}")))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<BookRecommendation> = ndjson
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let expected: Vec<_> = catalog::books(2, 250..1500).collect();
    assert_eq!(streamed, expected);
    assert_eq!(batch, expected);
    assert_eq!(array, expected);
    assert_eq!(lines, expected);
}

/// Values that would break a query built by formatting: all are bound, so
/// they are only ever numbers that match nothing, or refused as input.
async fn hostile_values_are_bound_never_executed(store: TestStore) {
    let server = store.serve().await;
    for user_id in [i64::MAX as u64, i64::MAX as u64 + 1, u64::MAX] {
        let status = server.refusal(request(user_id, 10)).await;
        assert_eq!(status.code(), Code::NotFound, "user {user_id}");
    }
    let past_any_rank = RecommendationRequest {
        user_id: 1,
        max_results: 10_000_000,
        start_at: 9_999_999,
        ..Default::default()
    };
    let response = server.grpc().await.recommend(past_any_rank).await.unwrap();
    assert_eq!(count_of(&response), 0);
    assert!(collect(response.into_inner()).await.is_empty());
    for query in [
        "user_id=1;DROP%20TABLE%20books&max_results=5",
        "user_id=1%20OR%201=1&max_results=5",
        "user_id=1&max_results=5%27%3B--",
        "user_id=1&max_results=5&start_at=0)%20UNION%20SELECT%201",
    ] {
        let response = reqwest::get(server.rest_url(&format!("/recommendations?{query}")))
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{query}");
    }
    // The store is intact: the user's list is still all there.
    let books = collect(server.stream(request(1, BOOKS)).await).await;
    assert_eq!(books.len() as u64, BOOKS);
}

async fn loading_twice_gives_the_same_store(store: TestStore) {
    let server = store.serve().await;
    let before = collect(server.stream(request(2, BOOKS)).await).await;
    store.load("1-2", BOOKS).await;
    store.load("2", BOOKS).await;
    let after = collect(server.stream(request(2, BOOKS)).await).await;
    assert_eq!(after, before);
    assert_eq!(store.rows("recommendations").await, 2 * BOOKS);
}

for_each_store!(
    super::BOOKS;
    streams_the_catalog_books_of_a_user_across_pages,
    a_resumed_stream_continues_at_its_keyset,
    a_user_with_fewer_books_gets_them_all_and_the_count_says_so,
    a_user_without_books_is_not_found_by_name,
    the_twins_answer_the_same_books_from_a_store,
    hostile_values_are_bound_never_executed,
    loading_twice_gives_the_same_store,
);
