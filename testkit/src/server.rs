//! The one in-process test server every suite starts: the real
//! `bookstream-server` on free ports, stopped when dropped.

use std::{net::SocketAddr, time::Duration};

use bookstream::pb::recommendations_client::RecommendationsClient;
use bookstream_server::{RunningServer, Server, ServerConfig, source::CatalogSpec};
use tokio_util::sync::{CancellationToken, DropGuard};
use tonic::transport::Channel;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// How long the polling helpers wait for a state before failing the test.
const WAIT: Duration = Duration::from_secs(20);

/// A recommendations server for one test.
pub struct TestServer {
    pub grpc_addr: SocketAddr,
    pub rest_addr: SocketAddr,
    held: Held,
}

/// What keeps the server alive, and stops it when the test drops it.
enum Held {
    InProcess(RunningServer),
    /// A stand-in server (a broken one a test built) that stops when cancelled.
    StandIn(#[allow(dead_code)] DropGuard),
    /// A real `server` process another handle owns.
    Elsewhere,
}

/// The defaults, on free loopback ports.
pub fn server_config() -> ServerConfig {
    ServerConfig::on_free_ports()
}

/// A configuration for `catalog`: pages of 100 so that streams cross pages,
/// the store's health checked often.
pub fn store_config(catalog: CatalogSpec) -> ServerConfig {
    ServerConfig {
        catalog,
        page_size: 100,
        catalog_check_interval: Duration::from_millis(50),
        ..server_config()
    }
}

pub async fn spawn_server() -> TestServer {
    spawn_server_with(server_config()).await
}

/// A server whose gRPC listener is at `grpc_addr` (to restart one in place).
pub async fn spawn_server_at(grpc_addr: SocketAddr) -> TestServer {
    spawn_server_with(ServerConfig {
        grpc_addr,
        ..server_config()
    })
    .await
}

pub async fn spawn_server_with(config: ServerConfig) -> TestServer {
    let running = Server::bind(config)
        .await
        .expect("binding the test server")
        .spawn();
    TestServer {
        grpc_addr: running.grpc_addr(),
        rest_addr: running.rest_addr(),
        held: Held::InProcess(running),
    }
}

impl TestServer {
    /// Talks to a server running elsewhere (a real `server` process).
    pub fn attach(grpc_addr: SocketAddr, rest_addr: SocketAddr) -> Self {
        Self {
            grpc_addr,
            rest_addr,
            held: Held::Elsewhere,
        }
    }

    /// A stand-in server a test built itself, stopped by cancelling `stop`.
    pub fn stand_in(grpc_addr: SocketAddr, rest_addr: SocketAddr, stop: CancellationToken) -> Self {
        Self {
            grpc_addr,
            rest_addr,
            held: Held::StandIn(stop.drop_guard()),
        }
    }

    /// Sends the server its shutdown signal, as Ctrl-C or SIGTERM would.
    pub fn begin_shutdown(&mut self) {
        if let Held::InProcess(running) = &self.held {
            running.shut_down();
        }
    }

    /// The gRPC URL a client is given (`--server`).
    pub fn url(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    pub fn rest_url(&self, path_and_query: &str) -> String {
        format!("http://{}{}", self.rest_addr, path_and_query)
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.url())
            .expect("a socket address is a valid URI")
            .connect()
            .await
            .expect("the gRPC listener accepts connections once bound")
    }

    pub async fn grpc(&self) -> RecommendationsClient<Channel> {
        RecommendationsClient::new(self.channel().await).max_decoding_message_size(usize::MAX)
    }

    /// The status a `Recommend` the server must refuse ends with.
    pub async fn refusal(
        &self,
        request: impl tonic::IntoRequest<bookstream::RecommendationRequest>,
    ) -> tonic::Status {
        self.grpc()
            .await
            .recommend(request)
            .await
            .expect_err("the server refuses this request")
    }

    /// Opens a `Recommend` stream.
    pub async fn stream(
        &self,
        request: impl tonic::IntoRequest<bookstream::RecommendationRequest>,
    ) -> tonic::Streaming<bookstream::BookRecommendation> {
        self.grpc()
            .await
            .recommend(request)
            .await
            .expect("the server opens the stream")
            .into_inner()
    }

    /// `GET /health`: its status code and body.
    pub async fn health(&self) -> (u16, serde_json::Value) {
        let response = reqwest::get(self.rest_url("/health"))
            .await
            .expect("the REST listener answers");
        let status = response.status().as_u16();
        let body = response.json().await.expect("health answers JSON");
        (status, body)
    }

    /// Streams in flight, as the server's health endpoint reports them.
    pub async fn active_streams(&self) -> u64 {
        let (_, health) = self.health().await;
        health["active_streams"].as_u64().unwrap_or(0)
    }

    /// Polls health until `count` streams are in flight: a stream is
    /// uncounted when h2 drops it, a moment after its caller left.
    pub async fn wait_for_active_streams(&self, count: u64) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let active = self.active_streams().await;
            if active == count {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{active} streams still active, expected {count}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Polls health until at least one stream is in flight.
    pub async fn wait_for_a_stream(&self) {
        wait_for_a_stream(self.rest_addr).await;
    }

    /// What the gRPC health service says of the recommendations service.
    pub async fn serving_status(&self) -> ServingStatus {
        let request = HealthCheckRequest {
            service: bookstream::pb::names::SERVICE.to_owned(),
        };
        HealthClient::new(self.channel().await)
            .check(request)
            .await
            .expect("the health service answers")
            .into_inner()
            .status()
    }

    /// Polls the health service until it says `status`.
    pub async fn wait_for_serving_status(&self, status: ServingStatus) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let now = self.serving_status().await;
            if now == status {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "still {now:?}, waiting for {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Polls the health endpoint at `rest_addr` (any server, in this process or
/// not) until it reports a stream in flight.
pub async fn wait_for_a_stream(rest_addr: SocketAddr) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let health: serde_json::Value = reqwest::get(format!("http://{rest_addr}/health"))
            .await
            .expect("the REST listener answers")
            .json()
            .await
            .expect("health answers JSON");
        if health["active_streams"].as_u64().unwrap_or(0) > 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no stream started: {health}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A `Recommend` request for the first `max_results` books of `user_id`.
pub fn request(user_id: u64, max_results: u64) -> bookstream::RecommendationRequest {
    bookstream::RecommendationRequest {
        user_id,
        max_results,
        start_at: 0,
        ..Default::default()
    }
}

/// Every message of a stream, failing the test on an error status.
pub async fn collect<T>(mut stream: tonic::Streaming<T>) -> Vec<T> {
    let mut messages = Vec::new();
    while let Some(message) = stream.message().await.expect("the stream ends cleanly") {
        messages.push(message);
    }
    messages
}
