use reqwest::StatusCode;

use crate::support::{spawn_client, spawn_client_with, spawn_server};

#[tokio::test]
async fn every_bad_trigger_is_a_400_that_says_what_was_wrong_and_writes_nothing() {
    let server = spawn_server().await;
    let client = spawn_client(&server.url()).await;
    let cases = [
        ("/abc", "'abc' is not a number of books"),
        ("/-1", "must be positive"),
        ("/0", "at least 1 book"),
        ("/1.5", "'1.5' is not a whole number"),
        ("/1e3", "'1e3' is not a whole number"),
        ("/99999999999999999999999", "limit of 10000000"),
        ("/10000001", "limit of 10000000"),
        ("/10?user_id=x", "user_id must be a whole number"),
        ("/10?user_id=-4", "user_id must be a whole number"),
        ("/%00", "is not a number of books"),
        ("/%FF", "not a valid number of books"),
    ];
    for (path, expected) in cases {
        let (status, body) = client.get_json(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        let message = body["error"].as_str().unwrap_or_default();
        assert!(message.contains(expected), "{path}: {message}");
    }
    assert!(
        client.files().is_empty(),
        "bad input wrote {:?}",
        client.files()
    );
}

#[tokio::test]
async fn a_browser_sees_the_bad_input_message_on_a_page() {
    let server = spawn_server().await;
    let client = spawn_client(&server.url()).await;

    let (status, page) = client.get_html("/abc").await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("is not a number of books"), "{page}");
}

#[tokio::test]
async fn the_limit_follows_max_n() {
    let server = spawn_server().await;
    let client = spawn_client_with(&server.url(), |config| bookstream_client::ClientConfig {
        max_n: 50,
        ..config
    })
    .await;

    let (status, body) = client.get_json("/51").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"].as_str().unwrap().contains("limit of 50"),
        "{body}"
    );
    let (status, _) = client.get_json("/50").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn other_methods_on_the_trigger_are_405() {
    let server = spawn_server().await;
    let client = spawn_client(&server.url()).await;
    let http = reqwest::Client::new();
    for method in [
        reqwest::Method::POST,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        let response = http
            .request(method.clone(), client.url("/10"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method}"
        );
    }
    assert!(client.files().is_empty());
}
