//! Each scenario against the real server: answers verified, counted, no failures.

use crate::support::{BOOKS, opts, run_one, spawn_server};

async fn a_clean_run_of(scenario: &str) {
    let server = spawn_server().await;
    let report = run_one(opts(&server, scenario, &[])).await;
    assert!(report.requests_ok > 0, "{report:#?}");
    assert_eq!(report.requests_failed, 0, "{report:#?}");
    assert!(report.failures.is_empty(), "{:?}", report.first_errors);
    let expected_books = report.requests_ok as f64 * BOOKS as f64 / report.elapsed_s;
    assert!(
        (report.books_per_s - expected_books).abs() < 1.0,
        "{report:#?}"
    );
    assert!(
        report.response_bytes_per_s > report.books_per_s * 20.0,
        "{report:#?}"
    );
    let latency = report.latency_ms.unwrap();
    assert!(latency.min <= latency.p50 && latency.p50 <= latency.max);
    if scenario.ends_with("stream") {
        assert!(report.first_book_ms.is_some(), "{report:#?}");
        assert!(report.stream_books_per_s.is_some(), "{report:#?}");
    } else {
        assert!(report.first_book_ms.is_none());
    }
}

#[tokio::test]
async fn rest_json_arrays_are_verified_and_counted() {
    a_clean_run_of("rest").await;
}

#[tokio::test]
async fn grpc_unary_answers_are_verified_and_counted() {
    a_clean_run_of("grpc-unary").await;
}

#[tokio::test]
async fn grpc_streams_are_consumed_verified_and_timed() {
    a_clean_run_of("grpc-stream").await;
}

#[tokio::test]
async fn ndjson_streams_are_consumed_verified_and_timed() {
    a_clean_run_of("rest-stream").await;
}
