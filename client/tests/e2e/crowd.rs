//! A crowd: a hundred runs at once, each watched through its event stream,
//! against the real client binary. It stays responsive, every run completes,
//! and its memory stays under 64 MB.

use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::StatusCode;

use crate::processes::{ServerProcess, start_client, status_kib};

const RUNS: u64 = 100;
const BOOKS: u64 = 50_000;
const MAX_PEAK_KIB: u64 = 64 * 1000 * 1000 / 1024;

#[tokio::test]
async fn a_hundred_runs_and_a_hundred_event_streams_leave_the_client_responsive_and_small() {
    let server = ServerProcess::start("127.0.0.1:0").await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("books-{run}.txt");
    let (client, base) =
        start_client(&server.url(), &output, &["--max-runs", &RUNS.to_string()]).await;
    let http = reqwest::Client::new();

    let runs: Vec<_> = (0..RUNS)
        .map(|_| {
            let request = http.get(format!("{base}/{BOOKS}")).send();
            tokio::spawn(async move { request.await.unwrap().status() })
        })
        .collect();
    // Every run is registered before its first book: ids 1..=100.
    let watchers: Vec<_> = (1..=RUNS)
        .map(|id| {
            let events = http.get(format!("{base}/runs/{id}/events")).send();
            tokio::spawn(async move {
                let mut body = events.await.unwrap().bytes_stream();
                let mut text = Vec::new();
                while let Some(chunk) = body.next().await {
                    text.extend_from_slice(&chunk.unwrap());
                }
                String::from_utf8(text).unwrap()
            })
        })
        .collect();

    // Responsive throughout: the health page answers promptly while the crowd runs.
    let mut slowest = Duration::ZERO;
    while runs.iter().any(|run| !run.is_finished()) {
        let asked = Instant::now();
        let health = http.get(format!("{base}/health")).send().await.unwrap();
        assert_eq!(health.status(), StatusCode::OK);
        slowest = slowest.max(asked.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        slowest < Duration::from_secs(1),
        "/health took {slowest:?} under load"
    );

    for run in runs {
        assert_eq!(run.await.unwrap(), StatusCode::OK);
    }
    for watcher in watchers {
        let events = watcher.await.unwrap();
        assert!(
            events.contains("event: end"),
            "every event stream ends with its run: {events}"
        );
    }
    let peak = status_kib(client.id().unwrap(), "VmHWM");
    assert!(peak < MAX_PEAK_KIB, "the client peaked at {peak} KiB");
    println!(
        "client peak with {RUNS} runs and {RUNS} event streams: {peak} KiB, /health at worst {slowest:?}"
    );
}
