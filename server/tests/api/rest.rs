use bookstream::{BookRecommendation, catalog};
use reqwest::StatusCode;

use crate::support::{config, spawn_server, spawn_server_with};

#[tokio::test]
async fn the_json_twin_answers_the_catalog_books_as_one_array() {
    let server = spawn_server().await;
    let response = reqwest::get(server.rest_url("/recommendations?user_id=3&max_results=300"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    let books: Vec<BookRecommendation> = response.json().await.unwrap();
    assert_eq!(books, catalog::books(3, 0..300).collect::<Vec<_>>());
}

#[tokio::test]
async fn the_ndjson_twin_streams_one_book_per_line() {
    let server = spawn_server().await;
    let response =
        reqwest::get(server.rest_url("/recommendations/stream?user_id=3&max_results=2345"))
            .await
            .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let text = response.text().await.unwrap();
    let books: Vec<BookRecommendation> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(books, catalog::books(3, 0..2345).collect::<Vec<_>>());
}

#[tokio::test]
async fn the_rest_twins_resume_from_start_at_like_the_grpc_calls() {
    let server = spawn_server().await;
    let json: Vec<BookRecommendation> =
        reqwest::get(server.rest_url("/recommendations?user_id=2&max_results=100&start_at=40"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(json, catalog::books(2, 40..100).collect::<Vec<_>>());
    let ndjson = reqwest::get(
        server.rest_url("/recommendations/stream?user_id=2&max_results=100&start_at=97"),
    )
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    let ids: Vec<u64> = ndjson
        .lines()
        .map(|line| serde_json::from_str::<BookRecommendation>(line).unwrap().id)
        .collect();
    assert_eq!(ids, vec![97, 98, 99]);
}

#[tokio::test]
async fn bad_queries_are_400_with_a_message_that_says_what_was_wrong() {
    let server = spawn_server_with(bookstream_server::ServerConfig {
        max_results: 1000,
        ..config()
    })
    .await;
    let cases = [
        ("/recommendations", "max_results"),
        ("/recommendations?user_id=1", "max_results"),
        ("/recommendations?max_results=-5", "max_results"),
        ("/recommendations?max_results=ten", "max_results"),
        ("/recommendations?max_results=0", "at least 1"),
        ("/recommendations?max_results=1001", "limit of 1000"),
        ("/recommendations?max_results=10&user_id=x", "user_id"),
        ("/recommendations/stream?max_results=0", "at least 1"),
        ("/recommendations/stream?max_results=1001", "limit of 1000"),
        (
            "/recommendations/stream?user_id=-1&max_results=3",
            "user_id",
        ),
    ];
    for (path, expected) in cases {
        let response = reqwest::get(server.rest_url(path)).await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        let message = body["error"].as_str().unwrap_or_default();
        assert!(message.contains(expected), "{path}: {message}");
    }
}

#[tokio::test]
async fn a_json_answer_over_the_limit_is_refused_with_a_pointer_to_the_stream() {
    let server = spawn_server_with(bookstream_server::ServerConfig {
        max_message_bytes: 64 * 1024,
        ..config()
    })
    .await;
    let response = reqwest::get(server.rest_url("/recommendations?max_results=10000"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("/recommendations/stream"),
        "{body}"
    );
}

#[tokio::test]
async fn the_rest_listener_reports_health() {
    let server = spawn_server().await;
    let response = reqwest::get(server.rest_url("/health")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn rest_connections_past_the_cap_are_closed_at_once_when_every_open_one_is_in_use() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let server = crate::support::spawn_server_with(bookstream_server::ServerConfig {
        max_connections: 2,
        ..crate::support::config()
    })
    .await;
    // Two callers, each keeping its connection open after a request, take the cap.
    let callers: Vec<reqwest::Client> = (0..2).map(|_| reqwest::Client::new()).collect();
    for caller in &callers {
        let health = caller.get(server.rest_url("/health")).send().await.unwrap();
        assert_eq!(health.status(), StatusCode::OK);
        health.bytes().await.unwrap();
    }
    // The third is closed as soon as it is accepted: its read ends.
    let mut third = tokio::net::TcpStream::connect(server.rest_addr)
        .await
        .unwrap();
    let _ = third
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        third.read_to_end(&mut answer),
    )
    .await
    .expect("the connection past the cap is closed");
    assert!(
        read.is_err() || answer.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );

    // The callers' connections are served on.
    let again = callers[0]
        .get(server.rest_url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::OK);
}

#[tokio::test]
async fn one_shot_answers_past_the_cap_are_refused_until_one_is_sent() {
    use tokio::io::AsyncWriteExt;

    let server = spawn_server_with(bookstream_server::ServerConfig {
        max_one_shot: 1,
        ..config()
    })
    .await;
    // A large answer whose caller does not read it holds the only place.
    let mut slow = tokio::net::TcpStream::connect(server.rest_addr)
        .await
        .unwrap();
    slow.write_all(
        b"GET /recommendations?user_id=1&max_results=300000 HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await
    .unwrap();
    let small = server.rest_url("/recommendations?user_id=2&max_results=3");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let refused = loop {
        let answer = reqwest::get(&small).await.unwrap();
        if answer.status() == StatusCode::TOO_MANY_REQUESTS {
            break answer;
        }
        assert_eq!(answer.status(), StatusCode::OK);
        assert!(
            tokio::time::Instant::now() < deadline,
            "the place was never taken"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("one-shot answers"),
        "{body}"
    );
    // The gRPC one-shot answer shares the cap; streams do not.
    let status = server
        .grpc()
        .await
        .recommend_batch(crate::support::request(2, 3))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    let streamed = reqwest::get(server.rest_url("/recommendations/stream?user_id=2&max_results=3"))
        .await
        .unwrap();
    assert_eq!(streamed.status(), StatusCode::OK);

    // The caller leaves: its place comes back.
    drop(slow);
    loop {
        if reqwest::get(&small).await.unwrap().status() == StatusCode::OK {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the place never came back"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
