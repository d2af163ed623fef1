use std::net::SocketAddr;

use bookstream::pb::recommendations_client::RecommendationsClient;
use bookstream_server::{RunningServer, Server, ServerConfig};
use tonic::transport::Channel;

/// A server running in this process on free ports; stops when dropped.
pub(crate) struct TestServer {
    pub(crate) grpc_addr: SocketAddr,
    pub(crate) rest_addr: SocketAddr,
    running: RunningServer,
}

pub(crate) fn config() -> ServerConfig {
    ServerConfig {
        grpc_addr: "127.0.0.1:0".parse().unwrap(),
        rest_addr: "127.0.0.1:0".parse().unwrap(),
        ..ServerConfig::defaults()
    }
}

pub(crate) async fn spawn_server() -> TestServer {
    spawn_server_with(config()).await
}

pub(crate) async fn spawn_server_with(config: ServerConfig) -> TestServer {
    let running = Server::bind(config)
        .await
        .expect("binding port 0 works")
        .spawn();
    TestServer {
        grpc_addr: running.grpc_addr(),
        rest_addr: running.rest_addr(),
        running,
    }
}

impl TestServer {
    pub(crate) async fn grpc(&self) -> RecommendationsClient<Channel> {
        RecommendationsClient::connect(format!("http://{}", self.grpc_addr))
            .await
            .expect("the gRPC listener accepts connections once bound")
            .max_decoding_message_size(usize::MAX)
    }

    /// Opens a `Recommend` stream.
    pub(crate) async fn stream(
        &self,
        request: impl tonic::IntoRequest<bookstream::RecommendationRequest>,
    ) -> tonic::Streaming<bookstream::BookRecommendation> {
        self.grpc()
            .await
            .recommend(request)
            .await
            .unwrap()
            .into_inner()
    }

    pub(crate) async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.grpc_addr))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// Sends the server its shutdown signal, as Ctrl-C or SIGTERM would.
    pub(crate) fn begin_shutdown(&mut self) {
        self.running.shut_down();
    }

    /// Streams in flight, as the server's health endpoint reports them.
    pub(crate) async fn active_streams(&self) -> u64 {
        let health: serde_json::Value = reqwest::get(self.rest_url("/health"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        health["active_streams"].as_u64().unwrap()
    }

    /// Polls the health endpoint until `count` streams are in flight: a
    /// stream is uncounted when h2 drops it, a moment after its caller left.
    pub(crate) async fn wait_for_active_streams(&self, count: u64) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let active = self.active_streams().await;
            if active == count {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{active} streams still active, expected {count}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    pub(crate) fn rest_url(&self, path_and_query: &str) -> String {
        format!("http://{}{}", self.rest_addr, path_and_query)
    }
}

pub(crate) fn request(user_id: u64, max_results: u64) -> bookstream::RecommendationRequest {
    bookstream::RecommendationRequest {
        user_id,
        max_results,
        start_at: 0,
    }
}

/// Every book of a stream, failing the test on an error status.
pub(crate) async fn collect(
    mut stream: tonic::Streaming<bookstream::BookRecommendation>,
) -> Vec<bookstream::BookRecommendation> {
    let mut books = Vec::new();
    while let Some(book) = stream.message().await.unwrap() {
        books.push(book);
    }
    books
}
