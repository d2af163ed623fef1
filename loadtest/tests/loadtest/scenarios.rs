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

#[tokio::test]
async fn a_server_closing_every_connection_after_answering_costs_no_failures() {
    use axum::{http::header, middleware::map_response, response::Response};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = crate::support::config();
    let streams = bookstream_server::streams::StreamGauge::new(config.max_streams as usize);
    let catalog = bookstream_server::source::Catalog::generated();
    let health = bookstream_server::health::CatalogHealth::always_serving();
    let parts = bookstream_server::rest::RestParts {
        pipeline: bookstream_server::pipeline::Pipeline::new(
            config.limits(),
            streams,
            bookstream_server::one_shot::OneShotGate::new(config.max_one_shot as usize),
            catalog,
            None,
        ),
        appender: bookstream_server::ingest::Appender::off(),
        writes: Default::default(),
        max_append_body_bytes: config.max_append_body_bytes(),
        health,
        metrics: None,
        token: Default::default(),
    };
    let closing = bookstream_server::rest::app(parts).layer(map_response(
        |mut response: Response| async move {
            let close = header::HeaderValue::from_static("close");
            response.headers_mut().insert(header::CONNECTION, close);
            response
        },
    ));
    let stop = tokio_util::sync::CancellationToken::new();
    let stopped = stop.clone().cancelled_owned();
    tokio::spawn(async move {
        axum::serve(listener, closing)
            .with_graceful_shutdown(stopped)
            .await
    });
    let server = crate::support::TestServer::stand_in(addr, addr, stop);
    for scenario in ["rest", "rest-stream"] {
        let report = run_one(opts(&server, scenario, &["--run-time", "500ms"])).await;
        assert!(report.requests_ok > 0, "{report:#?}");
        assert_eq!(report.requests_failed, 0, "{:?}", report.first_errors);
    }
}
