//! The real `server` and `client` binaries, started as a person would start them.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use bookstream::ready::{CLIENT_PREFIX, parse_client_line};
use bookstream_client::sink::Format;
use bookstream_testkit::process::Launch;
use reqwest::StatusCode;
use tokio::process::Child;

use crate::support::{expected_books, read_back, spawn_client_with, wait_for_a_stream};

fn binary(name: &str) -> PathBuf {
    // Both binaries land in the same target directory; cargo names only this
    // package's own binary, so the server is found beside it.
    let path = PathBuf::from(env!("CARGO_BIN_EXE_client")).with_file_name(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace first (`cargo test --workspace` does)",
        path.display()
    );
    path
}

/// Starts a binary and waits for its readiness line on stdout.
pub(crate) async fn start(name: &str, args: &[&str], ready_prefix: &str) -> (Child, String) {
    start_with(
        name,
        args,
        &[("RUST_LOG", "warn")],
        Stdio::null(),
        ready_prefix,
    )
    .await
}

/// Starts a binary with `envs` and stderr going to `stderr`, and waits for
/// its readiness line on stdout.
pub(crate) async fn start_with(
    name: &str,
    args: &[&str],
    envs: &[(&str, &str)],
    stderr: Stdio,
    ready_prefix: &str,
) -> (Child, String) {
    Launch::new(binary(name))
        .args(args.iter().copied())
        .envs(envs)
        .stderr(stderr)
        .ready(ready_prefix)
        .await
}

/// Starts the real `server` on free ports over `catalog`, with `envs` and
/// stderr going to `stderr`; returns it and its readiness line.
pub(crate) async fn start_server_on(
    catalog: &str,
    envs: &[(&str, &str)],
    stderr: Stdio,
) -> (Child, String) {
    let args = [
        "--grpc-addr",
        "127.0.0.1:0",
        "--rest-addr",
        "127.0.0.1:0",
        "--catalog",
        catalog,
    ];
    start_with(
        "server",
        &args,
        envs,
        stderr,
        bookstream::ready::SERVER_PREFIX,
    )
    .await
}

/// Starts the real `client` against `server_url`, writing to `output`, with
/// `extra` flags after those; returns it and its trigger's base URL.
pub(crate) async fn start_client(
    server_url: &str,
    output: &Path,
    extra: &[&str],
) -> (Child, String) {
    start_client_with(
        server_url,
        output,
        extra,
        &[("RUST_LOG", "warn")],
        Stdio::null(),
    )
    .await
}

/// [`start_client`] with `envs` and stderr going to `stderr`.
pub(crate) async fn start_client_with(
    server_url: &str,
    output: &Path,
    extra: &[&str],
    envs: &[(&str, &str)],
    stderr: Stdio,
) -> (Child, String) {
    start_client_launched(server_url, output, extra, |launch| {
        launch.envs(envs).stderr(stderr)
    })
    .await
}

/// [`start_client`] with the launch adjusted by `adjust` (environment, limits).
pub(crate) async fn start_client_launched(
    server_url: &str,
    output: &Path,
    extra: &[&str],
    adjust: impl FnOnce(Launch) -> Launch,
) -> (Child, String) {
    let output = output.to_str().expect("a UTF-8 output path");
    let mut args = vec![
        "--listen",
        "127.0.0.1:0",
        "--server",
        server_url,
        "--output",
        output,
    ];
    args.extend_from_slice(extra);
    let launch = Launch::new(binary("client")).args(args);
    let (child, ready) = adjust(launch).ready(CLIENT_PREFIX).await;
    let base_url = parse_client_line(&ready)
        .expect("start_with returns the readiness line")
        .to_owned();
    (child, base_url)
}

/// A real `server` process; killed when dropped.
pub(crate) struct ServerProcess {
    child: Child,
    grpc_addr: std::net::SocketAddr,
    rest_addr: std::net::SocketAddr,
}

