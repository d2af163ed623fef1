use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use bookstream::BookRecommendation;
use bookstream_client::{Client, ClientConfig, sink::Format};
use bookstream_server::{RunningServer, Server, ServerConfig};
use tokio::sync::oneshot;

/// A recommendations server in this process on free ports; stops when dropped.
pub(crate) struct TestServer {
    pub(crate) grpc_addr: SocketAddr,
    pub(crate) rest_addr: SocketAddr,
    running: RunningServer,
}

impl TestServer {
    /// Sends the server its shutdown signal, as Ctrl-C or SIGTERM would.
    pub(crate) fn begin_shutdown(&mut self) {
        self.running.shut_down();
    }

    /// Waits until the server reports a stream in flight.
    pub(crate) async fn wait_for_a_stream(&self) {
        wait_for_a_stream(self.rest_addr).await;
    }

    pub(crate) fn url(&self) -> String {
        self.running.grpc_url()
    }
}

pub(crate) async fn spawn_server() -> TestServer {
    spawn_server_at("127.0.0.1:0".parse().unwrap()).await
}

pub(crate) async fn spawn_server_at(grpc_addr: SocketAddr) -> TestServer {
    spawn_server_with(ServerConfig {
        grpc_addr,
        ..ServerConfig::on_free_ports()
    })
    .await
}

pub(crate) async fn spawn_server_with(config: ServerConfig) -> TestServer {
    let running = Server::bind(config)
        .await
        .expect("binding the server")
        .spawn();
    TestServer {
        grpc_addr: running.grpc_addr(),
        rest_addr: running.rest_addr(),
        running,
    }
}

/// A trigger client in this process, writing into its own temporary directory.
pub(crate) struct TestClient {
    pub(crate) addr: SocketAddr,
    pub(crate) output: PathBuf,
    pub(crate) dir: tempfile::TempDir,
    _stop: oneshot::Sender<()>,
}

pub(crate) fn client_config(server_url: &str, output: &Path) -> ClientConfig {
    ClientConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        server: vec![server_url.parse().unwrap()],
        resolve_interval: Duration::from_millis(100),
        health_interval: Duration::from_millis(100),
        output: output.to_owned(),
        // Short waits keep the fault tests quick; the backoff logic is the same.
        retry_backoff: Duration::from_millis(10),
        ..ClientConfig::defaults()
    }
}

pub(crate) async fn spawn_client(server_url: &str) -> TestClient {
    spawn_client_with(server_url, |config| config).await
}

pub(crate) async fn spawn_client_with(
    server_url: &str,
    adjust: impl FnOnce(ClientConfig) -> ClientConfig,
) -> TestClient {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("books.out");
    spawn_client_in(dir, adjust(client_config(server_url, &output))).await
}

/// A client with exactly `config` (its output wherever the config says).
pub(crate) async fn spawn_client_from(config: ClientConfig) -> TestClient {
    spawn_client_in(tempfile::tempdir().unwrap(), config).await
}

async fn spawn_client_in(dir: tempfile::TempDir, config: ClientConfig) -> TestClient {
    let output = config.output.clone();
    let client = Client::bind(config).await.expect("binding the client");
    let addr = client.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(client.serve(async {
        let _ = stopped.await;
    }));
    TestClient {
        addr,
        output,
        dir,
        _stop: stop,
    }
}

impl TestClient {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// `GET path` as curl would ask: JSON back.
    pub(crate) async fn get_json(&self, path: &str) -> (reqwest::StatusCode, serde_json::Value) {
        let response = reqwest::get(self.url(path)).await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    /// [`Self::get_json`] for a path built on the fly, so many can run at once.
    pub(crate) async fn get_json_owned(
        &self,
        path: String,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        self.get_json(&path).await
    }

    /// [`Self::get_json`] on its own task, so the test can break things
    /// meanwhile; the client comes back with the answer.
    pub(crate) fn get_json_in_background(
        self,
        path: &str,
    ) -> tokio::task::JoinHandle<(Self, (reqwest::StatusCode, serde_json::Value))> {
        let path = path.to_owned();
        tokio::spawn(async move {
            let answer = self.get_json(&path).await;
            (self, answer)
        })
    }

    /// `GET path` as a browser would ask: HTML back.
    pub(crate) async fn get_html(&self, path: &str) -> (reqwest::StatusCode, String) {
        let response = reqwest::Client::new()
            .get(self.url(path))
            .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.text().await.unwrap())
    }

