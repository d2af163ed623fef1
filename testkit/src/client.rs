//! The one in-process test client (the trigger) every suite starts, writing
//! into its own temporary directory.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use bookstream_client::{Client, ClientConfig};
use tokio::sync::oneshot;

/// A trigger client for one test; stops when dropped.
pub struct TestClient {
    pub addr: SocketAddr,
    pub output: PathBuf,
    pub dir: tempfile::TempDir,
    _stop: oneshot::Sender<()>,
}

/// The defaults, on a free port, against `server_url`, writing to `output`,
/// with short intervals so that fault tests stay quick (the logic is the same).
pub fn client_config(server_url: &str, output: &Path) -> ClientConfig {
    ClientConfig {
        listen: "127.0.0.1:0".parse().expect("a socket address"),
        server: vec![server_url.parse().expect("a server URL")],
        resolve_interval: Duration::from_millis(100),
        health_interval: Duration::from_millis(100),
        output: output.to_owned(),
        retry_backoff: Duration::from_millis(10),
        ..ClientConfig::defaults()
    }
}

pub async fn spawn_client(server_url: &str) -> TestClient {
    spawn_client_with(server_url, |config| config).await
}

/// A client whose test configuration `adjust` changes first.
pub async fn spawn_client_with(
    server_url: &str,
    adjust: impl FnOnce(ClientConfig) -> ClientConfig,
) -> TestClient {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let output = dir.path().join("books.out");
    spawn_client_in(dir, adjust(client_config(server_url, &output))).await
}

/// A client with exactly `config` (its output wherever the config says).
pub async fn spawn_client_from(config: ClientConfig) -> TestClient {
    spawn_client_in(tempfile::tempdir().expect("a temporary directory"), config).await
}

async fn spawn_client_in(dir: tempfile::TempDir, config: ClientConfig) -> TestClient {
    let output = config.output.clone();
    let client = Client::bind(config).await.expect("binding the test client");
    let addr = client
        .local_addr()
        .expect("a bound listener has an address");
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

type JsonAnswer = (reqwest::StatusCode, serde_json::Value);

impl TestClient {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// `GET path` as curl would ask: JSON back.
    pub async fn get_json(&self, path: &str) -> JsonAnswer {
        let response = reqwest::get(self.url(path))
            .await
            .expect("the client answers");
        let status = response.status();
        (status, response.json().await.expect("a JSON answer"))
    }

    /// [`Self::get_json`] for a path built on the fly, so many can run at once.
    pub async fn get_json_owned(&self, path: String) -> JsonAnswer {
        self.get_json(&path).await
    }

    /// [`Self::get_json`] on its own task, so the test can break things
    /// meanwhile; the client comes back with the answer.
    pub fn get_json_in_background(self, path: &str) -> tokio::task::JoinHandle<(Self, JsonAnswer)> {
        let path = path.to_owned();
        tokio::spawn(async move {
            let answer = self.get_json(&path).await;
            (self, answer)
        })
    }

    /// `GET path` as a browser would ask: HTML back.
    pub async fn get_html(&self, path: &str) -> (reqwest::StatusCode, String) {
        let response = reqwest::Client::new()
            .get(self.url(path))
            .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
            .send()
            .await
            .expect("the client answers");
        let status = response.status();
        (status, response.text().await.expect("a text answer"))
    }

    /// The page at `path` once the run it shows has ended (a running run's
    /// page is its live view, which turns into the summary).
    pub async fn html_once_ended(&self, path: &str) -> String {
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
    pub fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .expect("the output directory is readable")
            .map(|entry| {
                entry
                    .expect("a directory entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|name| name != "bookstream-runs.jsonl")
            .collect();
        names.sort();
        names
    }
}