impl ServerProcess {
    pub(crate) async fn start(grpc_addr: &str) -> Self {
        let (child, ready) = start(
            "server",
            &["--grpc-addr", grpc_addr, "--rest-addr", "127.0.0.1:0"],
            "bookstream server ready:",
        )
        .await;
        let (grpc_addr, rest_addr) = bookstream::ready::parse_line(&ready).unwrap();
        Self {
            child,
            grpc_addr,
            rest_addr,
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    /// SIGKILL: no goodbye, no flushing, every connection cut.
    async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }
}

pub(crate) async fn terminate(mut child: Child) -> std::process::ExitStatus {
    let pid = child.id().unwrap().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(sent.success());
    tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn the_real_binaries_stream_1000_books_into_the_file_and_stop_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("books.jsonl");
    let (server, ready) = start(
        "server",
        &["--grpc-addr", "127.0.0.1:0", "--rest-addr", "127.0.0.1:0"],
        "bookstream server ready:",
    )
    .await;
    let (grpc_addr, _rest_addr) = bookstream::ready::parse_line(&ready).unwrap();
    let server_url = format!("http://{grpc_addr}");
    let (client, base_url) = start_client(&server_url, &output, &["--format", "jsonl"]).await;

    let response = reqwest::get(format!("{base_url}/1000")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["received"], 1000);
    assert_eq!(
        read_back(&output, Format::Jsonl),
        expected_books(1, 1000, Format::Jsonl)
    );

    assert!(
        terminate(client).await.success(),
        "the client exits 0 on SIGTERM"
    );
    assert!(
        terminate(server).await.success(),
        "the server exits 0 on SIGTERM"
    );
}

#[tokio::test]
async fn a_bad_flag_is_a_usage_error_and_help_explains_every_flag() {
    let documented: [(&str, &[&str]); 2] = [
        (
            "client",
            &[
                "--listen",
                "--server",
                "--output",
                "--format",
                "--max-n",
                "--max-runs",
                "--echo",
                "--retries",
                "--retry-backoff",
                "--idle-timeout",
                "--health-interval",
                "--token",
                "--ca",
                "--tls-cert",
                "--tls-key",
                "--connect-timeout",
                "BOOKSTREAM_SERVER",
            ],
        ),
        (
            "server",
            &[
                "--grpc-addr",
                "--rest-addr",
                "--max-results",
                "--max-message-bytes",
                "--max-streams",
                "--max-connections",
                "--shutdown-grace",
                "--token",
                "--tls-cert",
                "--tls-key",
                "BOOKSTREAM_GRPC_ADDR",
            ],
        ),
    ];
    for (name, flags) in documented {
        let help = std::process::Command::new(binary(name))
            .arg("--help")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&help.stdout);
        for flag in flags {
            assert!(text.contains(flag), "{name} --help lacks {flag}:\n{text}");
        }
    }

    let bad = std::process::Command::new(binary("client"))
        .args(["--format", "xml"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid value 'xml'"));
}

#[tokio::test]
async fn killing_a_real_server_mid_stream_resumes_on_the_second_one() {
    let first = ServerProcess::start("127.0.0.1:0").await;
    let second = ServerProcess::start("127.0.0.1:0").await;
    let servers = [first.url(), second.url()];
    let client = spawn_client_with(&servers[0].clone(), |config| {
        bookstream_client::ClientConfig {
            server: servers.iter().map(|url| url.parse().unwrap()).collect(),
            ..config
        }
    })
    .await;

    let run = client.get_json_in_background("/300000?user_id=6");
    wait_for_a_stream(first.rest_addr).await;
    first.kill().await;
    let (client, (status, body)) = run.await.unwrap();

    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["retries"].as_u64().unwrap() >= 1, "{body}");
    assert_eq!(
        read_back(&client.output, Format::Txt),
        expected_books(6, 300_000, Format::Txt)
    );
    drop(second);
}

#[tokio::test]
async fn restarting_the_only_server_within_the_retry_window_completes_the_run() {
    let server = ServerProcess::start("127.0.0.1:0").await;
    let grpc_addr = server.grpc_addr.to_string();
    let client = spawn_client_with(&server.url(), |config| bookstream_client::ClientConfig {
        retries: 10,
        retry_backoff: Duration::from_millis(50),
        ..config
    })
    .await;

    let run = client.get_json_in_background("/300000?user_id=7");
    wait_for_a_stream(server.rest_addr).await;
    server.kill().await;
    let restarted = ServerProcess::start(&grpc_addr).await;
    let (client, (status, body)) = run.await.unwrap();

    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["retries"].as_u64().unwrap() >= 1, "{body}");
    assert_eq!(
        read_back(&client.output, Format::Txt),
        expected_books(7, 300_000, Format::Txt)
    );
    drop(restarted);
}

