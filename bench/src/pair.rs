//! One catalog's server and client, started as the real binaries on free
//! ports, and timed runs through its trigger.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use bookstream::ready;
use bookstream_client::sink::Format;
use bookstream_server::source::CatalogSpec;

use crate::processes::Process;

/// The user whose books every run asks for.
pub const USER_ID: u64 = 1;

/// A server on one catalog and a client writing its runs to one file.
pub struct Pair {
    pub server: Process,
    pub client: Process,
    output: std::path::PathBuf,
    history: std::path::PathBuf,
    rest_url: String,
    base_url: String,
    http: reqwest::Client,
}

/// One timed `GET /<books>`, with what each process spent on it.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    pub elapsed: Duration,
    pub server_cpu_seconds: f64,
    pub client_cpu_seconds: f64,
}

impl Pair {
    /// Starts both binaries; the catalog travels in the environment, so a
    /// password in it shows in no process list.
    pub async fn start(
        bin_dir: &Path,
        catalog: &CatalogSpec,
        page_size: Option<u64>,
        extra_env: &[(String, String)],
        output: &Path,
        format: Format,
    ) -> anyhow::Result<Self> {
        Self::start_under(&[], bin_dir, catalog, page_size, extra_env, output, format).await
    }

    /// The same, both processes run by `wrapper` (see [`Process::start_under`]).
    pub async fn start_under(
        wrapper: &[String],
        bin_dir: &Path,
        catalog: &CatalogSpec,
        page_size: Option<u64>,
        extra_env: &[(String, String)],
        output: &Path,
        format: Format,
    ) -> anyhow::Result<Self> {
        let mut envs = vec![("BOOKSTREAM_CATALOG", catalog.reveal())];
        if let Some(page_size) = page_size {
            envs.push(("BOOKSTREAM_PAGE_SIZE", page_size.to_string()));
        }
        envs.extend(
            extra_env
                .iter()
                .map(|(name, value)| (name.as_str(), value.clone())),
        );
        let (server, line) = Process::start_under(
            wrapper,
            bin_dir,
            "server",
            &["--grpc-addr", "127.0.0.1:0", "--rest-addr", "127.0.0.1:0"],
            &envs,
            "bookstream server ready:",
        )
        .await
        .with_context(|| format!("starting a server on {catalog}"))?;
        let (grpc_addr, rest_addr) =
            ready::parse_line(&line).context("reading the server's addresses")?;
        let server_url = format!("http://{grpc_addr}");
        let output_text = output.to_string_lossy().into_owned();
        // Each pair keeps its client's run history apart, and removes it when
        // done; through the environment, which clients from before the
        // history (a baseline build) ignore.
        let history = output.with_extension("runs.jsonl");
        let mut client_envs = envs[1..].to_vec();
        client_envs.push(("BOOKSTREAM_HISTORY", history.to_string_lossy().into_owned()));
        let (client, line) = Process::start_under(
            wrapper,
            bin_dir,
            "client",
            &[
                "--listen",
                "127.0.0.1:0",
                "--server",
                &server_url,
                "--output",
                &output_text,
                "--format",
                format.name(),
            ],
            &client_envs,
            ready::CLIENT_PREFIX.trim_end(),
        )
        .await?;
        let base_url = ready::parse_client_line(&line)
            .context("reading the client's address")?
            .to_owned();
        Ok(Self {
            server,
            client,
            output: output.to_owned(),
            history,
            rest_url: format!("http://{rest_addr}"),
            base_url,
            http: reqwest::Client::new(),
        })
    }

    /// The file the client writes each run to.
    pub fn output(&self) -> &Path {
        &self.output
    }

    /// Times one `GET /<books>` and checks the client says it wrote them all.
    pub async fn trigger(&self, books: u64) -> anyhow::Result<Run> {
        let (server_before, client_before) =
            (self.server.cpu_seconds()?, self.client.cpu_seconds()?);
        let started = Instant::now();
        let response = self
            .http
            .get(format!("{}/{books}?user_id={USER_ID}", self.base_url))
            .send()
            .await
            .context("calling the trigger")?;
        let status = response.status();
        let body: serde_json::Value = response
            .json()
            .await
            .context("reading the trigger's answer")?;
        let elapsed = started.elapsed();
        if !status.is_success() || body["received"] != books {
            bail!("GET /{books} answered {status}: {body}");
        }
        Ok(Run {
            elapsed,
            server_cpu_seconds: self.server.cpu_seconds()? - server_before,
            client_cpu_seconds: self.client.cpu_seconds()? - client_before,
        })
    }

    /// How many books of user 1's list the server has, up to `books`
    /// (asked for the last of them; the answer's count says whether it is there).
    pub async fn holds(&self, books: u64) -> anyhow::Result<bool> {
        let url = format!(
            "{}/recommendations/stream?user_id={USER_ID}&max_results={books}&start_at={}",
            self.rest_url,
            books - 1
        );
        let response = self
            .http
            .get(url)
            .send()
            .await
            .context("asking the server")?;
        let count = response
            .headers()
            .get(bookstream::COUNT_HEADER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        Ok(response.status().is_success() && count == Some(1))
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        // The run history is the bench's by-product, not a result.
        let _ = std::fs::remove_file(&self.history);
    }
}