    /// The page at `path` once the run it shows has ended (a running run's
    /// page is its live view, which turns into the summary).
    pub(crate) async fn html_once_ended(&self, path: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let (_, page) = self.get_html(path).await;
            if !page.contains(r#"data-outcome="running""#) {
                return page;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the run never ended: {page}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every entry in the output directory but the run history (which
    /// lives beside the output by design), to check nothing stray was left.
    pub(crate) fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name != "bookstream-runs.jsonl")
            .collect();
        names.sort();
        names
    }
}

/// The books of an output file, read back in its format. A txt file holds
/// only ids and titles, so the other fields come back empty.
pub(crate) fn read_back(path: &Path, format: Format) -> Vec<BookRecommendation> {
    let text = std::fs::read_to_string(path).unwrap();
    match format {
        Format::Txt => text
            .lines()
            .map(|line| {
                let (id, title) = line.split_once(", ").expect("txt lines are `id, title`");
                BookRecommendation {
                    id: id.parse().unwrap(),
                    title: title.to_owned(),
                    ..Default::default()
                }
            })
            .collect(),
        Format::Csv => csv::Reader::from_reader(text.as_bytes())
            .deserialize()
            .collect::<Result<_, _>>()
            .unwrap(),
        Format::Jsonl => text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect(),
    }
}

/// The catalog's books as a file of `format` can hold them.
pub(crate) fn expected_books(user_id: u64, count: u64, format: Format) -> Vec<BookRecommendation> {
    bookstream::catalog::books(user_id, 0..count)
        .map(|book| match format {
            Format::Txt => BookRecommendation {
                id: book.id,
                title: book.title,
                ..Default::default()
            },
            Format::Csv | Format::Jsonl => book,
        })
        .collect()
}

/// Polls a server's health endpoint until it reports a stream in flight.
pub(crate) async fn wait_for_a_stream(rest_addr: SocketAddr) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let health: serde_json::Value = reqwest::get(format!("http://{rest_addr}/health"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
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

/// A store filled by `server load`'s own code; the directory or database
/// lives as long as this value.
pub(crate) struct LoadedStore {
    pub(crate) spec: bookstream_server::source::CatalogSpec,
    _dir: Option<tempfile::TempDir>,
    pub(crate) database: Option<bookstream_testkit::postgres::TestDatabase>,
}

/// `server load` into a new SQLite file.
pub(crate) async fn sqlite_store(users: &str, books: u64) -> LoadedStore {
    let dir = tempfile::tempdir().unwrap();
    let spec = format!("sqlite:{}", dir.path().join("catalog.db").display());
    let store = LoadedStore {
        spec: spec.parse().unwrap(),
        _dir: Some(dir),
        database: None,
    };
    store.load(users, books).await;
    store
}

/// `server load` into a new PostgreSQL database, or `None` where PostgreSQL
/// is not installed (and not required).
pub(crate) async fn postgres_store(users: &str, books: u64) -> Option<LoadedStore> {
    let database = bookstream_testkit::postgres::shared()?.database().await;
    let store = LoadedStore {
        spec: database.url().parse().unwrap(),
        _dir: None,
        database: Some(database),
    };
    store.load(users, books).await;
    Some(store)
}

impl LoadedStore {
    async fn load(&self, users: &str, books: u64) {
        use bookstream_server::source::load;
        let request = load::LoadRequest {
            users: users.parse().unwrap(),
            books,
        };
        load::load(&self.spec, request, &load::Progress::hidden())
            .await
            .unwrap();
    }

    /// A server streaming from this store.
    pub(crate) async fn serve(&self) -> TestServer {
        spawn_server_with(ServerConfig {
            grpc_addr: "127.0.0.1:0".parse().unwrap(),
            rest_addr: "127.0.0.1:0".parse().unwrap(),
            catalog: self.spec.clone(),
            ..ServerConfig::defaults()
        })
        .await
    }
}

/// The file a run of `count` books of `user_id` from the generated catalog
/// writes, made by the client's own sink without any network.
pub(crate) fn generated_file(user_id: u64, count: u64, format: Format) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("generated");
    let mut sink = bookstream_client::sink::FileSink::create(&path, format).unwrap();
    for book in bookstream::catalog::books(user_id, 0..count) {
        sink.write(&book.view()).unwrap();
    }
    sink.commit().unwrap();
    std::fs::read(&path).unwrap()
}
