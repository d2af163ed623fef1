use bookstream::BookRecommendation;

use crate::support::{collect, request, spawn_server};

#[tokio::test]
async fn stream_unary_json_and_ndjson_return_identical_books() {
    let server = spawn_server().await;
    let (user_id, count) = (42, 1_500);
    let mut grpc = server.grpc().await;

    let stream = grpc
        .recommend(request(user_id, count))
        .await
        .unwrap()
        .into_inner();
    let streamed = collect(stream).await;
    let unary = grpc
        .recommend_batch(request(user_id, count))
        .await
        .unwrap()
        .into_inner()
        .books;
    let query = format!("?user_id={user_id}&max_results={count}");
    let json: Vec<BookRecommendation> =
        reqwest::get(server.rest_url(&format!("/recommendations{query}")))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let ndjson: Vec<BookRecommendation> =
        reqwest::get(server.rest_url(&format!("/recommendations/stream{query}")))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();

    assert_eq!(streamed.len(), count as usize);
    assert_eq!(unary, streamed);
    assert_eq!(json, streamed);
    assert_eq!(ndjson, streamed);
}
