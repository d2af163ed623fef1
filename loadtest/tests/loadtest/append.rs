//! The write scenarios against a real store: every acked batch is in the
//! list, each user a producer of its own, with the same reports as reads.

use bookstream_server::ServerConfig;
use bookstream_testkit::{server::store_config, store::TestStore};

use crate::support::{opts, run_one};

const WRITE_TOKEN: &str = "load-writes";

async fn appends_every_acked_batch(scenario: &str) {
    let store = TestStore::sqlite("1", 10).await;
    let server = store
        .serve_with(ServerConfig {
            write_token: Some(WRITE_TOKEN.to_owned()),
            ..store_config(store.spec())
        })
        .await;
    let report = run_one(opts(
        &server,
        scenario,
        &[
            "--token",
            WRITE_TOKEN,
            "--user-id",
            "1",
            "--max-results",
            "50",
        ],
    ))
    .await;
    assert!(report.requests_ok > 0, "{report:#?}");
    assert_eq!(report.requests_failed, 0, "{report:#?}");
    assert!(report.latency_ms.is_some(), "acks are timed: {report:#?}");
    assert!(report.books_per_s > 0.0, "{report:#?}");
    // Batches cut at the end of the run may have been committed too, unacked.
    let appended = store.rows("recommendations").await - 10;
    assert_eq!(appended % 50, 0, "whole batches only");
    assert!(
        appended / 50 >= report.requests_ok,
        "{appended} books for {report:#?}"
    );
    assert!(
        appended / 50 <= report.requests_ok + report.cut_at_end + 2,
        "{appended} books for {report:#?}"
    );
}

#[tokio::test]
async fn grpc_append_commits_every_acked_batch() {
    appends_every_acked_batch("grpc-append").await;
}

#[tokio::test]
async fn rest_append_commits_every_acked_batch() {
    appends_every_acked_batch("rest-append").await;
}

#[tokio::test]
async fn appending_without_the_write_token_fails_every_request_by_status() {
    let store = TestStore::sqlite("1", 10).await;
    let server = store.serve().await;
    let report = run_one(opts(&server, "grpc-append", &["--user-id", "1"])).await;
    assert_eq!(report.requests_ok, 0, "{report:#?}");
    let (kind, detail) = report.first_errors.iter().next().expect("a failure");
    assert_eq!(kind.to_string(), "grpc PERMISSION_DENIED", "{detail}");
    assert!(detail.contains("--write-token"), "{detail}");
    assert_eq!(store.rows("recommendations").await, 10);
}
