//! Failures are counted by what went wrong: status codes, gRPC codes,
//! timeouts and broken connections each under their own kind.

use std::time::Duration;

use axum::{Router, routing::get};
use bookstream_loadtest::outcome::FailureKind;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::support::{BOOKS, TestServer, config, opts, run_one, spawn_server_with};

/// A real server that refuses the test's book count as above its cap.
async fn spawn_capped_server() -> TestServer {
    spawn_server_with(bookstream_server::ServerConfig {
        max_results: BOOKS - 1,
        ..config()
    })
    .await
}

fn only_failure_kind(report: &bookstream_loadtest::report::ScenarioReport) -> FailureKind {
    assert_eq!(report.requests_ok, 0, "{report:#?}");
    assert!(report.requests_failed > 0, "{report:#?}");
    let kinds: Vec<_> = report.failures.keys().copied().collect();
    assert_eq!(kinds.len(), 1, "{report:#?}");
    kinds[0]
}

#[tokio::test]
async fn a_refused_rest_request_counts_under_its_http_status() {
    let server = spawn_capped_server().await;
    let report = run_one(opts(&server, "rest", &[])).await;
    assert_eq!(only_failure_kind(&report), FailureKind::HttpStatus(400));
    let detail = &report.first_errors[&FailureKind::HttpStatus(400)];
    assert!(detail.contains("above this server's limit"), "{detail}");
}

#[tokio::test]
async fn a_refused_grpc_request_counts_under_its_grpc_code() {
    let server = spawn_capped_server().await;
    let report = run_one(opts(&server, "grpc-stream", &[])).await;
    assert_eq!(
        only_failure_kind(&report),
        FailureKind::GrpcStatus(tonic::Code::InvalidArgument)
    );
}

#[tokio::test]
async fn a_closed_port_counts_as_a_transport_failure() {
    // Bound and released at once: nothing listens there any more.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let server = TestServer::stand_in(addr, addr, CancellationToken::new());
    for scenario in ["rest", "grpc-unary"] {
        let report = run_one(opts(
            &server,
            scenario,
            &["--run-time", "300ms", "--users", "1"],
        ))
        .await;
        assert_eq!(
            only_failure_kind(&report),
            FailureKind::Transport,
            "{scenario}"
        );
    }
}

#[tokio::test]
async fn an_answer_that_never_comes_is_a_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let never = Router::new().route(
        "/recommendations",
        get(std::future::pending::<&'static str>),
    );
    let stop = CancellationToken::new();
    let stopped = stop.clone().cancelled_owned();
    tokio::spawn(async move {
        axum::serve(listener, never)
            .with_graceful_shutdown(stopped)
            .await
    });
    let server = TestServer::stand_in(addr, addr, stop);
    let report = run_one(opts(
        &server,
        "rest",
        &["--timeout", "200ms", "--run-time", "1s", "--users", "1"],
    ))
    .await;
    assert_eq!(only_failure_kind(&report), FailureKind::Timeout);
    // One user, 200 ms per attempt, one second: about five attempts, the last maybe cut.
    assert!((4..=5).contains(&report.requests_failed), "{report:#?}");
    assert!(Duration::from_secs_f64(report.elapsed_s) >= Duration::from_secs(1));
}
