use std::{net::SocketAddr, path::PathBuf, time::Duration};

use bookstream::pb::recommendations_client::RecommendationsClient;
use bookstream_server::{
    RunningServer, Server, ServerConfig,
    source::{
        CatalogSpec,
        load::{self, LoadRequest},
    },
};
use bookstream_testkit::postgres::{self, TestDatabase};
use tonic::transport::Channel;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// A server running in this process on free ports; stops when dropped.
pub(crate) struct TestServer {
    pub(crate) grpc_addr: SocketAddr,
    pub(crate) rest_addr: SocketAddr,
    /// The server this test runs in its own process; `None` for a real binary.
    running: Option<RunningServer>,
}

pub(crate) fn config() -> ServerConfig {
    ServerConfig::on_free_ports()
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
        running: Some(running),
    }
}

impl TestServer {
    /// Talks to a server running elsewhere (a real `server` process).
    pub(crate) fn attach(grpc_addr: SocketAddr, rest_addr: SocketAddr) -> Self {
        Self {
            grpc_addr,
            rest_addr,
            running: None,
        }
    }

    pub(crate) async fn grpc(&self) -> RecommendationsClient<Channel> {
        RecommendationsClient::connect(format!("http://{}", self.grpc_addr))
            .await
            .expect("the gRPC listener accepts connections once bound")
            .max_decoding_message_size(usize::MAX)
    }

    /// The status a `Recommend` the server must refuse ends with.
    pub(crate) async fn refusal(
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
        if let Some(running) = &self.running {
            running.shut_down();
        }
    }

    /// Streams in flight, as the server's health endpoint reports them.
    pub(crate) async fn active_streams(&self) -> u64 {
        let (_, health) = self.health().await;
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

/// Every message of a stream, failing the test on an error status.
pub(crate) async fn collect<T>(mut stream: tonic::Streaming<T>) -> Vec<T> {
    let mut messages = Vec::new();
    while let Some(message) = stream.message().await.unwrap() {
        messages.push(message);
    }
    messages
}

/// A store filled by `server load`'s own code, for one test.
pub(crate) enum Store {
    Sqlite {
        _dir: tempfile::TempDir,
        path: PathBuf,
    },
    Postgres {
        database: TestDatabase,
    },
}

impl Store {
    /// A new SQLite file holding `books` books for each of `users`.
    pub(crate) async fn sqlite(users: &str, books: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.db");
        let store = Store::Sqlite { _dir: dir, path };
        store.load(users, books).await;
        store
    }

    /// A new PostgreSQL database holding `books` books for each of
    /// `users`, or `None` where PostgreSQL is not installed (and not required).
    pub(crate) async fn postgres(users: &str, books: u64) -> Option<Self> {
        let database = postgres::shared()?.database().await;
        let store = Store::Postgres { database };
        store.load(users, books).await;
        Some(store)
    }

    /// The database of a PostgreSQL store.
    pub(crate) fn database(&self) -> &TestDatabase {
        match self {
            Store::Postgres { database } => database,
            Store::Sqlite { .. } => panic!("an SQLite store has no PostgreSQL database"),
        }
    }

    pub(crate) fn spec(&self) -> CatalogSpec {
        let text = match self {
            Store::Sqlite { path, .. } => format!("sqlite:{}", path.display()),
            Store::Postgres { database } => database.url(),
        };
        text.parse().unwrap()
    }

    pub(crate) async fn load(&self, users: &str, books: u64) {
        let request = LoadRequest {
            users: users.parse().unwrap(),
            books,
        };
        load::load(&self.spec(), request, &load::Progress::hidden())
            .await
            .unwrap();
    }

    /// A server on this store, with small pages so that streams cross pages.
    pub(crate) async fn serve(&self) -> TestServer {
        spawn_server_with(store_config(self.spec())).await
    }

    /// Rows in one of the store's tables.
    pub(crate) async fn rows(&self, table: &str) -> u64 {
        let sql = format!("SELECT count(*) FROM {table}");
        let count: i64 = match self {
            Store::Sqlite { path, .. } => rusqlite::Connection::open(path)
                .unwrap()
                .query_row(&sql, [], |row| row.get(0))
                .unwrap(),
            Store::Postgres { database } => database
                .connect()
                .await
                .query_one(&sql, &[])
                .await
                .unwrap()
                .get(0),
        };
        count as u64
    }
}

/// A server configuration for `catalog`: pages of 100, health checked often.
pub(crate) fn store_config(catalog: CatalogSpec) -> ServerConfig {
    ServerConfig {
        catalog,
        page_size: 100,
        catalog_check_interval: Duration::from_millis(50),
        ..config()
    }
}

impl TestServer {
    /// What the gRPC health service says of the recommendations service.
    pub(crate) async fn serving_status(&self) -> ServingStatus {
        let request = HealthCheckRequest {
            service: bookstream::pb::names::SERVICE.to_owned(),
        };
        HealthClient::new(self.channel().await)
            .check(request)
            .await
            .unwrap()
            .into_inner()
            .status()
    }

    /// Polls the health service until it says `status`.
    pub(crate) async fn wait_for_serving_status(&self, status: ServingStatus) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
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

    /// `GET /health`: its status code and body.
    pub(crate) async fn health(&self) -> (u16, serde_json::Value) {
        let response = reqwest::get(self.rest_url("/health")).await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }
}
