use bookstream_client::{ClientConfig, sink::Format};
use bookstream_server::ServerConfig;
use reqwest::StatusCode;

use crate::support::{expected_books, read_back, spawn_client_with, spawn_server_with};

const TOKEN: &str = "correct-horse-battery-staple";

async fn server_with_token() -> crate::support::TestServer {
    spawn_server_with(ServerConfig {
        grpc_addr: "127.0.0.1:0".parse().unwrap(),
        rest_addr: "127.0.0.1:0".parse().unwrap(),
        token: Some(TOKEN.to_owned()),
        ..ServerConfig::defaults()
    })
    .await
}

#[tokio::test]
async fn a_client_with_the_token_streams_from_a_server_that_requires_it() {
    let server = server_with_token().await;
    let client = spawn_client_with(&server.url(), |config| ClientConfig {
        token: Some(TOKEN.to_owned()),
        ..config
    })
    .await;

    let (status, body) = client.get_json("/100").await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        read_back(&client.output, Format::Txt),
        expected_books(1, 100, Format::Txt)
    );
}

#[tokio::test]
async fn a_client_without_the_token_is_refused_clearly_and_writes_nothing() {
    let server = server_with_token().await;
    for token in [None, Some("wrong".to_owned())] {
        let client =
            spawn_client_with(&server.url(), |config| ClientConfig { token, ..config }).await;

        let (status, body) = client.get_json("/100").await;

        // The client is misconfigured, no stream broke: its own status; the
        // body says, like every failure's, what arrived (nothing).
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains("refused this client's token"), "{body}");
        assert!(error.contains("--token"), "{body}");
        assert_eq!(body["received"], 0, "{body}");
        assert_eq!(body["requested"], 100, "{body}");
        assert_eq!(body["retries"], 0, "{body}");
        assert!(body["partial_file"].is_null(), "{body}");
        assert!(body["run_id"].as_u64().is_some(), "{body}");
        assert!(client.files().is_empty(), "{:?}", client.files());
    }
}
