//! Both services' `/metrics` pages after real runs, read with a real
//! Prometheus text parser: the counters move by exactly what happened, and
//! every metric the Grafana dashboard charts exists.

use std::time::Duration;

use bookstream_testkit::metrics::{scrape, value};
use prometheus_parse::Scrape;
use reqwest::StatusCode;

use crate::{
    proxy::CuttingProxy,
    support::{TestServer, TestStore, server_config, spawn_client, spawn_server},
};

const RECOMMEND_OK: [(&str, &str); 2] = [("grpc_method", "Recommend"), ("grpc_code", "OK")];

/// The server's page once its stream has been counted (a moment after the
/// client has its last book, when h2 drops the stream).
async fn server_scrape_after(server: &TestServer, streams_ended: f64) -> Scrape {
    let url = format!("http://{}/metrics", server.rest_addr);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let scrape = scrape(&url).await;
        let ended = value(
            &scrape,
            "grpc_server_handled_total",
            &[("grpc_method", "Recommend")],
        );
        if ended >= streams_ended {
            return scrape;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{ended} streams counted"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_run_of_1000_books_moves_both_pages_by_exactly_that() {
    let server = spawn_server().await;
    let client = spawn_client(&server.url()).await;
    let (status, body) = client.get_json("/1000").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let runs = scrape(&client.url("/metrics")).await;
    assert_eq!(
        value(&runs, "bookstream_runs_total", &[("outcome", "complete")]),
        1.0
    );
    assert_eq!(value(&runs, "bookstream_runs_total", &[]), 1.0);
    assert_eq!(value(&runs, "bookstream_books_received_total", &[]), 1000.0);
    assert_eq!(value(&runs, "bookstream_run_retries_total", &[]), 0.0);
    assert_eq!(value(&runs, "bookstream_run_duration_seconds", &[]), 1.0);
    assert_eq!(
        value(
            &runs,
            "bookstream_upstream_healthy",
            &[("server", &server.url())]
        ),
        1.0
    );

    let served = server_scrape_after(&server, 1.0).await;
    assert_eq!(
        value(&served, "grpc_server_handled_total", &RECOMMEND_OK),
        1.0
    );
    assert_eq!(
        value(
            &served,
            "grpc_server_msg_sent_total",
            &[("grpc_method", "Recommend")]
        ),
        1000.0
    );
    assert_eq!(
        value(
            &served,
            "bookstream_books_sent_total",
            &[("transport", "grpc")]
        ),
        1000.0
    );
    assert_eq!(value(&served, "bookstream_active_streams", &[]), 0.0);
}

#[tokio::test]
async fn retries_and_a_partial_run_are_counted() {
    let server = spawn_server().await;
    // Cut five times: three resumptions, then the run gives up.
    let proxy = CuttingProxy::start(server.grpc_addr, &[100_000; 5]).await;
    let client = spawn_client(&proxy.url()).await;
    let (status, body) = client.get_json("/50000").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");

    let runs = scrape(&client.url("/metrics")).await;
    assert_eq!(
        value(&runs, "bookstream_runs_total", &[("outcome", "partial")]),
        1.0
    );
    assert_eq!(value(&runs, "bookstream_run_retries_total", &[]), 3.0);
    assert_eq!(
        value(&runs, "bookstream_books_received_total", &[]),
        body["received"].as_f64().unwrap()
    );
}

/// The metric names a PromQL expression mentions.
fn metric_names(expr: &str) -> Vec<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|token| {
            ["bookstream_", "grpc_server_", "http_request"]
                .iter()
                .any(|prefix| token.starts_with(prefix))
        })
        .map(|name| {
            // Histograms are parsed under their base name.
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(name)
                .to_owned()
        })
        .collect()
}

fn exprs(value: &serde_json::Value, found: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(fields) => {
            for (key, field) in fields {
                match (key.as_str(), field) {
                    ("expr", serde_json::Value::String(expr)) => found.push(expr.clone()),
                    _ => exprs(field, found),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|item| exprs(item, found)),
        _ => {}
    }
}

#[tokio::test]
async fn every_metric_the_dashboard_charts_exists_in_a_real_scrape() {
    let dashboard_path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/grafana/bookstream.json"
    );
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dashboard_path).unwrap()).unwrap();
    let mut queries = Vec::new();
    exprs(&dashboard, &mut queries);
    let names: Vec<String> = queries.iter().flat_map(|expr| metric_names(expr)).collect();
    assert!(names.len() >= 10, "the dashboard charts {names:?}");

    // Traffic that makes every family show: a store (page reads), a complete
    // run, a failed one, and a REST answer.
    let store = TestStore::sqlite("1", 2000).await;
    let server = store.serve_with(server_config()).await;
    let client = spawn_client(&server.url()).await;
    assert_eq!(client.get_json("/2000").await.0, StatusCode::OK);
    assert_eq!(
        client.get_json("/5?user_id=404").await.0,
        StatusCode::NOT_FOUND
    );
    let rest = format!(
        "http://{}/recommendations?user_id=1&max_results=3",
        server.rest_addr
    );
    assert_eq!(reqwest::get(rest).await.unwrap().status(), 200);
    let served = server_scrape_after(&server, 2.0).await;
    let runs = scrape(&client.url("/metrics")).await;

    for name in names {
        let exists = |scrape: &Scrape| scrape.samples.iter().any(|sample| sample.metric == name);
        assert!(
            exists(&served) || exists(&runs),
            "the dashboard charts {name}, which no /metrics has"
        );
    }
}
