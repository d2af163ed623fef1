//! `GET /metrics` on the REST listener, read with a real Prometheus text
//! parser: the counters move by exactly what happened, under the labels
//! conventional dashboards expect.

use std::time::Duration;

use bookstream::RecommendationRequest;
use bookstream_testkit::metrics::{self, value};
use prometheus_parse::Scrape;
use tonic::Code;

use crate::support::{TestServer, TestStore, collect, request, spawn_server};

/// The server's metrics, parsed.
pub(crate) async fn scrape(server: &TestServer) -> Scrape {
    metrics::scrape(&server.rest_url("/metrics")).await
}

const RECOMMEND: [(&str, &str); 3] = [
    ("grpc_type", "server_stream"),
    ("grpc_service", bookstream::pb::names::SERVICE),
    ("grpc_method", "Recommend"),
];

fn recommend_with(code: &'static str) -> [(&'static str, &'static str); 4] {
    [
        RECOMMEND[0],
        RECOMMEND[1],
        RECOMMEND[2],
        ("grpc_code", code),
    ]
}

/// Polls the metrics until `name{labels}` reaches `expected`: a stream is
/// counted when h2 drops it, a moment after its caller left.
async fn wait_for(
    server: &TestServer,
    name: &str,
    labels: &[(&str, &str)],
    expected: f64,
) -> Scrape {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let scrape = scrape(server).await;
        if value(&scrape, name, labels) == expected {
            return scrape;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name}{labels:?} = {}, expected {expected}",
            value(&scrape, name, labels)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_stream_of_1000_books_moves_every_counter_by_exactly_that() {
    let server = spawn_server().await;
    assert_eq!(
        collect(server.stream(request(1, 1000)).await).await.len(),
        1000
    );

    let scrape = wait_for(
        &server,
        "grpc_server_handled_total",
        &recommend_with("OK"),
        1.0,
    )
    .await;
    assert_eq!(value(&scrape, "grpc_server_started_total", &RECOMMEND), 1.0);
    assert_eq!(
        value(&scrape, "grpc_server_msg_sent_total", &RECOMMEND),
        1000.0
    );
    assert_eq!(
        value(&scrape, "grpc_server_handling_seconds", &RECOMMEND),
        1.0
    );
    assert_eq!(
        value(
            &scrape,
            "bookstream_books_sent_total",
            &[("transport", "grpc")]
        ),
        1000.0
    );
    assert_eq!(value(&scrape, "bookstream_active_streams", &[]), 0.0);
    // Every family says what it is.
    for name in [
        "grpc_server_started",
        "grpc_server_handled",
        "bookstream_books_sent",
        "bookstream_active_streams",
    ] {
        let help = scrape
            .docs
            .get(name)
            .unwrap_or_else(|| panic!("no HELP for {name}"));
        assert!(help.len() > 20, "{name}: {help}");
    }
}

#[tokio::test]
async fn failed_rpcs_are_counted_under_their_codes() {
    let store = TestStore::sqlite("1", 3000).await;
    let server = store.serve().await;

    // A bad request.
    let status = server.refusal(request(1, 0)).await;
    assert_eq!(status.code(), Code::InvalidArgument);
    // A user the store does not have.
    let status = server.refusal(request(9, 10)).await;
    assert_eq!(status.code(), Code::NotFound);
    // A stream its caller leaves mid-way.
    let mut stream = server.stream(request(1, 3000)).await;
    for _ in 0..10 {
        stream.message().await.unwrap().unwrap();
    }
    drop(stream);

    let scrape = wait_for(
        &server,
        "grpc_server_handled_total",
        &recommend_with("Canceled"),
        1.0,
    )
    .await;
    assert_eq!(
        value(
            &scrape,
            "grpc_server_handled_total",
            &recommend_with("InvalidArgument")
        ),
        1.0
    );
    assert_eq!(
        value(
            &scrape,
            "grpc_server_handled_total",
            &recommend_with("NotFound")
        ),
        1.0
    );
    assert_eq!(
        value(&scrape, "grpc_server_handled_total", &recommend_with("OK")),
        0.0
    );
    assert_eq!(value(&scrape, "grpc_server_started_total", &RECOMMEND), 3.0);
    assert_eq!(value(&scrape, "bookstream_active_streams", &[]), 0.0);
    // Page reads from the store were timed.
    assert!(value(&scrape, "bookstream_catalog_read_seconds", &[]) >= 1.0);
}

#[tokio::test]
async fn rest_answers_are_counted_by_route_and_status() {
    let server = spawn_server().await;
    for path in [
        "/recommendations?max_results=20",
        "/recommendations/stream?max_results=30",
        "/recommendations?max_results=0",
    ] {
        reqwest::get(server.rest_url(path))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
    }
    let route = |route, status| [("route", route), ("status", status)];
    let scrape = wait_for(
        &server,
        "bookstream_books_sent_total",
        &[("transport", "ndjson")],
        30.0,
    )
    .await;
    assert_eq!(
        value(
            &scrape,
            "http_requests_total",
            &route("/recommendations", "200")
        ),
        1.0
    );
    assert_eq!(
        value(
            &scrape,
            "http_requests_total",
            &route("/recommendations", "400")
        ),
        1.0
    );
    assert_eq!(
        value(
            &scrape,
            "http_requests_total",
            &route("/recommendations/stream", "200")
        ),
        1.0
    );
    assert_eq!(
        value(
            &scrape,
            "http_request_duration_seconds",
            &route("/recommendations", "200")
        ),
        1.0
    );
    assert_eq!(
        value(
            &scrape,
            "bookstream_books_sent_total",
            &[("transport", "json")]
        ),
        20.0
    );
}

#[tokio::test]
async fn unary_answers_count_one_message_each() {
    let server = spawn_server().await;
    let resumed = RecommendationRequest {
        user_id: 1,
        max_results: 50,
        start_at: 20,
        ..Default::default()
    };
    let answer = server.grpc().await.recommend_batch(resumed).await.unwrap();
    assert_eq!(answer.into_inner().books.len(), 30);
    let batch = [("grpc_type", "unary"), ("grpc_method", "RecommendBatch")];
    let scrape = scrape(&server).await;
    assert_eq!(value(&scrape, "grpc_server_msg_sent_total", &batch), 1.0);
    assert_eq!(
        value(
            &scrape,
            "bookstream_books_sent_total",
            &[("transport", "batch")]
        ),
        30.0
    );
}

#[tokio::test]
async fn switched_off_there_is_no_metrics_page() {
    let server = crate::support::spawn_server_with(bookstream_server::ServerConfig {
        metrics: false,
        ..crate::support::config()
    })
    .await;
    let response = reqwest::get(server.rest_url("/metrics")).await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(collect(server.stream(request(1, 10)).await).await.len(), 10);
}