#[tokio::test]
async fn sigterm_to_the_client_mid_run_lets_the_run_finish_first() {
    let server = ServerProcess::start("127.0.0.1:0").await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("books.txt");
    let (client, base_url) = start_client(&server.url(), &output, &[]).await;

    let run = tokio::spawn(async move { reqwest::get(format!("{base_url}/300000")).await });
    wait_for_a_stream(server.rest_addr).await;
    let exit = terminate(client).await;
    let response = run.await.unwrap().unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["received"], 300_000);
    assert!(exit.success(), "{exit:?}");
    assert_eq!(
        read_back(&output, Format::Txt),
        expected_books(1, 300_000, Format::Txt)
    );
}

/// A memory figure of a process from `/proc/PID/status`, in KiB: `VmRSS`
/// (resident now) or `VmHWM` (its resident peak).
pub(crate) fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

#[tokio::test]
async fn a_slow_reader_does_not_make_the_server_buffer() {
    let server = ServerProcess::start("127.0.0.1:0").await;
    let pid = server.child.id().unwrap();
    let mut grpc =
        bookstream::pb::recommendations_client::RecommendationsClient::connect(server.url())
            .await
            .unwrap();
    let request = bookstream::RecommendationRequest {
        user_id: 1,
        max_results: 10_000_000,
        start_at: 0,
        ..Default::default()
    };
    let mut stream = grpc.recommend(request).await.unwrap().into_inner();
    stream.message().await.unwrap().unwrap();
    let before = status_kib(pid, "VmRSS");

    // The slowness is the workload here: 50 books every 20 ms for two
    // seconds. A server that produced books faster than they are read would
    // have generated millions by then; flow control must hold it back.
    for _ in 0..100 {
        for _ in 0..50 {
            stream.message().await.unwrap().unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let after = status_kib(pid, "VmRSS");

    eprintln!("server resident memory with a slow reader: {before} KiB -> {after} KiB");
    assert!(
        after < before + 8 * 1024,
        "the server grew from {before} to {after} KiB"
    );
}

#[tokio::test]
async fn a_client_killed_mid_run_removes_that_runs_temporary_file_when_it_starts_again() {
    let server = ServerProcess::start("127.0.0.1:0").await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("books.txt");
    // A temporary file of someone else's: not a run's, so never touched.
    let foreign = dir.path().join(".books.txt.x1y2z3.tmp");
    std::fs::write(&foreign, "not ours\n").unwrap();
    let (mut client, base_url) = start_client(&server.url(), &output, &[]).await;
    let url = format!("{base_url}/5000000");
    let _run = tokio::spawn(async move { reqwest::get(url).await });

    // Books are on their way into run 1's temporary file.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let temp = loop {
        let written = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .find(|path| {
                path.file_name()
                    .is_some_and(|name| name.to_string_lossy().starts_with(".books.txt.run-1."))
                    && std::fs::metadata(path).is_ok_and(|meta| meta.len() > 0)
            });
        if let Some(path) = written {
            break path;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no books were written"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    client.kill().await.unwrap();
    assert!(temp.exists());

    let (_client, base_url) = start_client(&server.url(), &output, &[]).await;
    assert!(!temp.exists(), "the dead run's temporary file is removed");
    assert!(foreign.exists(), "other files are left alone");
    let run: serde_json::Value = reqwest::Client::new()
        .get(format!("{base_url}/runs/1"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(run["outcome"], "failed", "{run}");
    assert_eq!(run["error"], "client stopped", "{run}");
    let received = run["received"].as_u64().unwrap();
    assert!(received > 0 && received < 5_000_000, "{run}");
}
