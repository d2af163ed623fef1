use bookstream::pb::recommendations_client::RecommendationsClient;
use reqwest::StatusCode;
use tonic::{Code, Request, metadata::MetadataValue};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::support::{config, request, spawn_server_with};

const TOKEN: &str = "correct-horse-battery-staple";

fn with_token<T>(message: T, token: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(token) = token {
        let value = MetadataValue::try_from(format!("Bearer {token}")).unwrap();
        request.metadata_mut().insert("authorization", value);
    }
    request
}

#[tokio::test]
async fn with_a_token_every_rpc_that_returns_books_needs_it_and_health_does_not() {
    let server = spawn_server_with(bookstream_server::ServerConfig {
        token: Some(TOKEN.to_owned()),
        ..config()
    })
    .await;
    let mut grpc = RecommendationsClient::new(server.channel().await);
    let mut health = HealthClient::new(server.channel().await);

    for token in [None, Some("wrong"), Some("")] {
        let status = grpc
            .recommend(with_token(request(1, 5), token))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{token:?}");
        assert!(status.message().contains("token"), "{}", status.message());
        let status = grpc
            .recommend_batch(with_token(request(1, 5), token))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{token:?}");
        // Kubernetes' gRPC probes cannot send a token: health answers anyway.
        let check = HealthCheckRequest {
            service: bookstream::pb::names::SERVICE.to_owned(),
        };
        let answer = health.check(with_token(check, token)).await.unwrap();
        assert_eq!(answer.into_inner().status, 1, "SERVING, {token:?}");
    }

    let mut stream = grpc
        .recommend(with_token(request(1, 5), Some(TOKEN)))
        .await
        .unwrap()
        .into_inner();
    let mut count = 0;
    while stream.message().await.unwrap().is_some() {
        count += 1;
    }
    assert_eq!(count, 5);
    assert_eq!(
        grpc.recommend_batch(with_token(request(1, 5), Some(TOKEN)))
            .await
            .unwrap()
            .into_inner()
            .books
            .len(),
        5
    );
}

#[tokio::test]
async fn with_a_token_probes_and_scrapers_get_in_and_books_stay_guarded() {
    let server = spawn_server_with(bookstream_server::ServerConfig {
        token: Some(TOKEN.to_owned()),
        ..config()
    })
    .await;
    let http = reqwest::Client::new();
    for path in ["/health", "/metrics"] {
        let response = http.get(server.rest_url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    for path in [
        "/recommendations?max_results=3",
        "/recommendations/stream?max_results=3",
    ] {
        let response = http.get(server.rest_url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let response = http
            .get(server.rest_url(path))
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
        let response = http
            .get(server.rest_url(path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
}
